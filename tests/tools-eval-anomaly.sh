#!/bin/sh
# ae-model eval on a labelled clip (anomaly models): the report's figures
# hang together (frames, events, rates, AUC in 0..1), JSON and text agree,
# and bad labels or a model without calibration give a message and exit 1.
# The quality of the scoring itself is measured by bench/make-anomaly-clip.py
# and docs/ANOMALY.md; this checks the tool.
set -eu
ae_model=$1
src=$2
models=$src/tests/data/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

# 12 frames: a smooth pattern, then snow (noise: its error and detail are
# far from anything smooth), then the pattern again
for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
  case $i in 4|5|6) p=snow ;; *) p=gradient ;; esac
  gst-launch-1.0 -q videotestsrc pattern=$p num-buffers=1 \
    ! video/x-raw,width=64,height=48 ! jpegenc quality=100 \
    ! filesink location="$(printf "$tmp/f%02d.jpg" $i)"
done
gst-launch-1.0 -q multifilesrc location="$tmp/f%02d.jpg" stop-index=11 \
  caps=image/jpeg,framerate=10/1 ! jpegdec ! jpegenc quality=100 ! avimux \
  ! filesink location="$tmp/clip.avi"
{
  echo "frame,label"
  for i in 0 1 2 3; do echo "$i,normal"; done
  for i in 4 5 6; do echo "$i,snow"; done
  for i in 7 8 9 10 11; do echo "$i,normal"; done
} > "$tmp/labels.csv"

"$ae_model" eval "$models/anomaly.safetensors" "$tmp/clip.avi" \
  --labels "$tmp/labels.csv" > "$tmp/out.txt"
cat "$tmp/out.txt"
grep -q '12 frames, 9 normal, 1 events' "$tmp/out.txt" || fail "frame counts"
grep -q 'frame ROC AUC: *[01]\.[0-9]\{4\}' "$tmp/out.txt" || fail "no AUC"
grep -q 'false alarms: *[0-9] of 9 normal frames' "$tmp/out.txt" \
  || fail "no false-alarm line"
grep -Eq 'highest normal: *[0-9.]+ \([0-9.]+ x threshold\), frame [0-9]' \
  "$tmp/out.txt" || fail "no highest-normal line"
grep -q '1  snow  *4-6 ' "$tmp/out.txt" || fail "event row"

"$ae_model" eval "$models/anomaly.safetensors" "$tmp/clip.avi" \
  --labels "$tmp/labels.csv" --json > "$tmp/out.json"
grep -q '"frames" : 12' "$tmp/out.json" || fail "JSON frames"
grep -q '"normal_frames" : 9' "$tmp/out.json" || fail "JSON normal frames"
grep -q '"label" : "snow"' "$tmp/out.json" || fail "JSON event"
grep -q '"first" : 4' "$tmp/out.json" || fail "JSON event start"
grep -q '"last" : 6' "$tmp/out.json" || fail "JSON event end"
grep -q '"auc" : [01]\.' "$tmp/out.json" || fail "JSON auc"
grep -Eq '"top_normal" : \{' "$tmp/out.json" || fail "JSON top normal frame"

expect_fail() {                 # message, then the eval arguments
  msg=$1
  shift
  if "$ae_model" eval "$@" > "$tmp/err.txt" 2>&1; then
    fail "eval $* succeeded"
  fi
  grep -q -- "$msg" "$tmp/err.txt" || { cat "$tmp/err.txt"; fail "no '$msg'"; }
}
head -n 10 "$tmp/labels.csv" > "$tmp/short.csv"
expect_fail "has 12 frames but" "$models/anomaly.safetensors" "$tmp/clip.avi" \
  --labels "$tmp/short.csv"
printf 'frame,label\n0,normal\n2,normal\n' > "$tmp/gap.csv"
expect_fail "gap.csv:3: frame 2 where frame 1 was expected" \
  "$models/anomaly.safetensors" "$tmp/clip.avi" --labels "$tmp/gap.csv"
printf 'frame,label\n0 normal\n' > "$tmp/bad.csv"
expect_fail 'bad.csv:2: expected "frame,label"' \
  "$models/anomaly.safetensors" "$tmp/clip.avi" --labels "$tmp/bad.csv"
expect_usage() {                # message, then the eval arguments
  rc=0
  "$ae_model" eval "$@" > "$tmp/err.txt" 2>&1 || rc=$?
  [ $rc -eq 2 ] || fail "eval $*: exit status $rc, not 2 (usage)"
  grep -q -- "$msg" "$tmp/err.txt" || { cat "$tmp/err.txt"; fail "no '$msg'"; }
}
msg="are for image folders"
expect_usage "$models/anomaly.safetensors" "$tmp/clip.avi" \
  --labels "$tmp/labels.csv" --max-images 3
expect_usage "$models/anomaly.safetensors" "$tmp/clip.avi" \
  --labels "$tmp/labels.csv" --sigma 5
# a labels file saved with a byte-order mark (spreadsheets do) reads the same
printf '\357\273\277' | cat - "$tmp/labels.csv" > "$tmp/bom.csv"
"$ae_model" eval "$models/anomaly.safetensors" "$tmp/clip.avi" \
  --labels "$tmp/bom.csv" --threads 1 > "$tmp/bom.txt" || fail "BOM labels"
grep -q '12 frames, 9 normal, 1 events' "$tmp/bom.txt" || fail "BOM counts"
expect_fail "no-labels.csv" "$models/anomaly.safetensors" "$tmp/clip.avi" \
  --labels "$tmp/no-labels.csv"
expect_fail "clip-missing.avi" "$models/anomaly.safetensors" \
  "$tmp/clip-missing.avi" --labels "$tmp/labels.csv"
echo "ok"
