#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the real
# demo with the shipped models:
#   1. a clip (vtest.avi from Debian's opencv-doc, else videotestsrc) with
#      gaussian noise (aenoise) through aedenoise, written to a file, with
#      PSNR before/after and fps;
#   2. a x2 downscale of the clip through aesuperres, against videoscale
#      lanczos;
#   3. aeanomaly on the clip with a pasted foreign patch, its ae-anomaly
#      messages shown by gst-launch-1.0 -m.
# A shipped model that is missing stops it with a message naming it; it
# never falls back to another model. AE_DEMO_BUILD picks the build
# directory (default build), AE_DEMO_OUT the output directory (demo-out).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${AE_DEMO_BUILD:-build}
out=${AE_DEMO_OUT:-demo-out}
frames=${AE_DEMO_FRAMES:-60}

scripts/deps.sh --demo
[ -f "$build/build.ninja" ] || meson setup "$build"
ninja -C "$build"

export GST_PLUGIN_PATH=$root/$build/gst
export AE_MODEL_PATH=$root/models
ae_model=$root/$build/tools/ae-model
for m in denoise-luma-fast superres-x2-luma-fast anomaly-vtest; do
  if [ ! -f "models/$m.safetensors" ]; then
    echo "demo: models/$m.safetensors is missing: the shipped models come" \
      "from the trainer (models/README.md); nothing else is used in its" \
      "place." >&2
    exit 1
  fi
done
mkdir -p "$out"

vtest=/usr/share/doc/opencv-doc/examples/data/vtest.avi
# both sources at vtest.avi's own size
w=768
h=576
if [ -f "$vtest" ]; then
  # cut before the decoder: cut after it, the decoder's drain at EOS added
  # a frame whose content changed from run to run
  source="filesrc location=$vtest ! avidemux ! identity eos-after=$((frames + 1))
    ! decodebin ! videoconvert ! videoscale"
  echo "demo: clip: $vtest, $frames frames"
else
  source="videotestsrc pattern=ball num-buffers=$frames"
  echo "demo: clip: videotestsrc (install opencv-doc for vtest.avi)"
fi
# raw I420 in Matroska: lossless, so PSNR measures the filters alone
gst-launch-1.0 -q $source ! video/x-raw,format=I420,width=$w,height=$h ! \
  matroskamux ! filesink location="$out/clean.mkv"

echo
echo "== denoise: aenoise sigma=25 ! aedenoise (default model for the CPU)"
gst-launch-1.0 -q filesrc location="$out/clean.mkv" ! matroskademux ! \
  aenoise sigma=25 seed=1 ! matroskamux ! filesink location="$out/noisy.mkv"
t0=$(date +%s.%N)
gst-launch-1.0 -q filesrc location="$out/noisy.mkv" ! matroskademux ! \
  aedenoise device=cpu ! matroskamux ! filesink location="$out/denoised.mkv"
t1=$(date +%s.%N)
echo "$frames $t0 $t1" | awk '{ printf "aedenoise: %d frames in %.1f s = %.1f fps\n", $1, $3 - $2, $1 / ($3 - $2) }'
echo -n "noisy    vs clean: "; "$ae_model" compare "$out/clean.mkv" "$out/noisy.mkv"
echo -n "denoised vs clean: "; "$ae_model" compare "$out/clean.mkv" "$out/denoised.mkv"

echo
echo "== superres: half size ! aesuperres (x2) vs videoscale method=lanczos"
gst-launch-1.0 -q filesrc location="$out/clean.mkv" ! matroskademux ! \
  videoscale method=catrom ! video/x-raw,width=$((w / 2)),height=$((h / 2)) ! \
  matroskamux ! filesink location="$out/half.mkv"
t0=$(date +%s.%N)
gst-launch-1.0 -q filesrc location="$out/half.mkv" ! matroskademux ! \
  aesuperres device=cpu ! matroskamux ! filesink location="$out/superres.mkv"
t1=$(date +%s.%N)
echo "$frames $t0 $t1" | awk '{ printf "aesuperres: %d frames in %.1f s = %.1f fps\n", $1, $3 - $2, $1 / ($3 - $2) }'
gst-launch-1.0 -q filesrc location="$out/half.mkv" ! matroskademux ! \
  videoscale method=lanczos ! video/x-raw,width=$w,height=$h ! \
  matroskamux ! filesink location="$out/lanczos.mkv"
echo -n "aesuperres vs clean: "; "$ae_model" compare "$out/clean.mkv" "$out/superres.mkv"
echo -n "lanczos    vs clean: "; "$ae_model" compare "$out/clean.mkv" "$out/lanczos.mkv"

echo
echo "== anomaly: aeanomaly on the clip with a quarter of the view covered"
echo "   (a card with a bouncing ball) from 2 s to 4 s; gst-launch-1.0 -m"
echo "   prints its ae-anomaly messages (the event's start and end)"
gst-launch-1.0 -m compositor name=mix sink_1::xpos=0 sink_1::ypos=288 ! \
  videoconvert ! aeanomaly ! fakesink \
  filesrc location="$out/clean.mkv" ! matroskademux ! videoconvert ! mix.sink_0 \
  videotestsrc pattern=ball timestamp-offset=2000000000 num-buffers=20 ! \
  video/x-raw,width=384,height=288,framerate=10/1 ! mix.sink_1 \
  > "$out/anomaly.log" 2>&1
grep -o 'ae-anomaly, type=(string)[a-z]*, timestamp=(guint64)[0-9]*' \
  "$out/anomaly.log" | sed 's/(string)//; s/(guint64)//' | head -10 \
  | grep . || echo "demo: aeanomaly posted no event (see $out/anomaly.log)"
echo
echo "demo: outputs in $out/ (raw I420 Matroska: gst-play-1.0 $out/denoised.mkv)"
