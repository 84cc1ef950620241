#!/bin/sh
# ae-model run end to end: a generated PNG through the sample denoiser and a
# superres fixture; the outputs must decode with the expected sizes.
set -eu
ae_model=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=1 \
  ! video/x-raw,width=97,height=61 ! pngenc ! filesink location="$tmp/in.png"
"$ae_model" run "$src/models/sample-denoise-luma.safetensors" "$tmp/in.png" "$tmp/dn.png"
"$ae_model" run "$src/tests/data/models/espcn2.safetensors" "$tmp/in.png" "$tmp/sr.png"

size() {  # prints WxH of a PNG (IHDR fields)
  od -An -tu1 -j16 -N8 "$1" | awk '{print $3*256+$4 "x" $7*256+$8}'
}
[ "$(size "$tmp/dn.png")" = "97x61" ] || { echo "denoise size $(size "$tmp/dn.png")"; exit 1; }
[ "$(size "$tmp/sr.png")" = "194x122" ] || { echo "superres size $(size "$tmp/sr.png")"; exit 1; }
# a corrupt model must fail with a message, not a crash
if "$ae_model" run "$src/tests/data/broken/cycle.safetensors" "$tmp/in.png" "$tmp/x.png" 2>"$tmp/err"; then
  echo "broken model accepted"; exit 1
fi
grep -q cycle "$tmp/err"
echo ok
