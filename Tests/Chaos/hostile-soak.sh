#!/usr/bin/env bash
# Hostile-peer soak: the live fuzzer of HostilePeerTests (a coordinator process, a good job on two workers,
# an authenticated worker, client and admin peer sending mutated messages) run for many seeds and more
# messages than CI sends. Passes when every round passes: the coordinator never dies, the good job's output
# equals the fault-free one and every refusal is counted. Not part of `swift test`; results in Docs/security.md.
#
#   Tests/Chaos/hostile-soak.sh [--rounds 5] [--messages 3000]     # messages per peer per round
#
# Needs the release test build (swift build -c release --build-tests) and the weights.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=5 MESSAGES=3000
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift 2 ;;
        --messages) MESSAGES=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
TESTS=.build/release/StyleFarmPackageTests.xctest
[ -x "$TESTS" ] || { echo "build the tests first: swift build -c release --build-tests" >&2; exit 2; }
failed=0 sent=0
for round in $(seq 1 "$ROUNDS"); do
    seed=$((RANDOM * 32768 + RANDOM))
    log=$(mktemp /tmp/stylefarm-hostile.XXXXXX)
    if STYLEFARM_FUZZ_SEED=$seed STYLEFARM_FUZZ_MESSAGES=$MESSAGES \
        "$TESTS" --testing-library swift-testing --filter HostilePeerTests >"$log" 2>&1; then
        echo "round $round PASS: $(grep -o 'hostile peers (seed [0-9]*): [0-9]* refusals counted' "$log")"
        sent=$((sent + 3 * MESSAGES))
        rm -f "$log"
    else
        echo "round $round FAIL (seed $seed): see $log"
        failed=$((failed + 1))
    fi
done
echo "$([ $failed -eq 0 ] && echo PASS || echo FAIL): $ROUNDS rounds, $sent hostile messages in passing rounds, $failed failed"
[ $failed -eq 0 ]
