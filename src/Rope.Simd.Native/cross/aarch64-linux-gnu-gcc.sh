#!/usr/bin/env bash
# NativeAOT links an ARM64 library with "<compiler> --target=aarch64-linux-gnu --sysroot=...", which clang takes and
# gcc does not: drop those two for Debian's cross gcc, which already targets ARM64 with its own sysroot.
args=()
for argument in "$@"; do
  case "$argument" in --target=* | --sysroot=*) ;; *) args+=("$argument") ;; esac
done
exec aarch64-linux-gnu-gcc "${args[@]}"
