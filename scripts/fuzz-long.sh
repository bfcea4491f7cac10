#!/usr/bin/env bash
# Long property-based fuzzing run of every fuzz_* target (proptest; the stable toolchain has no
# libFuzzer). The test command runs the same targets with their small default case counts;
# this raises PROPTEST_CASES for every property (default 20000; the SQLite-store, stand-in
# binary and STARTTLS properties are slower per case, see docs/reliability.md).
#   scripts/fuzz-long.sh            # every target, 20 000 cases per property
#   CASES=200000 scripts/fuzz-long.sh core
# Prints the wall time per target; a failure prints proptest's minimal failing input, which
# becomes a regression test next to the property (docs/reliability.md#what-was-found).
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${CASES:-20000}"
TARGETS=(
    "watchkeeper-core fuzz_request"
    "watchkeeper-core fuzz_config"
    "watchkeeper-core fuzz_http"
    "watchkeeper-core fuzz_exposition"
    "watchkeeper-incident fuzz_inputs"
    "watchkeeper-backup fuzz_sources"
    "watchkeeper-tls fuzz_inputs"
    "watchkeeper-db fuzz_inputs"
)
only="${1:-}"
failed=0
for t in "${TARGETS[@]}"; do
    read -r pkg test <<<"$t"
    if [[ -n "$only" && "$pkg" != *"$only"* ]]; then
        continue
    fi
    cargo test -q -p "$pkg" --test "$test" --no-run
    start=$(date +%s)
    if PROPTEST_CASES="$CASES" cargo test -q -p "$pkg" --test "$test" -- --test-threads=1; then
        status=ok
    else
        status=FAILED
        failed=1
    fi
    echo "fuzz-long: $pkg/$test: $CASES cases per property: $status in $(( $(date +%s) - start ))s"
done
exit "$failed"
