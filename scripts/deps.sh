#!/usr/bin/env bash
# Installs what gst-autoencoder needs to build, run and test on Debian 12.
# Usage: scripts/deps.sh [--test|--bench|--demo]
#   --test   what the test suites use beyond the build: a Vulkan device
#            (lavapipe, mesa-vulkan-drivers), the Khronos validation layer,
#            and NumPy for models/deepen-model.py
#   --bench  PyTorch and NumPy for bench/bench-cpu.py and the fixture scripts;
#            opencv-doc (vtest.avi) and ffmpeg for bench/bench-elements.sh;
#            PyWavelets for bench/bm3d.py
#   --demo   opencv-doc (vtest.avi) for scripts/demo.sh
# vtest.avi is DivX 3, which only gstreamer1.0-libav decodes.
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config
  libglib2.0-dev libjson-glib-dev libopenblas-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  libvulkan-dev libvulkan-volk-dev glslc vulkan-tools
)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(mesa-vulkan-drivers vulkan-validationlayers python3-numpy)
fi
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(python3-numpy python3-torch python3-pywt)
fi
# the element demo and benchmark: vtest.avi (opencv-doc), ffmpeg's filters
if [ "${1:-}" = "--bench" ] || [ "${1:-}" = "--demo" ]; then
  pkgs+=(opencv-doc gstreamer1.0-libav)
fi
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(ffmpeg)
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update
  # through env: sudo's env_reset would drop a plain assignment
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y \
    --no-install-recommends "${missing[@]}"
fi
