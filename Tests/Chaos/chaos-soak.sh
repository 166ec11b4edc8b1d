#!/usr/bin/env bash
# Chaos soak: a farm on loopback renders a job while a random worker is SIGKILLed (and restarted) every
# few seconds. Passes when the job finishes and its output equals the fault-free render byte for byte.
# Not part of `swift test` (it runs for minutes); results are recorded in Docs/security.md.
#
#   Tests/Chaos/chaos-soak.sh [--workers 3] [--every 6] [--kills 8] [--size 192] [--timeout 900]
#
# Needs a release build (swift build -c release) and the weights (stylefarm weights install).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKERS=3 EVERY=6 KILLS=8 SIZE=192 TIMEOUT=900
while [ $# -gt 0 ]; do
    case "$1" in
        --workers) WORKERS=$2; shift 2 ;;
        --every) EVERY=$2; shift 2 ;;
        --kills) KILLS=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
SF=.build/release/stylefarm
WORK=$(mktemp -d /tmp/stylefarm-chaos.XXXXXX)
PORT=$((20000 + RANDOM % 30000))
EP=tcp://127.0.0.1:$PORT
JOB=(Assets/demo/chelsea.png Assets/demo/hokusai_great_wave.jpg --size "$SIZE" --coarse-size $((SIZE / 2))
     --tile $((SIZE / 3)) --overlap 16 --margin 8 --level-iterations 40,30)
declare -a PIDS=()
cleanup() {
    for p in "${PIDS[@]}" ${COORD:-}; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
start_worker() {
    $SF worker --connect "$EP" --threads 1 --name "chaos$1" --insecure --cache "$WORK/cache$1" >>"$WORK/worker$1.log" 2>&1 &
    PIDS[$1]=$!
}

echo "==> fault-free reference (one process, one thread; the farm's output must equal it)"
$SF render "${JOB[@]}" --threads 1 -o "$WORK/reference.png" >/dev/null 2>&1
echo "==> farm on $EP: coordinator and $WORKERS one-thread workers; a kill every ${EVERY}s, at most $KILLS"
$SF coordinator --bind "$EP" --state "$WORK/state" --insecure --dashboard off --heartbeat 0.5 --lease-seconds 20 \
    >"$WORK/coordinator.log" 2>&1 &
COORD=$!
for i in $(seq 0 $((WORKERS - 1))); do start_worker "$i"; done
ID=$($SF submit "${JOB[@]}" -o "$WORK/farm.png" --connect "$EP" --insecure --detach | awk '{print $3}')
START=$(date +%s); KILLED=0; NEXT=$((START + EVERY))
while true; do
    NOW=$(date +%s)
    STATE=$($SF status "$ID" --connect "$EP" --insecure 2>/dev/null | awk -v id="$ID" '$1 == id {print $2}')
    case "$STATE" in done|failed|cancelled) break ;; esac
    if [ $((NOW - START)) -gt "$TIMEOUT" ]; then echo "FAIL: not done after ${TIMEOUT}s"; exit 1; fi
    if [ "$NOW" -ge "$NEXT" ] && [ "$KILLED" -lt "$KILLS" ]; then
        VICTIM=$((RANDOM % WORKERS))
        kill -9 "${PIDS[$VICTIM]}" 2>/dev/null || true
        KILLED=$((KILLED + 1))
        echo "    t=$((NOW - START))s: killed worker $VICTIM (kill $KILLED/$KILLS), restarting it"
        start_worker "$VICTIM"
        NEXT=$((NOW + EVERY))
    fi
    sleep 1
done
WALL=$(( $(date +%s) - START ))
REQUEUED=$(grep -c requeued "$WORK/coordinator.log" || true)
if [ "$STATE" != done ]; then echo "FAIL: job $STATE"; $SF status "$ID" --connect "$EP" --insecure; exit 1; fi
$SF status "$ID" --connect "$EP" --insecure --output "$WORK/farm.png" >/dev/null
if cmp -s "$WORK/reference.png" "$WORK/farm.png"; then
    echo "PASS: job $ID done in ${WALL}s with $KILLED worker kills, $REQUEUED tiles requeued; output identical to the fault-free render"
else
    echo "FAIL: output differs from the fault-free render ($KILLED kills, $REQUEUED requeues)"; exit 1
fi
