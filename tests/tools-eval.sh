#!/bin/sh
# ae-model eval end to end on a generated folder of PNGs: an identity
# denoiser must score exactly its noisy input, figures are reproducible,
# superres and rgb models run, and bad input gives a message and the right
# exit status (1 failure, 2 usage).
set -eu
ae_model=$1
src=$2
models=$src/tests/data/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/images/sub" "$tmp/empty" "$tmp/small"
for p in spokes pinwheel; do
  gst-launch-1.0 -q videotestsrc pattern=$p num-buffers=1 \
    ! video/x-raw,width=64,height=48 ! pngenc ! filesink location="$tmp/images/$p.png"
done
gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=1 \
  ! video/x-raw,width=50,height=41,format=RGB ! pngenc ! filesink location="$tmp/images/sub/ball.png"
gst-launch-1.0 -q videotestsrc num-buffers=1 \
  ! video/x-raw,width=10,height=40 ! pngenc ! filesink location="$tmp/small/thin.png"

# identity: output PSNR/SSIM == noisy PSNR/SSIM at every sigma
"$ae_model" eval "$models/identity.safetensors" "$tmp/images" --sigma 5,25 \
  --sigma 50 > "$tmp/id.txt"
cat "$tmp/id.txt"
grep -q '(3 images)' "$tmp/id.txt" || fail "identity: not 3 images"
awk '$1 ~ /^[0-9]+$/ { n++; if ($2 != $4 || $3 != $5 || $6 != "+0.00") bad = 1 }
     END { exit (n == 3 && !bad) ? 0 : 1 }' "$tmp/id.txt" \
  || fail "identity model does not score its noisy input"
# to every digit: in the JSON each "noisy" score is followed by an equal
# "model" one
"$ae_model" eval "$models/identity.safetensors" "$tmp/images" --json > "$tmp/id.json"
grep -E '"(psnr|ssim)"' "$tmp/id.json" | awk '{ v[NR] = $3 }
  END { if (NR != 12) exit 1
        for (i = 1; i <= NR; i += 4) if (v[i] != v[i+2] || v[i+1] != v[i+3]) exit 1 }' \
  || fail "identity model JSON: model != noisy"

# the same seed gives the same figures; another seed other figures
"$ae_model" eval "$src/models/sample-denoise-luma.safetensors" "$tmp/images" --json > "$tmp/a.json"
"$ae_model" eval "$src/models/sample-denoise-luma.safetensors" "$tmp/images" --json > "$tmp/b.json"
"$ae_model" eval "$src/models/sample-denoise-luma.safetensors" "$tmp/images" --json --seed 7 > "$tmp/c.json"
cmp -s "$tmp/a.json" "$tmp/b.json" || fail "eval is not reproducible"
cmp -s "$tmp/a.json" "$tmp/c.json" && fail "--seed changes nothing"
grep -q '"sigma" : 50' "$tmp/a.json" || fail "default sigmas missing"

# superres (luma) and rgb models
"$ae_model" eval "$models/espcn2.safetensors" "$tmp/images" > "$tmp/sr.txt"
cat "$tmp/sr.txt"
grep -q '^bicubic' "$tmp/sr.txt" && grep -q '^model' "$tmp/sr.txt" || fail "superres table"
# its JSON keeps the model's path beside the two scores
"$ae_model" eval "$models/espcn2.safetensors" "$tmp/images" --json > "$tmp/sr.json"
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["model"].endswith("espcn2.safetensors"), d["model"]
assert set(d["results"]) == {"bicubic", "model"}, d["results"]' "$tmp/sr.json" \
  || fail "superres json"
"$ae_model" eval "$models/rgb.safetensors" "$tmp/images" --sigma 10 --json > "$tmp/rgb.json"
grep -q '"color" : "rgb"' "$tmp/rgb.json" || fail "rgb json"

# bad input: status and message
expect() {  # STATUS PATTERN ARGS...: exit status and a stderr pattern
  want=$1 pattern=$2
  shift 2
  set +e
  "$ae_model" eval "$@" > /dev/null 2> "$tmp/err"
  got=$?
  set -e
  cat "$tmp/err"
  [ "$got" = "$want" ] || fail "eval $*: exit $got, expected $want"
  grep -q -- "$pattern" "$tmp/err" || fail "eval $*: no '$pattern' in the message"
}
expect 1 "no-such-dir" "$models/identity.safetensors" "$tmp/no-such-dir"
expect 1 "no decodable images in" "$models/identity.safetensors" "$tmp/empty"
expect 1 "thin.png.*too small" "$models/identity.safetensors" "$tmp/small"
expect 1 "cycle" "$src/tests/data/broken/cycle.safetensors" "$tmp/images"
expect 2 "--labels" "$models/anomaly.safetensors" "$tmp/images"
expect 2 "anomaly models" "$models/identity.safetensors" "$tmp/images" --labels x.csv
expect 2 "0..255" "$models/identity.safetensors" "$tmp/images" --sigma 300
expect 2 "0..255" "$models/identity.safetensors" "$tmp/images" --sigma 5,x
echo ok
