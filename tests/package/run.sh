#!/usr/bin/env bash
# What a consumer of the package and of the native archives gets, checked from outside the repository:
#   - `dotnet pack` (ContinuousIntegrationBuild) is warning-free and gives a .nupkg with licence, readme, repository,
#     tags, the buildTransitive targets, and a .snupkg with the pdb; a second pack from a copy of the tree at another
#     path gives the same DLL, byte for byte; the satellites (Rope.Simd.Tensors, Rope.Simd.Models) pack warning-free
#     with their dependencies, readme, licence and symbols;
#   - a fresh console project installs the package from a local folder feed and runs the README's quick start, and
#     another installs Rope.Simd.Models alone and runs its package readme's sample;
#   - a NativeAOT publish for linux-x64 without an instruction set is warned (ROPESIMD001) and runs Vector128, one
#     with -p:IlcInstructionSet=native is not warned and runs the CPU's widest path;
#   - src/Rope.Simd.Native/package.sh makes the release archives, and the C example builds and runs from the x64 one;
#   - the benchmark report draws its chart.
# Needs gcc (NativeAOT links with it). Prints "total: N, failed: N, succeeded: N, skipped: 0".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' "$root/Directory.Build.props")
total=0 failed=0

# check NAME COMMAND...: one test; its output is shown only when it fails.
check() {
  local name=$1; shift
  total=$((total + 1))
  local log="$work/check.log"
  if "$@" > "$log" 2>&1; then
    echo "passed: $name"
  else
    failed=$((failed + 1))
    echo "FAILED: $name"
    tail -40 "$log" | sed 's/^/    /'
  fi
}

pack() { # pack SOURCE_ROOT FEED
  dotnet pack "$1/src/Rope.Simd" -c Release -o "$2" -p:ContinuousIntegrationBuild=true --nologo > "$2.log" 2>&1 || { cat "$2.log"; return 1; }
  if grep -E "warning [A-Z]+[0-9]+" "$2.log"; then return 1; fi
}
feed=$work/feed
check "dotnet pack is warning-free" pack "$root" "$feed"
nupkg=$feed/Rope.Simd.$version.nupkg snupkg=$feed/Rope.Simd.$version.snupkg

nuspec_has() { unzip -p "$nupkg" Rope.Simd.nuspec | grep -- "$1" || { echo "the nuspec lacks $1"; unzip -p "$nupkg" Rope.Simd.nuspec; return 1; }; }
package_has() { unzip -l "$1" | grep " $2\$" || { echo "$1 lacks $2"; unzip -l "$1"; return 1; }; }
check "nuspec: licence expression MIT" nuspec_has '<license type="expression">MIT</license>'
check "nuspec: readme" nuspec_has '<readme>README.md</readme>'
check "nuspec: repository with commit" nuspec_has '<repository type="git" url="https://github.com/rope-simd/Rope.Simd" .*commit="[0-9a-f]\{40\}"'
check "nuspec: tags" nuspec_has '<tags>.*rope.*simd.*</tags>'
check "nuspec: version $version" nuspec_has "<version>$version</version>"
for file in LICENSE README.md lib/net10.0/Rope.Simd.dll lib/net10.0/Rope.Simd.xml buildTransitive/Rope.Simd.targets; do
  check "nupkg holds $file" package_has "$nupkg" "$file"
done
check "snupkg holds the pdb" package_has "$snupkg" lib/net10.0/Rope.Simd.pdb

# The TensorSpan satellite: its own package, depending on Rope.Simd of the same version and System.Numerics.Tensors.
pack_tensors() {
  dotnet pack "$root/src/Rope.Simd.Tensors" -c Release -o "$feed" -p:ContinuousIntegrationBuild=true --nologo > "$work/tensors.log" 2>&1 || { cat "$work/tensors.log"; return 1; }
  if grep -E "warning [A-Z]+[0-9]+" "$work/tensors.log"; then return 1; fi
  local tensors=$feed/Rope.Simd.Tensors.$version.nupkg
  unzip -p "$tensors" Rope.Simd.Tensors.nuspec | tee "$work/tensors.nuspec" > /dev/null
  grep "<dependency id=\"Rope.Simd\" version=\"$version\"" "$work/tensors.nuspec" && grep '<dependency id="System.Numerics.Tensors"' "$work/tensors.nuspec" &&
    grep '<license type="expression">MIT</license>' "$work/tensors.nuspec" && package_has "$tensors" README.md && package_has "$tensors" LICENSE &&
    package_has "$feed/Rope.Simd.Tensors.$version.snupkg" lib/net10.0/Rope.Simd.Tensors.pdb
}
check "Rope.Simd.Tensors packs warning-free with its dependencies, readme, licence and symbols" pack_tensors

# The model satellite: its own package, depending on Rope.Simd of the same version and nothing else.
pack_models() {
  dotnet pack "$root/src/Rope.Simd.Models" -c Release -o "$feed" -p:ContinuousIntegrationBuild=true --nologo > "$work/models.log" 2>&1 || { cat "$work/models.log"; return 1; }
  if grep -E "warning [A-Z]+[0-9]+" "$work/models.log"; then return 1; fi
  local models=$feed/Rope.Simd.Models.$version.nupkg
  unzip -p "$models" Rope.Simd.Models.nuspec | tee "$work/models.nuspec" > /dev/null
  grep "<dependency id=\"Rope.Simd\" version=\"$version\"" "$work/models.nuspec" &&
    [ "$(grep -c '<dependency ' "$work/models.nuspec")" = 1 ] &&
    grep '<license type="expression">MIT</license>' "$work/models.nuspec" && package_has "$models" README.md && package_has "$models" LICENSE &&
    package_has "$models" lib/net10.0/Rope.Simd.Models.xml && package_has "$feed/Rope.Simd.Models.$version.snupkg" lib/net10.0/Rope.Simd.Models.pdb
}
check "Rope.Simd.Models packs warning-free with its one dependency, readme, licence and symbols" pack_models

# The same commit cloned at another path, built again: with ContinuousIntegrationBuild the DLL must not depend on
# where (commit first when trying this with uncommitted changes to src/).
other=$work/elsewhere/clone
same_dll() {
  git clone -q "$root" "$other" && pack "$other" "$work/feed2" || return 1
  cmp <(unzip -p "$nupkg" lib/net10.0/Rope.Simd.dll) <(unzip -p "$work/feed2/Rope.Simd.$version.nupkg" lib/net10.0/Rope.Simd.dll)
}
check "two packs at different paths give the same DLL" same_dll

# A fresh consumer: a new console project, the package from the folder feed, the README's quick start as Program.cs.
app=$work/app
consumer() {
  dotnet new console -o "$app" > /dev/null || return 1
  cat > "$app/nuget.config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="rope-simd-local" value="$feed" />
  </packageSources>
</configuration>
CONFIG
  # A package cached from an earlier pack of this version would hide this one.
  rm -rf "${NUGET_PACKAGES:-$HOME/.nuget/packages}/rope.simd/$version"
  awk '/^## Quick start/ {quick = 1} quick && /^```csharp/ {code = 1; next} code && /^```/ {exit} code' "$root/README.md" > "$app/Program.cs"
  (cd "$app" && dotnet add package Rope.Simd --version "$version" > /dev/null) || return 1
  dotnet run --project "$app" -c Release | tee "$work/run.txt"
  grep -q "q at  5010, k at 5007:    0.870   same distance, same score" "$work/run.txt"
}
check "a fresh project installs the package and runs the README quick start" consumer

# A fresh consumer of the model satellite alone (Rope.Simd comes with it): its package readme's sample as Program.cs.
models_app=$work/models-app
models_consumer() {
  dotnet new console -o "$models_app" > /dev/null || return 1
  cp "$app/nuget.config" "$models_app/nuget.config" || return 1
  rm -rf "${NUGET_PACKAGES:-$HOME/.nuget/packages}/rope.simd.models/$version"
  awk '/^```csharp/ {code = 1; next} code && /^```/ {exit} code' "$root/src/Rope.Simd.Models/PackageReadme.md" > "$models_app/Program.cs"
  echo 'Console.WriteLine($"{llama} {llama.ScalingType} {queries.Length} {table.PositionCount}");' >> "$models_app/Program.cs"
  (cd "$models_app" && dotnet add package Rope.Simd.Models --version "$version" > /dev/null) || return 1
  dotnet run --project "$models_app" -c Release | tee "$work/models-run.txt"
  grep -q "^Llama-3.1-8B llama3 65536 8192$" "$work/models-run.txt"
}
check "a fresh project installs Rope.Simd.Models and runs its readme sample" models_consumer

widest=$(dotnet run --project "$app" -c Release --no-build | sed -n 's/.*this CPU runs up to \(Vector[0-9]*\)).*/\1/p')
aot() { # aot NAME EXPECTED_PATH WARNED [PROPERTIES...]
  local name=$1 expected=$2 warned=$3; shift 3
  dotnet publish "$app" -c Release -r linux-x64 -p:PublishAot=true -o "$work/$name" "$@" > "$work/$name.log" 2>&1 || { cat "$work/$name.log"; return 1; }
  if grep -q ROPESIMD001 "$work/$name.log"; then
    grep -m1 ROPESIMD001 "$work/$name.log"
    [ "$warned" = yes ] || return 1
  else
    [ "$warned" = no ] || { echo "no ROPESIMD001 warning"; return 1; }
  fi
  "$work/$name/$(basename "$app")" | tee "$work/$name.txt"
  grep -q "^path $expected " "$work/$name.txt"
}
if [ "$(uname -m)" = x86_64 ]; then
  if [ "$widest" = Vector128 ]; then expect_warning=no; else expect_warning=yes; fi
  check "NativeAOT publish without an instruction set: warned where the CPU has more, runs Vector128" aot aot-default Vector128 "$expect_warning"
  check "NativeAOT publish with IlcInstructionSet=native: not warned, runs $widest" aot aot-native "$widest" no -p:IlcInstructionSet=native
fi

# The native release archives (reusing builds in out/native where .ci/run made them).
archives() {
  [ -n "$widest" ] || { echo "the consumer did not say which path this CPU runs"; return 1; }
  bash "$root/src/Rope.Simd.Native/package.sh" --reuse || return 1
  local x64=$root/out/release/rope-simd-native-$version-linux-x64.tar.gz arm64=$root/out/release/rope-simd-native-$version-linux-arm64.tar.gz
  tar -tzf "$x64" | tee "$work/x64.list"
  for file in include/rope_simd.h lib/librope_simd.so lib/librope_simd_x86_64_v2.so lib/librope_simd_x86_64_v3.so \
              lib/librope_simd_x86_64_v4.so example.c README.md LICENSE; do
    grep -q "/$file\$" "$work/x64.list" || { echo "missing $file"; return 1; }
  done
  tar -tzf "$arm64" | grep "/lib/librope_simd_arm64.so$" || { echo "the arm64 archive lacks its engine"; return 1; }
  (cd "$root/out/release" && sha256sum -c "$(basename "$x64").sha256" && sha256sum -c "$(basename "$arm64").sha256") || return 1
  tar -xzf "$x64" -C "$work"
  (cd "$work/rope-simd-native-$version-linux-x64" &&
    gcc -Iinclude example.c -Llib -lrope_simd -Wl,-rpath,"$PWD/lib" -o example && ./example | grep "engine path $widest")
}
if [ "$(uname -m)" = x86_64 ]; then
  check "native release archives hold the header, the libraries, the example, README and LICENSE; the example runs" archives
fi

# The benchmark report's chart, drawn from the kept results into a scratch folder (artifacts/ is left alone).
chart() {
  dotnet run --project "$root/bench/Rope.Simd.Bench" -c Release -- report --output "$work/report" || return 1
  # A PNG signature, and an IHDR of 1400 pixels wide.
  [ "$(head -c 8 "$work/report/report.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
    [ "$(od -An -tu1 -j16 -N4 "$work/report/report.png" | tr -s ' ')" = " 0 0 5 120" ]
}
check "the benchmark report draws its chart from artifacts/results" chart

echo "total: $total, failed: $failed, succeeded: $((total - failed)), skipped: 0"
[ "$failed" -eq 0 ]
