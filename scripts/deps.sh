#!/usr/bin/env bash
# Installs what gst-autoencoder needs to build, run and test on Debian 12.
# Usage: scripts/deps.sh [--test]   (--test adds what the test suites use)
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config
  libglib2.0-dev libjson-glib-dev libopenblas-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(python3-numpy)
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
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
