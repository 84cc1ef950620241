#!/usr/bin/env bash
# How the shipped models were made (models/README.md has their cards).
# Runs were interrupted and resumed as the cards say; run straight through,
# these commands give models of the same recipe, not the same bytes (the
# cosine schedule restarted at each resume with a longer --steps). Models
# trained before commit 808c15b started their residual head at full scale
# (ae-train now starts it at a tenth): their commands now start elsewhere.
#
# Usage: models/train-models.sh WORKDIR [MODEL...]
#   MODEL: denoise-luma denoise-luma-fast denoise-rgb-fast superres-x2-luma-fast
#          superres-x2-luma superres-x3-luma-fast superres-x4-luma-fast
#          anomaly-vtest (default: all)
# Needs a build (ae-train in build/tools), Debian's plasma-workspace-wallpapers,
# opencv-doc and python3-skimage (colour photos), python3-opencv for the
# anomaly clips, python3-numpy, and ../shared/data/train400.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=${1:?usage: train-models.sh WORKDIR [MODEL...]}
shift
models=${*:-denoise-luma denoise-luma-fast denoise-rgb-fast superres-x2-luma-fast superres-x2-luma superres-x3-luma-fast superres-x4-luma-fast anomaly-vtest}
train=${AE_TRAIN:-$src/build/tools/ae-train}
train400=${TRAIN400:-$src/../shared/data/train400}
mkdir -p "$work/wall"

# one image per wallpaper: its 1920x1080 version, else its smallest
for d in /usr/share/wallpapers/*/; do
  imgs=$d/contents/images
  f=$(ls "$imgs" | grep -E '^1920x1080\.' | head -1 || true)
  [ -n "$f" ] || f=$(ls "$imgs" | sort -t x -k1 -n | head -1)
  ln -sf "$imgs/$f" "$work/wall/$(basename "$d").${f##*.}"
done

for m in $models; do
  case $m in
    denoise-luma)
      # run as 100000 steps, then resumed from its step-8000 checkpoint
      # with --steps 30000 (the cosine schedule shortened from there), then
      # resumed with --steps 45000 (a warm restart; the shipped run resumed
      # from its step-29500 checkpoint)
      "$train" --task denoise --preset dn-wide --data "$train400" \
        --data "$work/wall" --steps 30000 --batch 16 --patch 64 \
        --sigma 0,55 --poisson 0.2 --lr 5e-4 --seed 1 --threads 2 \
        -o "$work/$m.safetensors" || exit 1
      "$train" --resume "$work/$m.safetensors.ckpt" --steps 45000 || exit 1
      # then five more layers, identity-initialised, trained on from there
      # (the shipped run: --steps 16000, resumed at step 564 with 32000 and
      # at step 9584 with 26000)
      python3 "$src/models/deepen-model.py" "$work/$m.safetensors" \
        "$work/$m-deep-init.safetensors" c2 c4 c6 c8 c9 || exit 1
      "$train" --init "$work/$m-deep-init.safetensors" --data "$train400" \
        --data "$work/wall" --steps 26000 --batch 16 --patch 64 \
        --sigma 0,55 --poisson 0.2 --lr 2e-4 --seed 1 --threads 2 \
        -o "$work/$m-deep.safetensors" || exit 1
      # and a warm restart at half that rate (the shipped run: --steps
      # 36000, resumed at step 2639 with 30000, at 6431 with 26000 and at
      # 15897 with 23000)
      "$train" --init "$work/$m-deep.safetensors" --data "$train400" \
        --data "$work/wall" --steps 23000 --batch 16 --patch 64 \
        --sigma 0,55 --poisson 0.2 --lr 1e-4 --seed 2 --threads 2 \
        -o "$work/$m-restart.safetensors" || exit 1
      # and another on 96-pixel patches, batch 8 (the shipped run: --steps
      # 28000, resumed at step 464 with 18000, at 2376 with the same, at 2733
      # with 22000, at 4840 with 18000, at 5023 with 16000 and at 7552 with
      # 26000)
      "$train" --init "$work/$m-restart.safetensors" --data "$train400" \
        --data "$work/wall" --steps 26000 --batch 8 --patch 96 \
        --sigma 0,55 --poisson 0.2 --lr 1e-4 --seed 3 --threads 2 \
        -o "$work/$m.safetensors" ;;
    denoise-luma-fast)
      # run as 80000 steps, then resumed from its step-79500 checkpoint
      # with --steps 160000 (a second cosine cycle)
      "$train" --task denoise --preset dn-fast --data "$train400" \
        --data "$work/wall" --steps 160000 --batch 16 --patch 64 \
        --sigma 0,55 --poisson 0.2 --seed 1 --threads 1 \
        -o "$work/$m.safetensors" ;;
    denoise-rgb-fast)
      # the wallpapers and 23 colour photos that are not among the
      # validation images of its card
      mkdir -p "$work/rgb"
      for f in HappyFish.jpg aero1.jpg aero3.jpg aloeL.jpg apple.jpg \
          board.jpg ela_original.jpg graf1.png graf3.png leuvenA.jpg \
          messi5.jpg orange.jpg rubberwhale1.png smarties.png \
          squirrel_cls.jpg starry_night.jpg stuff.jpg left.jpg \
          pca_test1.jpg; do
        ln -sf "/usr/share/doc/opencv-doc/examples/data/$f" "$work/rgb/"
      done
      for f in motorcycle_left.png retina.jpg ihc.png hubble_deep_field.jpg; do
        ln -sf "/usr/lib/python3/dist-packages/skimage/data/$f" "$work/rgb/"
      done
      # run as 100000 steps, then resumed from its step-99500 checkpoint
      # with --steps 200000 and from its step-199500 checkpoint with
      # --steps 300000 (second and third cosine cycles)
      "$train" --task denoise --color rgb --preset dn-fast \
        --data "$work/wall" --data "$work/rgb" --steps 300000 --batch 16 \
        --patch 64 --sigma 0,55 --poisson 0.2 --seed 1 --threads 2 \
        -o "$work/$m.safetensors" ;;
    superres-x2-luma-fast)
      "$train" --task superres --scale 2 --preset sr-fast \
        --data "$train400" --data "$work/wall" --steps 30000 --batch 16 \
        --patch 64 --seed 1 --threads 1 -o "$work/$m.safetensors" ;;
    superres-x2-luma)
      # run as 12000 steps, then resumed from its step-11500 checkpoint
      # with --steps 24000 and from step 23500 with --steps 36000
      "$train" --task superres --scale 2 --preset sr-espcn \
        --data "$train400" --data "$work/wall" --steps 36000 --batch 16 \
        --patch 64 --seed 1 --threads 1 -o "$work/$m-espcn.safetensors" || exit 1
      # then six more layers, identity-initialised, trained on from there
      python3 "$src/models/deepen-model.py" "$work/$m-espcn.safetensors" \
        "$work/$m-deep-init.safetensors" c2 c3 c4 c5 c6 c7 || exit 1
      "$train" --init "$work/$m-deep-init.safetensors" --data "$train400" \
        --data "$work/wall" --steps 30000 --batch 16 --patch 64 --lr 2e-4 \
        --seed 1 --threads 2 -o "$work/$m.safetensors" ;;
    superres-x3-luma-fast | superres-x4-luma-fast)
      # run as 30000 steps, then resumed from its step-29500 checkpoint
      # with --steps 60000 (a second cosine cycle); 24-pixel input patches
      scale=${m:10:1}
      "$train" --task superres --scale "$scale" --preset sr-fast \
        --data "$train400" --data "$work/wall" --steps 60000 --batch 16 \
        --patch $((24 * scale)) --seed 1 --threads 1 \
        -o "$work/$m.safetensors" ;;
    anomaly-vtest)
      /usr/bin/python3 "$src/bench/make-anomaly-clip.py" \
        "$work/vtest-test.avi" --train-out "$work/vtest-train.avi"
      "$train" --task anomaly --preset ae-bottleneck \
        --data "$work/vtest-train.avi" --frame-step 2 --val 50 --steps 8000 \
        --batch 16 --patch 64 --seed 1 --threads 2 -o "$work/$m.safetensors" ;;
    *)
      echo "train-models.sh: unknown model '$m'" >&2
      exit 2 ;;
  esac
done
