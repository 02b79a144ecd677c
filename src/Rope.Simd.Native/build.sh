#!/usr/bin/env bash
# Builds the native library. Needs the .NET 10 SDK and gcc (NativeAOT links with it when clang is absent).
#   build.sh [linux-x64] [OUT]  -> OUT (default out/native/linux-x64):
#       librope_simd_x86_64_v{2,3,4}.so  the engine, published with NativeAOT once per x86-64 level
#       librope_simd.so                  the loader to link against: picks the level this CPU runs on first use
#   build.sh linux-arm64 [OUT]  -> OUT (default out/native/linux-arm64), cross-built with Debian's gcc-aarch64-linux-gnu:
#       librope_simd_arm64.so and the loader librope_simd.so
# and rope_simd.h beside them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rid=${1:-linux-x64}
out=${2:-$root/out/native/$rid}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# publish LEVEL_NAME FILE [MSBUILD PROPERTIES...]: one NativeAOT build of the engine, in its own artifacts tree so no
# level's native code is ever reused for another.
publish() {
  local name=$1 file=$2; shift 2
  local staging; staging=$(mktemp -d)
  dotnet publish "$here/Rope.Simd.Native.csproj" -c Release -r "$rid" --nologo -v quiet \
    --artifacts-path "$root/out/build/$rid-$name" -o "$staging" "$@"
  cp "$staging/rope_simd_managed.so" "$out/$file"
  rm -rf "$staging"
}

case "$rid" in
  linux-x64)
    for level in v2 v3 v4; do
      publish "$level" "librope_simd_x86_64_$level.so" -p:IlcInstructionSet=x86-64-$level
    done
    compiler=gcc
    ;;
  linux-arm64)
    publish arm64 librope_simd_arm64.so -p:CppCompilerAndLinker="$here/cross/aarch64-linux-gnu-gcc.sh" -p:ObjCopyName=aarch64-linux-gnu-objcopy
    compiler=aarch64-linux-gnu-gcc
    ;;
  *)
    echo "build.sh: unknown runtime identifier $rid (linux-x64 or linux-arm64)" >&2
    exit 2
    ;;
esac

"$compiler" -O2 -Wall -Wextra -Werror -fPIC -shared -I"$here/include" -o "$out/librope_simd.so" "$here/loader/rope_simd_loader.c" -ldl -lpthread
cp "$here/include/rope_simd.h" "$out/"
echo "native library: $out"
