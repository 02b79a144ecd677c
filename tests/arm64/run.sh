#!/usr/bin/env bash
# Runs the published linux-arm64 suite under qemu. Extra arguments go to the xunit runner (e.g. -class NAME).
# W^X double-mapping of JIT code is not reliable under qemu user mode (random SIGSEGV/SIGBUS after a few GCs), so it is off.
# Emulation is many times slower, so this runs the default tier (ROPE_SIMD_TIER unset: the float32 -> 16-bit sweeps
# sampled) with the combination matrix at one combination in 128 (a different share each run, still every value of every axis).
set -euo pipefail
cd "$(dirname "$0")/../../publish/linux-arm64"
DOTNET_EnableWriteXorExecute=0 ROPE_SIMD_MATRIX=${ROPE_SIMD_MATRIX:-sampled:128} exec qemu-aarch64-static ./Rope.Simd.Tests "$@"
