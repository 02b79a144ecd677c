#!/usr/bin/env bash
# Builds the native library (unless out/native/linux-x64 already has it), compiles the C benchmark against it, runs it
# and keeps the result in artifacts/native/<cpu>-<path>.md. ROPE_SIMD_LEVEL picks the engine build as for any caller.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
native=${ROPE_SIMD_NATIVE_DIR:-$root/out/native/linux-x64}
[ -f "$native/librope_simd.so" ] || bash "$root/src/Rope.Simd.Native/build.sh" "$native"
gcc -O3 -march=native -std=gnu11 -Wall -Wextra -Werror -I"$native" "$root/bench/native/bench_rope_simd.c" \
  -L"$native" -lrope_simd -Wl,-rpath,"$native" -o "$native/bench_rope_simd"
result=$(mktemp)
"$native/bench_rope_simd" | tee "$result"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/([^)]*)//g; s/[^A-Za-z0-9]\+/-/g; s/^-//; s/-$//')
path=$(sed -n 's/.*engine path \([A-Za-z0-9]*\).*/\1/p' "$result" | head -1)
mkdir -p "$root/artifacts/native"
{ echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; $(date -u +%F)"; echo; cat "$result"; } \
  > "$root/artifacts/native/$cpu-$path.md"
rm -f "$result"
echo "saved artifacts/native/$cpu-$path.md"
