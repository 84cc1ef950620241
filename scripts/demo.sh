#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the main
# job on the shipped sample model: inspect it, benchmark it on this CPU, and
# apply it to a test image.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build

model=models/sample-denoise-luma.safetensors
out=${AE_DEMO_OUT:-demo-out}
mkdir -p "$out"

build/tools/ae-model info "$model"
build/tools/ae-model bench "$model" --size 1280x720 --frames 10
gst-launch-1.0 -q videotestsrc pattern=smpte num-buffers=1 \
  ! video/x-raw,width=640,height=480 ! pngenc ! filesink location="$out/input.png"
build/tools/ae-model run "$model" "$out/input.png" "$out/denoised.png"
echo "wrote $out/input.png and $out/denoised.png"
