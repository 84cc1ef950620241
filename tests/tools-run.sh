#!/bin/sh
# ae-model run end to end: a generated PNG through the sample denoiser and a
# superres fixture; the outputs must decode with the expected sizes; a
# failed encode leaves no empty file; compare of tiny frames.
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

# an encoder that fails late (vp8enc refuses frames under 16x16) leaves no
# empty file behind
gst-launch-1.0 -q videotestsrc num-buffers=1 ! video/x-raw,width=8,height=8 \
  ! pngenc ! filesink location="$tmp/tiny.png"
if gst-inspect-1.0 vp8enc >/dev/null 2>&1; then
  if "$ae_model" run "$src/models/sample-denoise-luma.safetensors" \
    "$tmp/tiny.png" "$tmp/tiny.webm" 2>"$tmp/err"; then
    echo "8x8 webm succeeded"; exit 1
  fi
  [ ! -e "$tmp/tiny.webm" ] || { echo "empty tiny.webm left"; exit 1; }
  grep -q "may not take 8x8 frames" "$tmp/err" \
    || { echo "no size hint: $(cat "$tmp/err")"; exit 1; }
fi

# a chained Ogg (the size changes at frame 3) into Matroska, which cannot
# change size and says so only when it finishes: the error names the cause
if gst-inspect-1.0 avenc_ffv1 >/dev/null 2>&1 \
  && gst-inspect-1.0 theoraenc >/dev/null 2>&1; then
  for s in 32x24 48x32; do
    gst-launch-1.0 -q videotestsrc num-buffers=3 \
      ! "video/x-raw,width=${s%x*},height=${s#*x}" ! theoraenc ! oggmux \
      ! filesink location="$tmp/part-$s.ogv"
  done
  cat "$tmp/part-32x24.ogv" "$tmp/part-48x32.ogv" >"$tmp/chained.ogv"
  if "$ae_model" run -q "$src/models/sample-denoise-luma.safetensors" \
    "$tmp/chained.ogv" "$tmp/chained.mkv" 2>"$tmp/err"; then
    echo "a size change into Matroska succeeded"; exit 1
  fi
  grep -q "frame size changed at frame 3" "$tmp/err" \
    || { echo "no hint: $(cat "$tmp/err")"; exit 1; }
fi

# compare: frames smaller than SSIM's window have a PSNR, SSIM null
"$ae_model" compare "$tmp/tiny.png" "$tmp/tiny.png" --json >"$tmp/c.json"
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["ssim"] is None and d["psnr"] == 999, d' "$tmp/c.json" \
  || { echo "compare of 8x8 frames: $(cat "$tmp/c.json")"; exit 1; }
echo ok
