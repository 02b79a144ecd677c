#!/usr/bin/env bash
# Builds the native library for linux-x64 into out/native/linux-x64 (or the directory given as $1):
#   librope_simd_x86_64_v{2,3,4}.so  the engine, published with NativeAOT once per x86-64 level
#   librope_simd.so                  the loader to link against: picks the level this CPU runs on first use
#   rope_simd.h                      the header
# Needs the .NET 10 SDK and gcc (NativeAOT links with it when clang is absent).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/out/native/linux-x64}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for level in v2 v3 v4; do
  publish=$(mktemp -d)
  # Each level builds in its own artifacts tree, so one level's native code is never reused for another.
  dotnet publish "$here/Rope.Simd.Native.csproj" -c Release -r linux-x64 --nologo -v quiet \
    -p:IlcInstructionSet=x86-64-$level --artifacts-path "$root/out/build/$level" -o "$publish"
  cp "$publish/rope_simd_managed.so" "$out/librope_simd_x86_64_$level.so"
  rm -rf "$publish"
done

gcc -O2 -Wall -Wextra -Werror -fPIC -shared -I"$here/include" -o "$out/librope_simd.so" "$here/loader/rope_simd_loader.c" -ldl -lpthread
cp "$here/include/rope_simd.h" "$out/"
echo "native library: $out"
