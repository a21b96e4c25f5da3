#!/usr/bin/env bash
# Debian/Ubuntu packages to run the edgefleet window headless under Xvfb
# (glow backend on Mesa software GL) and take screenshots.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
    xvfb imagemagick \
    libgl1 libegl1 libgl1-mesa-dri \
    libx11-6 libx11-xcb1 libxcursor1 libxrandr2 libxi6 \
    libxkbcommon0 libxkbcommon-x11-0 libwayland-client0 libwayland-egl1 \
    fonts-dejavu-core
