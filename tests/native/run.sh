#!/usr/bin/env bash
# Compiles the C ABI test with gcc against the native library and runs it (build the library first with
# src/Rope.Simd.Native/build.sh [RID]). ROPE_SIMD_NATIVE_RID=linux-arm64 cross-compiles with aarch64-linux-gnu-gcc
# and runs under qemu user-mode emulation (tests/arm64/setup.sh installs both). ROPE_SIMD_LEVEL picks the engine build
# as for any caller; ROPE_SIMD_EXPECTED_PATH is the path the loaded engine must report. rope_simd.h is first compiled on its
# own as C99 and C++17 (tests/native/header_check.c), then the C example of docs/native.md is compiled and run, exactly
# as written there, so it keeps working.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rid=${ROPE_SIMD_NATIVE_RID:-linux-x64}
native=${ROPE_SIMD_NATIVE_DIR:-$root/out/native/$rid}
case "$rid" in
  linux-x64) compiler=gcc; runner=() ;;
  linux-arm64) compiler=aarch64-linux-gnu-gcc; runner=(qemu-aarch64-static) ;;
  *) echo "unknown ROPE_SIMD_NATIVE_RID $rid" >&2; exit 2 ;;
esac

# The header alone, as C99 (pedantic) and as C++17, warnings as errors, and its inline helper run under UBSan with
# hostile sizes (host compilers: the helper needs no library). clang++ checks it too where it is installed.
header=(-I"$root/src/Rope.Simd.Native/include" "$root/tests/native/header_check.c")
gcc -std=c99 -Wall -Wextra -Werror -pedantic "${header[@]}" -o "$native/header_check_c"
"$native/header_check_c"
g++ -std=c++17 -Wall -Wextra -Werror -fsanitize=undefined -fno-sanitize-recover=all -x c++ "${header[@]}" -o "$native/header_check_cpp"
"$native/header_check_cpp"
if command -v clang++-14 >/dev/null; then
  clang++-14 -std=c++17 -Wall -Wextra -Werror -fsyntax-only -x c++ "${header[@]}"
fi

sed -n '/<!-- c-sample:begin -->/,/<!-- c-sample:end -->/p' "$root/docs/native.md" | sed '1,2d;$d' | sed '$d' > "$native/readme_example.c"
"$compiler" -std=gnu11 -Wall -Wextra -Werror -I"$native" "$native/readme_example.c" -L"$native" -lrope_simd \
  -Wl,-rpath,"$native" -o "$native/readme_example"
"${runner[@]}" "$native/readme_example"
"$compiler" -O2 -std=gnu11 -Wall -Wextra -Werror -I"$native" "$root/tests/native/test_rope_simd.c" \
  -L"$native" -lrope_simd -Wl,-rpath,"$native" -lm -lpthread -o "$native/test_rope_simd"
exec "${runner[@]}" "$native/test_rope_simd" "$root/tests/Rope.Simd.Tests/Golden"
