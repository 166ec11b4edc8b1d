#!/usr/bin/env bash
# Renders a clip in the ways Docs/video.md compares and measures each (`stylefarm video --measure`): the flicker on
# the renderer's flow, the warping error on an independent (Farnebäck) flow, and the mean style loss per frame.
#   bash scripts/video-measures.sh [FRAMES] [OUTDIR]     (defaults: Assets/video/bbb_burrow, out/video-measures)
# SIZE (160), ITERATIONS (the render's own), TEMPORAL_WEIGHT (3e6), MODES (all, e.g. "previous long-term") and
# STYLEFARM (the binary) override the defaults. Prints one line per mode.
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-Assets/video/bbb_burrow}
out=${2:-out/video-measures}
sf=${STYLEFARM:-.build/release/stylefarm}
style=Assets/demo/hokusai_great_wave.jpg
common=(--style "$style" --size "${SIZE:-160}" ${ITERATIONS:+--iterations "$ITERATIONS"})
tw=${TEMPORAL_WEIGHT:-3e6}
declare -A modes=(
    # Independent frames at the iterations the other modes give a frame after the first: equal work per frame.
    [independent]="--start independent --iterations $(( ${ITERATIONS:-300} / 2 ))"
    [previous]=""
    [flow]="--flow"
    [flow-temporal]="--flow --temporal-weight $tw --temporal-frames 1"
    [long-term]="--flow --temporal-weight $tw --temporal-frames 1,2,4"
    [multipass]="--flow --temporal-weight $tw --temporal-frames 1,2,4 --passes 3 --frame-iterations $(( ${ITERATIONS:-300} / 6 ))"
    [strong-temporal]="--flow --temporal-weight 1e7 --temporal-frames 1,2,4"
    # The parallel schedule: pass 1 renders every frame from its content (at the independent mode's iterations).
    [parallel-multipass]="--flow --temporal-weight $tw --temporal-frames 1,2,4 --passes 3 --frame-iterations $(( ${ITERATIONS:-300} / 6 )) --schedule parallel --iterations $(( ${ITERATIONS:-300} / 2 ))"
)
for mode in ${MODES:-independent previous flow-temporal long-term multipass strong-temporal}; do
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$sf" video "$frames" "${common[@]}" -o "$out/$mode" ${modes[$mode]} > /dev/null 2>&1
    seconds=$(( $(date +%s) - start ))
    measures=$("$sf" video "$frames" --measure "$out/$mode" 2>/dev/null | grep -E '^(flicker|warping error):' | cut -d' ' -f1-4 | paste -sd' ')
    styles=$(for f in "$out/$mode"/frame_*.png; do
        n=$(basename "$f")
        "$sf" evaluate "$f" --content "$frames/$n" --style "$style" --style-size 512 2>/dev/null | grep -o 'style [0-9.e+-]*' | cut -d' ' -f2
    done | awk '{ s += $1; n += 1 } END { printf "%.4g", s / n }')
    echo "$mode: $measures style/frame $styles, $seconds s"
done
