#!/bin/sh
# gst-launch-1.0 pipelines through the autoencoder elements, end to end, as
# TAP. $1: the source root. Fixture models always; the shipped models of
# models/ by their default names (skipped, saying so, while one is absent).
set -u
root=$1
fx=$root/tests/data/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0

result () {                     # result RC DESCRIPTION OUTPUT-FILE
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $n - $2"
  else
    echo "not ok $n - $2"
    sed 's/^/# /' "$3"
  fi
}

# expect_ok DESCRIPTION PIPELINE...
expect_ok () {
  desc=$1
  shift
  gst-launch-1.0 -q "$@" > "$tmp/log" 2>&1
  result $? "$desc" "$tmp/log"
}

# expect_error DESCRIPTION TEXT PIPELINE...: fails, and says TEXT
expect_error () {
  desc=$1
  text=$2
  shift 2
  gst-launch-1.0 -q "$@" > "$tmp/log" 2>&1
  rc=$?
  if [ $rc -ne 0 ] && grep -qF -- "$text" "$tmp/log"; then
    result 0 "$desc" "$tmp/log"
  else
    echo "# exit status $rc; expected an error saying: $text" >> "$tmp/log"
    result 1 "$desc" "$tmp/log"
  fi
}

src="videotestsrc num-buffers=3 pattern=smpte"
for f in GRAY8 I420 NV12 Y444 RGBA BGRA RGBx BGRx RGB BGR; do
  expect_ok "$f 33x17: aenoise ! aedenoise ! aesuperres" $src ! \
    video/x-raw,format=$f,width=33,height=17 ! aenoise sigma=10 seed=1 ! \
    aedenoise model="$fx/light.safetensors" ! \
    aesuperres model="$fx/espcn2.safetensors" ! \
    video/x-raw,width=66,height=34 ! fakesink
done
expect_ok "RGB model on I420 720p" $src ! \
  video/x-raw,format=I420,width=1280,height=720 ! \
  aedenoise model="$fx/rgb.safetensors" ! fakesink
expect_ok "to a file through videoconvert and y4menc" $src ! \
  video/x-raw,format=RGBx,width=64,height=48 ! \
  aedenoise model="$fx/light.safetensors" strength=0.5 ! videoconvert ! \
  y4menc ! filesink location="$tmp/out.y4m"
n=$((n + 1))
if [ -s "$tmp/out.y4m" ]; then echo "ok $n - the file has frames"; else
  echo "not ok $n - $tmp/out.y4m is empty"; fi

expect_error "missing model: the message names the path" \
  "/nonexistent/model.safetensors" $src ! \
  aedenoise model=/nonexistent/model.safetensors ! fakesink
expect_error "corrupt model" "cycle" $src ! \
  aedenoise model="$root/tests/data/broken/cycle.safetensors" ! fakesink
expect_error "superres model in aedenoise" "is a model for superres" $src ! \
  aedenoise model="$fx/espcn2.safetensors" ! fakesink
expect_error "caps aesuperres cannot produce" "can't handle caps" $src ! \
  video/x-raw,width=32,height=32 ! \
  aesuperres model="$fx/espcn2.safetensors" ! \
  video/x-raw,width=50,height=50 ! fakesink

# shipped MODEL: true when models/MODEL.safetensors exists, else a SKIP
shipped () {
  [ -f "$root/models/$1.safetensors" ] && return 0
  n=$((n + 1))
  echo "ok $n # SKIP models/$1.safetensors is not shipped yet"
  return 1
}

# the shipped models, by their default names, on the CPU
for m in denoise-luma-fast:aedenoise superres-x2-luma-fast:aesuperres; do
  model=${m%%:*}
  element=${m#*:}
  shipped $model || continue
  AE_MODEL_PATH=$root/models AE_DEVICE=cpu expect_ok \
    "$element with its default model ($model) at 320x240" $src ! \
    video/x-raw,format=I420,width=320,height=240 ! aenoise sigma=20 ! \
    $element ! fakesink
done
# the x3 and x4 upscalers, by name: the caps after them are 3 and 4 times
# the input's
for scale in 3 4; do
  model=superres-x$scale-luma-fast
  shipped $model || continue
  AE_MODEL_PATH=$root/models AE_DEVICE=cpu expect_ok \
    "aesuperres model=$model at 160x120" $src ! \
    video/x-raw,format=I420,width=160,height=120 ! \
    aesuperres model=$model ! \
    video/x-raw,width=$((160 * scale)),height=$((120 * scale)) ! fakesink
done
# the quality denoiser, by name (on a GPU it is aedenoise's default)
if shipped denoise-luma; then
  AE_MODEL_PATH=$root/models AE_DEVICE=cpu expect_ok \
    "aedenoise model=denoise-luma at 160x120" $src ! \
    video/x-raw,format=I420,width=160,height=120 ! aenoise sigma=20 ! \
    aedenoise model=denoise-luma ! fakesink
fi
echo "1..$n"
