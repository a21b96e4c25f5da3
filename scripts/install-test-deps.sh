#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain: Python's
# `onnx` and `onnxruntime`, which the validity test uses to check that every
# model edgefleet writes is valid ONNX that another runtime loads and agrees
# with. And Mosquitto (Debian's package), the MQTT broker the broker tests
# start on a free port of 127.0.0.1. Idempotent; quiet when already installed.
set -euo pipefail
PY=${PYTHON:-python3}
if ! "$PY" -c "import onnx, onnxruntime, numpy" 2>/dev/null; then
  "$PY" -m pip install --quiet --disable-pip-version-check onnx onnxruntime numpy
fi
"$PY" -c "import onnx, onnxruntime; print('onnx', onnx.__version__, '/ onnxruntime', onnxruntime.__version__)"
echo "ONNX Runtime library for the ort runtime: $(bash "$(dirname "$0")/install-onnxruntime.sh")"
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends mosquitto
fi
echo "mosquitto: $( (command -v mosquitto || echo /usr/sbin/mosquitto) )"
