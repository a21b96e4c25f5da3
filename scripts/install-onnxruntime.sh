#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that edgefleet's `ort` runtime
# loads at run time (nothing is downloaded when building). It comes from the
# pinned PyPI `onnxruntime` wheel, which carries
# onnxruntime/capi/libonnxruntime.so.<version> and needs only glibc and
# libstdc++; any Python tag's wheel holds the same library.
#
#   scripts/install-onnxruntime.sh [DEST_DIR]
#
# DEST_DIR defaults to ${XDG_DATA_HOME:-~/.local/share}/edgefleet/lib, where
# the agent and the console look (after --ort-lib and ORT_DYLIB_PATH). A
# `lib/` folder next to the binaries works too. Idempotent: does nothing when
# the library is already there. Prints the library's path.
set -euo pipefail
VERSION=${ORT_VERSION:-1.32.0}
PY=${PYTHON:-python3}
DEST=${1:-${XDG_DATA_HOME:-$HOME/.local/share}/edgefleet/lib}
LIB="$DEST/libonnxruntime.so.$VERSION"
if [ -f "$LIB" ]; then
  echo "$LIB"
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-aarch64) ;;
  *) echo "install-onnxruntime.sh: only Linux x86_64/aarch64 wheels are handled here; pass --ort-lib to a library you have" >&2; exit 1 ;;
esac
mkdir -p "$DEST"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  "onnxruntime==$VERSION" -d "$TMP" >&2
WHEEL=$(ls "$TMP"/onnxruntime-"$VERSION"-*.whl)
"$PY" - "$WHEEL" "$VERSION" "$LIB" <<'PYEOF'
import os, shutil, sys, zipfile
wheel, version, dest = sys.argv[1:]
member = f"onnxruntime/capi/libonnxruntime.so.{version}"
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest + ".part", "wb") as out:
    shutil.copyfileobj(src, out)
os.chmod(dest + ".part", 0o755)
os.replace(dest + ".part", dest)
PYEOF
echo "$LIB"
