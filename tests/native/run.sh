#!/usr/bin/env bash
# Compiles the C ABI test with gcc against the native library and runs it (build the library first with
# src/Rope.Simd.Native/build.sh). ROPE_SIMD_LEVEL picks the engine build as for any caller;
# ROPE_SIMD_EXPECTED_PATH is the path the loaded engine must report. The README's C example is compiled and run first
# (exactly as written there), so it keeps working.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
native=${ROPE_SIMD_NATIVE_DIR:-$root/out/native/linux-x64}
sed -n '/<!-- c-sample:begin -->/,/<!-- c-sample:end -->/p' "$root/README.md" | sed '1,2d;$d' | sed '$d' > "$native/readme_example.c"
gcc -std=gnu11 -Wall -Wextra -Werror -I"$native" "$native/readme_example.c" -L"$native" -lrope_simd -Wl,-rpath,"$native" -o "$native/readme_example"
"$native/readme_example"
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -I"$native" "$root/tests/native/test_rope_simd.c" \
  -L"$native" -lrope_simd -Wl,-rpath,"$native" -lm -lpthread -o "$native/test_rope_simd"
exec "$native/test_rope_simd" "$root/tests/Rope.Simd.Tests/Golden"
