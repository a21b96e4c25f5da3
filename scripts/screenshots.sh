#!/usr/bin/env bash
# Run `edgefleet --demo 40` under Xvfb (loopback only) and save one
# screenshot per tab, plus one with a fit panel open, to docs/.
# Needs: xvfb, imagemagick (scripts/install-gui-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DISPLAY_NUM="${DISPLAY_NUM:-:99}"
WAIT_S="${WAIT_S:-8}"
cargo build -p edgefleet
BIN="${CARGO_TARGET_DIR:-target}/debug/edgefleet"
mkdir -p docs

Xvfb "$DISPLAY_NUM" -screen 0 1440x900x24 -nolisten tcp &
XVFB_PID=$!
trap 'kill "$XVFB_PID" 2>/dev/null || true' EXIT
sleep 1

shot() { # shot <name> <args…>
    local name=$1; shift
    # A fresh config dir, so no saved layout changes what the screenshot shows.
    XDG_DATA_HOME="$(mktemp -d)" DISPLAY="$DISPLAY_NUM" "$BIN" --demo 40 "$@" &
    local pid=$!
    sleep "$WAIT_S"
    DISPLAY="$DISPLAY_NUM" import -window root "docs/$name.png"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "saved docs/$name.png"
}

shot screenshot-map --start-tab map
WAIT_S=$((WAIT_S + 12)) shot screenshot-charts --start-tab charts --demo-fit --demo-deploy
shot screenshot-fit --start-tab map --demo-fit
WAIT_S=$((WAIT_S + 4)) shot screenshot-deployments --start-tab deployments --demo-deploy
