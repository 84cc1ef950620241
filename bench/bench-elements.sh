#!/bin/sh
# bench-elements.sh: the autoencoder elements against classic filters on
# the same 720p and 1080p clips, fps and PSNR side by side (issue 4).
#
#   bench/bench-elements.sh [-b BUILD_DIR] [-n FRAMES] [-o WORK_DIR]
#
# Clips: vtest.avi from Debian's opencv-doc scaled to 1280x720 and
# 1920x1080 (videotestsrc if absent), I420, raw in Matroska; gaussian noise
# sigma 25 (aenoise seed=1) for denoising; a x2 downscale (videoscale
# method=catrom) for super-resolution. Denoise: aedenoise on each backend,
# ffmpeg hqdn3d and nlmeans at two strengths. Superres: aesuperres on each
# backend, videoscale method=lanczos and catrom. PSNR/SSIM: `ae-model
# compare` (Y' of the decoded R'G'B', against the clean clip). fps: frames
# over the wall time of the whole gst-launch-1.0 / ffmpeg process
# (decoding raw frames from disk is included; it is small).
# Element overhead at 1080p on the CPU: the element's frame time (wall per
# frame) against `ae-model bench` of the same model in the same run.
#
# Models: the shipped ones by their default names when models/ has them,
# else stand-ins from tests/data/models, named in the table: random-weight
# fixtures time like real models of their FLOPs but their PSNR means
# nothing.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
frames=10
work=${TMPDIR:-/tmp}/bench-elements
while getopts b:n:o: opt; do
  case $opt in
    b) build=$OPTARG ;;
    n) frames=$OPTARG ;;
    o) work=$OPTARG ;;
    *) echo "usage: $0 [-b BUILD_DIR] [-n FRAMES] [-o WORK_DIR]" >&2; exit 2 ;;
  esac
done
ae_model=$build/tools/ae-model
export GST_PLUGIN_PATH=$build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}
export AE_MODEL_PATH=$root/models
for tool in gst-launch-1.0 "$ae_model"; do
  command -v "$tool" > /dev/null || { echo "$0: $tool not found (build first)" >&2; exit 1; }
done
have_ffmpeg=$(command -v ffmpeg > /dev/null && echo yes || echo no)
mkdir -p "$work"

echo "# bench-elements: $0 $*"
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; $(uname -sr)"
echo "# $(gst-launch-1.0 --version | sed -n 2p); ffmpeg: $have_ffmpeg; frames per clip: $frames"

model_for () {                  # model_for TASK -> path and a note
  case $1 in
    denoise) shipped=denoise-luma-fast stand=unet ;;
    superres) shipped=superres-x2-luma-fast stand=espcn2 ;;
  esac
  if [ -f "$root/models/$shipped.safetensors" ]; then
    echo "$root/models/$shipped.safetensors $shipped"
  else
    echo "$root/tests/data/models/$stand.safetensors fixture-$stand(random-weights)"
  fi
}

now () { date +%s.%N; }
# over the clip's own frame count ($n, counted when it is made)
fps () { echo "$n $1 $2" | awk '{ printf "%.2f", $1 / ($3 - $2) }'; }
psnr () {                       # psnr REF TEST -> "PSNR SSIM"
  "$ae_model" compare --json "$1" "$2" | sed 's/.*"psnr": \([0-9.]*\).*"ssim": \([0-9.]*\).*/\1 \2/'
}
row () { printf '%-10s %-44s %8s %8s %8s\n' "$@"; }

vtest=/usr/share/doc/opencv-doc/examples/data/vtest.avi
backends=cpu
if gst-launch-1.0 -q videotestsrc num-buffers=1 ! \
    aedenoise device=vulkan model="$root/tests/data/models/identity.safetensors" ! \
    fakesink > /dev/null 2>&1; then
  backends="cpu vulkan"
fi
echo "# backends: $backends"

for size in 1280x720 1920x1080; do
  w=${size%x*}
  h=${size#*x}
  clean=$work/clean-$h.mkv
  noisy=$work/noisy-$h.mkv
  small=$work/small-$h.mkv
  if [ -f "$vtest" ]; then
    # cut before the decoder (after it, its drain at EOS adds a frame whose
    # content changes from run to run)
    source="filesrc location=$vtest ! avidemux ! identity eos-after=$((frames + 1))
      ! decodebin ! videoconvert ! videoscale method=lanczos"
    what="vtest.avi"
  else
    source="videotestsrc pattern=ball num-buffers=$frames"
    what="videotestsrc"
  fi
  gst-launch-1.0 -q $source ! video/x-raw,format=I420,width=$w,height=$h ! \
    matroskamux ! filesink location="$clean"
  n=$("$ae_model" compare "$clean" "$clean" | awk '{ print $1 }')
  gst-launch-1.0 -q filesrc location="$clean" ! matroskademux ! \
    aenoise sigma=25 seed=1 ! matroskamux ! filesink location="$noisy"
  gst-launch-1.0 -q filesrc location="$clean" ! matroskademux ! \
    videoscale method=catrom ! video/x-raw,width=$((w / 2)),height=$((h / 2)) ! \
    matroskamux ! filesink location="$small"

  echo
  echo "## denoise, $size ($what, $frames frames, gaussian sigma 25)"
  row task method fps PSNR SSIM
  set -- $(psnr "$clean" "$noisy")
  row denoise "noisy input (no filter)" - "$1" "$2"
  set -- $(model_for denoise)
  dmodel=$1
  dname=$2
  for be in $backends; do
    out=$work/dn-$be-$h.mkv
    t0=$(now)
    GST_DEBUG=aefilter:4 gst-launch-1.0 -q filesrc location="$noisy" ! \
      matroskademux ! aedenoise device=$be threads=2 model="$dmodel" ! matroskamux ! \
      filesink location="$out" 2> "$work/dn-$be-$h.log"
    t1=$(now)
    set -- $(psnr "$clean" "$out")
    row denoise "aedenoise $be $dname" "$(fps "$t0" "$t1")" "$1" "$2"
    if [ "$be" = cpu ] && [ "$h" = 1080 ]; then
      el_ms=$(echo "$n $t0 $t1" | awk '{ printf "%.1f", ($3 - $2) * 1000 / $1 }')
      eng_ms=$(sed -n "s/.* \([0-9.]*\) ms\/frame in the engine's calls.*/\1/p" \
        "$work/dn-$be-$h.log" | tail -1)
    fi
  done
  if [ "$have_ffmpeg" = yes ]; then
    for f in hqdn3d=8:6:6:4 hqdn3d=16:12:12:9 nlmeans=s=6 nlmeans=s=10; do
      out=$work/ff-$h.avi
      t0=$(now)
      ffmpeg -v error -y -i "$noisy" -vf "$f" -c:v rawvideo -pix_fmt yuv420p "$out"
      t1=$(now)
      set -- $(psnr "$clean" "$out")
      row denoise "ffmpeg $f" "$(fps "$t0" "$t1")" "$1" "$2"
    done
  fi

  echo
  echo "## superres x2, $((w / 2))x$((h / 2)) -> $size ($what, downscaled with catrom)"
  row task method fps PSNR SSIM
  set -- $(model_for superres)
  smodel=$1
  sname=$2
  for be in $backends; do
    out=$work/sr-$be-$h.mkv
    t0=$(now)
    gst-launch-1.0 -q filesrc location="$small" ! matroskademux ! \
      aesuperres device=$be model="$smodel" ! matroskamux ! \
      filesink location="$out"
    t1=$(now)
    set -- $(psnr "$clean" "$out")
    row superres "aesuperres $be $sname" "$(fps "$t0" "$t1")" "$1" "$2"
  done
  for m in lanczos catrom; do
    out=$work/vs-$m-$h.mkv
    t0=$(now)
    gst-launch-1.0 -q filesrc location="$small" ! matroskademux ! \
      videoscale method=$m ! video/x-raw,width=$w,height=$h ! matroskamux ! \
      filesink location="$out"
    t1=$(now)
    set -- $(psnr "$clean" "$out")
    row superres "videoscale method=$m" "$(fps "$t0" "$t1")" "$1" "$2"
  done
done

echo
echo "## element overhead, aedenoise on the CPU at 1920x1080 ($dname)"
bench_ms=$("$ae_model" bench "$dmodel" --size 1920x1080 --frames 3 --warmup 1 \
  --device cpu --threads 2 | sed -n 's/^RESULT.* ms=\([0-9.]*\).*/\1/p')
echo "ae-model bench (model on float tensors):    ${bench_ms:-?} ms/frame"
echo "element, engine part (ae_plan_run, GST_DEBUG): ${eng_ms:-?} ms/frame"
echo "element, whole pipeline (wall / frames):     ${el_ms:-?} ms/frame"
if [ -n "${bench_ms:-}" ] && [ -n "${el_ms:-}" ]; then
  echo "$el_ms $bench_ms" | awk '{ printf "overhead beyond the model: %.1f ms/frame = %.1f%% of the frame time\n", $1 - $2, ($1 - $2) * 100 / $1 }'
fi
