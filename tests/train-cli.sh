#!/bin/bash
# ae-train end to end on a tiny generated set (TAP): a short run lowers the
# loss and writes a model that loads and runs; a resumed run continues the
# same run (same weights as uninterrupted), from any folder, and refuses
# what would change or lose it; Ctrl-C saves a checkpoint; bad inputs fail
# with a clear message and leave no model file.
# Usage: train-cli.sh AE-TRAIN AE-MODEL
set -u
train=$(realpath "$1")
model=$(realpath "$2")
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
n=0
failed=0

ok() {  # description, command...
  local what=$1
  shift
  n=$((n + 1))
  if "$@" >"$tmp/out" 2>&1; then
    echo "ok $n - $what"
  else
    echo "not ok $n - $what"
    sed 's/^/# /' "$tmp/out"
    failed=$((failed + 1))
  fi
}

# A command that must fail, print @pattern on stderr and leave no model.
fails() {  # description, pattern, command...
  local what=$1 pattern=$2
  shift 2
  n=$((n + 1))
  rm -f "$tmp/bad.safetensors"
  if "$@" >"$tmp/out" 2>&1; then
    echo "not ok $n - $what: succeeded"
    failed=$((failed + 1))
  elif ! grep -q -- "$pattern" "$tmp/out"; then
    echo "not ok $n - $what: no '$pattern' in the message"
    sed 's/^/# /' "$tmp/out"
    failed=$((failed + 1))
  elif [ -e "$tmp/bad.safetensors" ]; then
    echo "not ok $n - $what: a model file was written"
    failed=$((failed + 1))
  else
    echo "ok $n - $what"
  fi
}

# Twelve 48x48 images with structure to learn from.
mkdir -p "$tmp/imgs" "$tmp/empty" "$tmp/corrupt"
gst-launch-1.0 -q videotestsrc pattern=zone-plate kx2=20 ky2=20 kt=5 \
  num-buffers=6 ! video/x-raw,width=48,height=48 ! pngenc \
  ! multifilesink location="$tmp/imgs/zp%02d.png"
gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=6 \
  ! video/x-raw,width=48,height=48 ! pngenc \
  ! multifilesink location="$tmp/imgs/ball%02d.png"
head -c 3000 /dev/urandom >"$tmp/corrupt/photo.png"

common=(--task denoise --data "$tmp/imgs" --batch 4 --patch 16 --val 2
  --sigma 10,30 --threads 2 --seed 3 --log-every 20)

loss_at() {  # log, step → the loss printed for that step
  awk -v s="step $2/" 'index($0, s) == 1 { print $4 }' "$1"
}

run_short() {
  "$train" "${common[@]}" --steps 200 --val-every 100 --checkpoint-every 100 \
    -o "$tmp/m.safetensors" >"$tmp/log" 2>&1 || return 1
  local first last
  first=$(loss_at "$tmp/log" 20)
  last=$(loss_at "$tmp/log" 200)
  echo "loss at step 20: $first, at 200: $last"
  awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.8 * a) }'
}
ok "200 steps lower the loss" run_short
ok "the model loads" "$model" info "$tmp/m.safetensors"
ok "the model runs" "$model" run "$tmp/m.safetensors" "$tmp/imgs/zp00.png" \
  "$tmp/out.png"
ok "a checkpoint was written" test -s "$tmp/m.safetensors.ckpt"

# Tensor bytes of a safetensors file, without the header (whose training
# metadata records the wall time).
payload() {
  python3 -c 'import struct,sys
d=open(sys.argv[1],"rb").read()
n=struct.unpack("<Q",d[:8])[0]
sys.stdout.buffer.write(d[8+n:])' "$1"
}
resume_same() {
  payload "$tmp/m.safetensors" >"$tmp/uninterrupted"
  "$train" --resume "$tmp/m.safetensors.ckpt" >"$tmp/log2" 2>&1 || return 1
  grep -q "resuming at step 100" "$tmp/log2" || return 1
  payload "$tmp/m.safetensors" | cmp - "$tmp/uninterrupted" || return 1
  # a resumed run's checkpoints resume too, with all the options
  "$train" --resume "$tmp/m.safetensors.ckpt" --steps 250 \
    --checkpoint-every 20 >"$tmp/log2b" 2>&1 || return 1
  # an override equal to the default still overrides (the run logs every 20)
  "$train" --resume "$tmp/m.safetensors.ckpt" --steps 300 --log-every 100 \
    >"$tmp/log2c" 2>&1 || { cat "$tmp/log2c"; return 1; }
  grep -q "resuming at step 240" "$tmp/log2c" || return 1
  ! grep -q "^step 260/" "$tmp/log2c"
}
ok "resuming at step 100 gives the uninterrupted run's weights" resume_same

interrupt() {
  "$train" "${common[@]}" --steps 1000000 --log-every 1 \
    -o "$tmp/i.safetensors" >"$tmp/log3" 2>&1 &
  local pid=$! i
  # signal once it trains: a loaded machine may take a while to get there
  for i in $(seq 300); do
    grep -q '^step ' "$tmp/log3" && break
    sleep 0.2
  done
  kill -INT $pid
  wait $pid
  local rc=$?
  [ $rc -eq 130 ] || { echo "exit status $rc"; return 1; }
  [ ! -e "$tmp/i.safetensors" ] || { echo "model written"; return 1; }
  grep -q "ae-train --resume" "$tmp/log3" || return 1
  local at
  at=$(sed -n 's/.*interrupted at step \([0-9]*\).*/\1/p' "$tmp/log3")
  "$train" --resume "$tmp/i.safetensors.ckpt" --steps $((at + 20)) \
    >"$tmp/log4" 2>&1 || { cat "$tmp/log4"; return 1; }
  grep -q "resuming at step $at" "$tmp/log4"
}
ok "Ctrl-C saves a checkpoint that resumes" interrupt

resume_refusals() {
  payload "$tmp/m.safetensors" >"$tmp/before"
  # a checkpoint past --steps would overwrite the finished model
  if "$train" --resume "$tmp/m.safetensors.ckpt" --steps 10 >"$tmp/log5" 2>&1
  then return 1; fi
  grep -q "past --steps 10" "$tmp/log5" || { cat "$tmp/log5"; return 1; }
  # options of the run itself stay as it started
  if "$train" --resume "$tmp/m.safetensors.ckpt" --lr=5 >"$tmp/log6" 2>&1
  then return 1; fi
  grep -q -- "--lr=5 cannot be given with --resume" "$tmp/log6" || return 1
  payload "$tmp/m.safetensors" | cmp - "$tmp/before"
}
ok "a resume refuses --steps below its step and the run's own options" \
  resume_refusals

# relative --data and -o stay relative to where the run started
resume_elsewhere() {
  (cd "$tmp" && "$train" --task denoise --data imgs --batch 4 --patch 16 \
    --val 2 --steps 30 --checkpoint-every 20 -o rel.safetensors) \
    >"$tmp/log7" 2>&1 || return 1
  rm "$tmp/rel.safetensors"
  (cd / && "$train" --resume "$tmp/rel.safetensors.ckpt") >"$tmp/log8" 2>&1 \
    || { cat "$tmp/log8"; return 1; }
  grep -q "resuming in $tmp" "$tmp/log8" && test -s "$tmp/rel.safetensors" \
    && test ! -e /rel.safetensors
}
ok "a resume from another folder finds the run's relative paths" \
  resume_elsewhere

# a model that cannot be written leaves the trained weights to resume
write_fails() {
  mkdir -p "$tmp/dir.safetensors"
  if "$train" "${common[@]}" --steps 30 -o "$tmp/dir.safetensors" \
    >"$tmp/log9" 2>&1; then return 1; fi
  grep -q "cannot write the model.*trained weights are in" "$tmp/log9" \
    || { cat "$tmp/log9"; return 1; }
  rmdir "$tmp/dir.safetensors"
  "$train" --resume "$tmp/dir.safetensors.ckpt" >"$tmp/log10" 2>&1 \
    || { cat "$tmp/log10"; return 1; }
  grep -q "resuming at step 30" "$tmp/log10" && "$model" info \
    "$tmp/dir.safetensors" >/dev/null
}
ok "a failed model write keeps the weights in the checkpoint" write_fails

custom_graph() {
  cat >"$tmp/g.json" <<'EOF'
{"task": "denoise", "color": "luma", "nodes": [
  {"name": "a", "op": "conv2d", "inputs": ["input"], "out": 8, "kernel": 3, "padding": 1, "act": "relu"},
  {"name": "b", "op": "conv2d", "inputs": ["a"], "out": 1, "kernel": 3, "padding": 1, "act": "none"},
  {"name": "y", "op": "add", "inputs": ["b", "input"]}], "output": "y"}
EOF
  "$train" "${common[@]}" --graph "$tmp/g.json" --steps 20 \
    -o "$tmp/g.safetensors" || return 1
  "$model" info "$tmp/g.safetensors" | grep -q "preset: g.json"
}
ok "--graph trains a graph from a JSON file" custom_graph

# Every preset builds a graph that trains, saves and runs (a few steps).
every_preset() {
  local p task
  while read -r p task _; do
    case $task in denoise | superres | anomaly) ;; *) continue ;; esac
    "$train" --task "$task" --preset "$p" --data "$tmp/imgs" --batch 2 \
      --patch 32 --val 2 --steps 3 --threads 2 -o "$tmp/p-$p.safetensors" \
      || { echo "preset $p did not train"; return 1; }
    "$model" run "$tmp/p-$p.safetensors" "$tmp/imgs/ball00.png" \
      "$tmp/p-$p.png" || { echo "preset $p does not run"; return 1; }
  done < <("$train" --list-presets)
  [ -e "$tmp/p-dn-mid.png" ]
}
ok "every preset trains and runs" every_preset

# Anomaly models learn the colours of their scene (stored with the
# calibration, and the "colour" feature calibrated on them); grey footage
# has none to learn.
anomaly_colours() {
  mkdir -p "$tmp/colour"
  gst-launch-1.0 -q videotestsrc pattern=smpte num-buffers=8 \
    ! video/x-raw,width=48,height=48 ! pngenc \
    ! multifilesink location="$tmp/colour/bars%02d.png" || return 1
  "$train" --task anomaly --data "$tmp/colour" --batch 2 --patch 16 --val 3 \
    --steps 3 --threads 2 -o "$tmp/an-c.safetensors" || return 1
  "$train" --task anomaly --data "$tmp/imgs" --batch 2 --patch 16 --val 3 \
    --steps 3 --threads 2 -o "$tmp/an-g.safetensors" || return 1
  grep -aq 'colours.*seen' "$tmp/an-c.safetensors" \
    || { echo "no colours in the model of colour frames"; return 1; }
  grep -aq 'colour.*side.*high' "$tmp/an-c.safetensors" \
    || { echo "no colour feature in the model of colour frames"; return 1; }
  if grep -aq 'colour' "$tmp/an-g.safetensors"; then
    echo "colours in the model of grey frames"
    return 1
  fi
  "$model" run "$tmp/an-c.safetensors" "$tmp/colour/bars00.png" "$tmp/an.png"
}
ok "anomaly models learn the scene's colours (none from grey frames)" \
  anomaly_colours

# ae-model info shows each feature's calibration, in text and JSON
anomaly_info() {
  "$model" info "$tmp/an-c.safetensors" >"$tmp/info-c" || return 1
  grep -q '^anomaly calibration: threshold .*, from 3 normal frames' \
    "$tmp/info-c" || { cat "$tmp/info-c"; return 1; }
  grep -Eq '^  mse +both ways +ln ' "$tmp/info-c" || return 1
  grep -Eq '^  colour +upwards +value ' "$tmp/info-c" || return 1
  "$model" info "$tmp/an-g.safetensors" | grep -Eq '^  colour ' && return 1
  "$model" info --json "$tmp/an-c.safetensors" | python3 -c '
import json, sys
f = json.load(sys.stdin)["anomaly"]["features"]
assert f["colour"]["side"] == "high" and f["mse"]["log"], f
assert all(v["scale"] > 0 for v in f.values()), f'
}
ok "ae-model info shows the features' calibration" anomaly_info

# --init: a run that barely moves the weights validates as the model did
init_run() {
  "$train" "${common[@]}" --init "$tmp/m.safetensors" --steps 1 --lr 1e-12 \
    -o "$tmp/ft.safetensors" || return 1
  local before after
  before=$("$model" info "$tmp/m.safetensors" | awk '$1 == "val_psnr:" { print $2 }')
  after=$("$model" info "$tmp/ft.safetensors" | awk '$1 == "val_psnr:" { print $2 }')
  echo "validation PSNR: model $before, after one step from it $after"
  [ -n "$before" ] && [ "$before" = "$after" ] || return 1
  "$model" info "$tmp/ft.safetensors" | grep -q "init: m.safetensors"
}
ok "--init starts from a model's weights" init_run

# models/deepen-model.py: the deeper model computes what the model did, and
# training goes on from it
deepen_py="$(dirname "$0")/../models/deepen-model.py"
deepen() {
  python3 "$deepen_py" "$tmp/m.safetensors" "$tmp/deep.safetensors" c2 c3 \
    || return 1
  "$model" info "$tmp/deep.safetensors" | grep -q "c3i *conv2d *c3 " \
    || { echo "no layer c3i after c3"; return 1; }
  "$model" run "$tmp/m.safetensors" "$tmp/imgs/ball00.png" "$tmp/a.png" &&
  "$model" run "$tmp/deep.safetensors" "$tmp/imgs/ball00.png" "$tmp/b.png" &&
  cmp "$tmp/a.png" "$tmp/b.png" || return 1
  "$train" "${common[@]}" --init "$tmp/deep.safetensors" --steps 2 \
    -o "$tmp/deep-ft.safetensors"
}
if python3 -c 'import numpy' 2>/dev/null; then
  ok "a deepened model computes the same and trains on" deepen
  fails "deepen-model.py after a layer that changes width" \
    "keeps its channel count" python3 "$deepen_py" "$tmp/m.safetensors" \
    "$tmp/bad.safetensors" o
else
  for what in "deepen-model.py" "deepen-model.py's errors"; do
    n=$((n + 1))
    echo "ok $n - # SKIP $what: needs python3-numpy"
  done
fi

superres_rgb() {
  "$train" --task superres --scale 2 --color rgb --data "$tmp/imgs" \
    --batch 2 --patch 16 --val 2 --steps 10 -o "$tmp/sr.safetensors" \
    || return 1
  "$model" run "$tmp/sr.safetensors" "$tmp/imgs/zp00.png" "$tmp/sr.png"
}
ok "an rgb superres model trains and runs" superres_rgb

bad=(--task denoise --batch 2 --patch 16 --steps 5 -o "$tmp/bad.safetensors")
fails "missing folder" "no-such-dir" "$train" "${bad[@]}" --data "$tmp/no-such-dir"
fails "empty folder" "empty" "$train" "${bad[@]}" --data "$tmp/empty"
fails "corrupt image" "photo.png" "$train" "${bad[@]}" --data "$tmp/corrupt"
fails "negative --val" "out of range" "$train" "${bad[@]}" --data "$tmp/imgs" \
  --val -5
no_validation() {
  "$train" --task denoise --batch 2 --patch 16 --steps 2 --val 0 \
    --data "$tmp/imgs" -o "$tmp/noval.safetensors" >"$tmp/log-noval" 2>&1 \
    || return 1
  grep -q "no validation images" "$tmp/log-noval" || return 1
  ! "$model" info --json "$tmp/noval.safetensors" | grep -q val_psnr
}
ok "--val 0 trains, and claims no validation PSNR" no_validation
non_ascii() {
  mkdir -p "$tmp/été" && cp "$tmp"/imgs/* "$tmp/été/" || return 1
  LC_ALL=C "$train" --task denoise --batch 2 --patch 16 --steps 2 --val 0 \
    --data "$tmp/été" -o "$tmp/ete.safetensors" >"$tmp/log-ete" 2>&1
}
ok "a folder named in UTF-8 under LC_ALL=C" non_ascii
fails "patch larger than the frames" "smaller" "$train" "${bad[@]}" \
  --data "$tmp/imgs" --patch 64
fails "pipeline that errors" "no-such-element" "$train" "${bad[@]}" \
  --data "videotestsrc num-buffers=3 ! no-such-element"
fails "wrong preset for the task" "is for superres" "$train" "${bad[@]}" \
  --data "$tmp/imgs" --preset sr-fast
fails "patch not a multiple of the stride" "multiple of its stride" \
  "$train" "${bad[@]}" --data "$tmp/imgs" --patch 17
fails "unknown option value" "--loss" "$train" "${bad[@]}" --data "$tmp/imgs" \
  --loss l3
fails "--init with a preset" "give no --preset" "$train" "${bad[@]}" \
  --data "$tmp/imgs" --init "$tmp/m.safetensors" --preset dn-fast
fails "--init of another task" "is a luma denoise model" "$train" "${bad[@]}" \
  --data "$tmp/imgs" --init "$tmp/m.safetensors" --task superres
fails "--init of a corrupt model" "photo.png" "$train" "${bad[@]}" \
  --data "$tmp/imgs" --init "$tmp/corrupt/photo.png"
fails "corrupt checkpoint" "cannot resume" "$train" --resume "$tmp/corrupt/photo.png"
# a checkpoint whose run state says step -5
python3 -c 'import json,struct,sys
d=open(sys.argv[1],"rb").read()
n=struct.unpack("<Q",d[:8])[0]
h=json.loads(d[8:8+n])
s=json.loads(h["__metadata__"]["ae.train"])
s["step"]=-5
h["__metadata__"]["ae.train"]=json.dumps(s)
b=json.dumps(h).encode()
b+=b" "*(-len(b)%8)
open(sys.argv[2],"wb").write(struct.pack("<Q",len(b))+b+d[8+n:])' \
  "$tmp/m.safetensors.ckpt" "$tmp/negative.ckpt"
fails "checkpoint with a negative step" "step (a count from 0)" \
  "$train" --resume "$tmp/negative.ckpt"

echo "1..$n"
[ $failed -eq 0 ]
