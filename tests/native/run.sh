#!/usr/bin/env bash
# Compiles the C ABI test with gcc against the native library and runs it (build the library first with
# src/Rope.Simd.Native/build.sh). ROPE_SIMD_LEVEL picks the engine build as for any caller;
# ROPE_SIMD_EXPECTED_PATH is the path the loaded engine must report.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
native=${ROPE_SIMD_NATIVE_DIR:-$root/out/native/linux-x64}
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -I"$native" "$root/tests/native/test_rope_simd.c" \
  -L"$native" -lrope_simd -Wl,-rpath,"$native" -lm -lpthread -o "$native/test_rope_simd"
exec "$native/test_rope_simd" "$root/tests/Rope.Simd.Tests/Golden"
