#!/usr/bin/env bash
# Fuzzes the C ABI with libFuzzer and AddressSanitizer (Debian's clang and libclang-rt), against the native library
# built by src/Rope.Simd.Native/build.sh.
#
#   tests/fuzz/run.sh [SECONDS]     (default 60; CI runs it at that, longer runs take any number)
#
# Differential: every call the library accepts is compared, element by element, with the harness's own float64
# reference (rotation, QK norm, KV-cache append) within docs/accuracy.md's bounds; see the harness's header comment.
#
# Starts from the committed seed corpus (tests/fuzz/corpus) in a scratch copy, so new inputs stay out of the tree
# unless copied there on purpose. A crash, a timeout (10 s per input), a canary or guard-page hit, a rejected call
# that wrote anything, or an accepted call whose result differs from the reference (the call and the first wrong
# element are printed) fails the run; the input that did it is left in out/fuzz/. Prints the harness's last count of
# calls accepted and compared, one summary line "total: 1, failed: N, succeeded: N, skipped: 0" and the number of
# inputs executed. Set ROPE_SIMD_FUZZ_VERBOSE=1 to log why well-formed calls were rejected.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
native=${ROPE_SIMD_NATIVE_DIR:-$root/out/native/linux-x64}
work=$root/out/fuzz
clang=$(command -v clang-14 || command -v clang)
mkdir -p "$work/corpus"
cp "$root"/tests/fuzz/corpus/* "$work/corpus/"
"$clang" -g -O1 -fsanitize=fuzzer,address -I"$native" "$root/tests/fuzz/fuzz_rope_simd.c" -L"$native" -lrope_simd \
  -lm -Wl,-rpath,"$native" -o "$work/fuzz_rope_simd" || { echo "total: 1, failed: 1, succeeded: 0, skipped: 0"; exit 1; }
cd "$work"
# The NativeAOT runtime handles its own signals and keeps its heap outside malloc: leave SEGV to the default
# (a fault still kills the run) and leak checking off (the runtime's allocations live as long as the process).
ASAN_OPTIONS=detect_leaks=0:handle_segv=0:allow_user_segv_handler=1 \
  ./fuzz_rope_simd -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 corpus > fuzz.log 2>&1
status=$?
if [ "$status" -eq 0 ]; then grep -E "^(INFO: seed corpus|Done|stat::)" fuzz.log; else grep -v "^    #" fuzz.log | tail -60; fi
grep -E "^harness:" fuzz.log | tail -2
runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" fuzz.log | grep -oE "[0-9]+$")
echo "fuzzer: ${runs:-0} inputs executed (run of at most $seconds s), exit $status"
if [ "$status" -eq 0 ] && [ -n "$runs" ]; then
  echo "total: 1, failed: 0, succeeded: 1, skipped: 0"
else
  echo "total: 1, failed: 1, succeeded: 0, skipped: 0"
  exit 1
fi
