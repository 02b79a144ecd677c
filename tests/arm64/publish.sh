#!/usr/bin/env bash
# Publishes the test suite self-contained for linux-arm64 into publish/linux-arm64 (an xunit v3 test project is an
# executable, so no arm64 SDK is needed to run it).
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet publish tests/Rope.Simd.Tests/Rope.Simd.Tests.csproj -c Release -r linux-arm64 --self-contained -o publish/linux-arm64 -v quiet
