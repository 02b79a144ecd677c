#!/usr/bin/env bash
# Builds the native library (unless out/native/linux-x64 already has it), compiles the C benchmark against it and
# runs it: per-call cost of the C ABI from C, and float32 prefill against the same-bytes limit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
native=${ROPE_SIMD_NATIVE_DIR:-$root/out/native/linux-x64}
[ -f "$native/librope_simd.so" ] || bash "$root/src/Rope.Simd.Native/build.sh" "$native"
gcc -O3 -march=native -std=gnu11 -Wall -Wextra -Werror -I"$native" "$root/bench/native/bench_rope_simd.c" \
  -L"$native" -lrope_simd -Wl,-rpath,"$native" -o "$native/bench_rope_simd"
exec "$native/bench_rope_simd"
