#!/usr/bin/env bash
# Measures the flicker of four ways to render a clip (Docs/video.md): independent frames, each frame started from
# the previous result, the same warped by optical flow, and flow plus the temporal loss. Prints one line each.
#   bash scripts/video-flicker.sh [FRAMES] [OUTDIR]      (defaults: Assets/video/bbb_burrow, out/video-flicker)
# SIZE, ITERATIONS, TEMPORAL_WEIGHT and STYLEFARM (the binary) override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-Assets/video/bbb_burrow}
out=${2:-out/video-flicker}
sf=${STYLEFARM:-.build/release/stylefarm}
common=(--style Assets/demo/hokusai_great_wave.jpg --size "${SIZE:-240}" --iterations "${ITERATIONS:-60}")
declare -A modes=(
    [1-independent]="--start independent"
    [2-previous]=""
    [3-flow]="--flow"
    [4-flow-temporal]="--flow --temporal-weight ${TEMPORAL_WEIGHT:-3e6}"
)
for mode in $(printf '%s\n' "${!modes[@]}" | sort); do
    start=$(date +%s)
    # shellcheck disable=SC2086
    line=$("$sf" video "$frames" "${common[@]}" -o "$out/${mode#*-}" ${modes[$mode]} 2>/dev/null | grep '^flicker:')
    echo "${mode#*-}: $line, $(( $(date +%s) - start )) s"
done
