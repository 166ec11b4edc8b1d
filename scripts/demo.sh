#!/usr/bin/env bash
# The README's first command: install what is missing, build in release mode, install the VGG19 weights
# and render the bundled demo (Assets/demo) to out/demo.png on an embedded local farm: a coordinator and
# two worker processes on 127.0.0.1, the coarse level whole, then the full size in overlapping tiles.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_system_packages
build_release
install_weights
mkdir -p out
echo "==> rendering the demo (chelsea.png in the style of Hokusai's Great Wave) on a local farm of 2 workers"
.build/release/stylefarm render Assets/demo/chelsea.png Assets/demo/hokusai_great_wave.jpg \
    --size "${STYLEFARM_DEMO_SIZE:-512}" --coarse-size 256 --tile 256 --overlap 32 --margin 16 \
    --level-iterations "${STYLEFARM_DEMO_ITERATIONS:-100,40}" --local-farm 2 -o out/demo.png
echo "==> done: out/demo.png"
