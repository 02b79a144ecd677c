#!/usr/bin/env bash
# Runs the published linux-arm64 suite under qemu. Extra arguments go to the xunit runner (e.g. -class NAME).
# W^X double-mapping of JIT code is not reliable under qemu user mode (random SIGSEGV/SIGBUS after a few GCs), so it is off.
# Emulation is many times slower, so the exhaustive float32 -> 16-bit sweeps are sampled (ROPE_SIMD_SWEEP=sampled) and
# the combination matrix runs one combination in 128 (a different share each run).
set -euo pipefail
cd "$(dirname "$0")/../../publish/linux-arm64"
DOTNET_EnableWriteXorExecute=0 ROPE_SIMD_SWEEP=sampled ROPE_SIMD_MATRIX=${ROPE_SIMD_MATRIX:-sampled:128} exec qemu-aarch64-static ./Rope.Simd.Tests "$@"
