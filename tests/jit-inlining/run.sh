#!/usr/bin/env bash
# Every vector loop of rotation and conversion, compiled fully optimized, holds no call into Rope.Simd.Kernels: the
# ISA helpers and codecs are inlined (a spent inlining budget once left the float16 interleaved loop 4x slower).
# Prints "total: N, failed: N, succeeded: N, skipped: 0"; one check per optimized loop, one per loop family found.
set -euo pipefail
cd "$(dirname "$0")"
dotnet build -c Release -v q -nologo >/dev/null
# Without tiering the JIT compiles each method once, fully optimized, on the calling thread: the listing is the same
# every run and not interleaved with background compiles, and a spent inlining budget shows there as at Tier1.
listing=$(mktemp)
trap 'rm -f "$listing"' EXIT
DOTNET_JitDisasm="RotateGroup RotateHeads RotateInterleaved RotateHalfSplit RotateRows Rotate Single Widened Convert Narrow Widen Zip AppendChunks AppendTokens StoreRun Token Head SumsOfSquares InverseRoots Scale Read Interleaved One Runs" DOTNET_JitStdOutFile="$listing" \
  DOTNET_TieredCompilation=0 dotnet bin/Release/net10.0/Rope.Simd.JitInlining.dll exercise
dotnet bin/Release/net10.0/Rope.Simd.JitInlining.dll check "$listing"
