#!/usr/bin/env bash
# Runs the published linux-arm64 suite under qemu. Extra arguments go to the xunit runner (e.g. -class NAME).
# W^X double-mapping of JIT code is not reliable under qemu user mode (random SIGSEGV/SIGBUS after a few GCs), so it is off.
set -euo pipefail
cd "$(dirname "$0")/../../publish/linux-arm64"
DOTNET_EnableWriteXorExecute=0 exec qemu-aarch64-static ./Rope.Simd.Tests "$@"
