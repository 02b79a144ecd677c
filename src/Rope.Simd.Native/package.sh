#!/usr/bin/env bash
# Makes the native release archives: out/release/rope-simd-native-VERSION-RID.tar.gz (and .sha256) for each RID,
# each holding include/rope_simd.h, lib/ (the loader librope_simd.so and the engine builds it picks from),
# example.c, README.md and LICENSE.
#   package.sh [--reuse] [RID...]   RIDs: linux-x64 and linux-arm64 (the default: both)
# --reuse takes an existing build from out/native/RID instead of running build.sh. The archives are reproducible:
# names sorted, owner root, time stamps at the commit's time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

reuse=false
if [ "${1:-}" = --reuse ]; then reuse=true; shift; fi
rids=("$@")
[ ${#rids[@]} -gt 0 ] || rids=(linux-x64 linux-arm64)

version=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' "$root/Directory.Build.props")
stamp=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
release=$root/out/release
mkdir -p "$release"

for rid in "${rids[@]}"; do
  case "$rid" in
    linux-x64) engines=(librope_simd_x86_64_v2.so librope_simd_x86_64_v3.so librope_simd_x86_64_v4.so) ;;
    linux-arm64) engines=(librope_simd_arm64.so) ;;
    *) echo "package.sh: unknown runtime identifier $rid (linux-x64 or linux-arm64)" >&2; exit 2 ;;
  esac
  built=$root/out/native/$rid
  if ! $reuse || [ ! -e "$built/librope_simd.so" ]; then
    bash "$here/build.sh" "$rid" "$built"
  fi

  name=rope-simd-native-$version-$rid
  staging=$(mktemp -d)
  mkdir -p "$staging/$name/include" "$staging/$name/lib"
  cp "$built/rope_simd.h" "$staging/$name/include/"
  for file in librope_simd.so "${engines[@]}"; do
    cp "$built/$file" "$staging/$name/lib/"
  done
  # The documented C example, as the tests compile it.
  sed -n '/<!-- c-sample:begin -->/,/<!-- c-sample:end -->/p' "$root/docs/native.md" | sed '1,2d;$d' | sed '$d' > "$staging/$name/example.c"
  cp "$root/LICENSE" "$staging/$name/"
  glibc=$(readelf --dyn-syms -W "$staging/$name/lib/"*.so | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  {
    echo "# Rope.Simd native library $version for $rid"
    echo
    echo "Rotary position embeddings for C and C++ (see https://github.com/rope-simd/Rope.Simd/blob/main/docs/native.md)."
    echo
    echo "- \`include/rope_simd.h\`: the API; every function returns a status, \`rope_simd_last_error()\` says why."
    echo "- \`lib/librope_simd.so\`: link against this one. On first use it loads the engine build this CPU runs from"
    echo "  its own directory, so keep every file of \`lib/\` together: $(printf '`%s` ' "${engines[@]}")"
    if [ "$rid" = linux-x64 ]; then
      echo "  (x86-64-v2 = SSE4.2, v3 = AVX2 + FMA, v4 = AVX-512; \`ROPE_SIMD_LEVEL=v2|v3|v4\` picks one on purpose)."
    else
      echo "  (NEON)."
    fi
    echo "- \`example.c\`: a decode step of LLaMA-3-8B's queries and keys. Build and run it from this folder:"
    echo
    echo '```bash'
    echo 'gcc -Iinclude example.c -Llib -lrope_simd -Wl,-rpath,"$PWD/lib" -o example && ./example'
    echo '```'
    echo
    echo "Needs glibc $glibc or later (the newest symbol version the libraries import). Licence: MIT (LICENSE)."
  } > "$staging/$name/README.md"
  tar -C "$staging" --sort=name --mtime="@$stamp" --owner=0 --group=0 --numeric-owner -cf - "$name" | gzip -n > "$release/$name.tar.gz"
  (cd "$release" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
  rm -rf "$staging"
  echo "release archive: $release/$name.tar.gz"
done
