#!/usr/bin/env bash
# Installs what running the linux-arm64 test build on an x64 Debian machine needs: qemu user-mode emulation and the
# arm64 C runtime (libssl3 too: the xunit v3 runner aborts without it), and the cross gcc that links the ARM64 native
# library and its C test program. Idempotent; needs root.
set -euo pipefail
missing=()
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
[ -e /lib/ld-linux-aarch64.so.1 ] || missing+=(libc6:arm64)
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
for lib in libstdc++6 libgcc-s1 libssl3; do
  dpkg -s "$lib:arm64" >/dev/null 2>&1 || missing+=("$lib:arm64")
done
[ ${#missing[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
apt-get update -qq
apt-get install -y -qq qemu-user-static libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64 libssl3:arm64 gcc-aarch64-linux-gnu >/dev/null
