#!/usr/bin/env bash
# The README's first command: install what is missing, build in release mode, install the VGG19 weights
# and render the bundled demo (Assets/demo) to out/demo.png.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_system_packages
build_release
install_weights
mkdir -p out
echo "==> rendering the demo (chelsea.png in the style of Hokusai's Great Wave)"
.build/release/stylefarm render Assets/demo/chelsea.png Assets/demo/hokusai_great_wave.jpg \
    --size "${STYLEFARM_DEMO_SIZE:-384}" --iterations "${STYLEFARM_DEMO_ITERATIONS:-150}" -o out/demo.png
echo "==> done: out/demo.png"
