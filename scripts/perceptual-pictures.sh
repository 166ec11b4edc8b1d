#!/usr/bin/env bash
# Renders the pictures of Docs/perceptual-control.md from the bundled demo images (384 px, the default loss and
# 300 iterations of L-BFGS each): regions, colour and scale control beside the plain render they change.
# Usage: scripts/perceptual-pictures.sh [OUT_DIR]   (default Docs/images; the renders go to OUT_DIR/perceptual/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-Docs/images}
work="$out/perceptual"
mkdir -p "$work"
sf=.build/release/stylefarm
demo=Assets/demo
cat=$demo/chelsea.png wave=$demo/hokusai_great_wave.jpg turner=$demo/turner_shipwreck_of_the_minotaur.jpg
render() { local name=$1; shift; "$sf" render "$@" --size 384 -o "$work/$name.png"; }

render wave "$cat" "$wave"
render turner "$cat" "$turner"
render regions "$cat" "$wave" "$turner" --region-mask "$demo/chelsea-regions.png" \
    --region black=1 --region white=2 --region '#ff0000=none'
render luminance "$cat" "$wave" --preserve-colors
render color-match "$cat" "$wave" --color-match
render wave-fine-turner-coarse "$cat" "$wave" "$turner" \
    --style-layers-for 1=relu1_1,relu2_1 --style-layers-for 2=relu3_1,relu4_1,relu5_1
render turner-fine-wave-coarse "$cat" "$wave" "$turner" \
    --style-layers-for 1=relu3_1,relu4_1,relu5_1 --style-layers-for 2=relu1_1,relu2_1

"$sf" montage "$out/perceptual-regions.png" "$cat" "$demo/chelsea-regions.png" "$work/wave.png" "$work/regions.png" --height 255
"$sf" montage "$out/perceptual-colour.png" "$work/wave.png" "$work/luminance.png" "$work/color-match.png" --height 255
"$sf" montage "$out/perceptual-scale.png" "$work/wave.png" "$work/turner.png" "$work/wave-fine-turner-coarse.png" \
    "$work/turner-fine-wave-coarse.png" --columns 2 --height 255
rm -r "$work"
