#!/usr/bin/env bash
# Run `edgefleet --demo 40` under Xvfb (loopback only) and save one
# screenshot per tab, plus one with a fit panel open, to docs/; then drive
# the window with a real pointer and keyboard (xdotool) for the selection,
# the group fit and its rollout plan, a rollout in the Deployments tab and
# the Find devices dialog; and the comparison of three variants of the demo
# MLP (int8, fp16, pruned), made by the app's --demo-compare.
# Needs: xvfb, imagemagick, xdotool (scripts/install-gui-deps.sh; apt-get
# install xdotool).
# ONLY="compare group" takes just those shots (map, charts, fit,
# deployments, group, find, compare); all of them by default.
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

want() { [[ -z "${ONLY:-}" || " $ONLY " == *" $1 "* ]]; }

want map && shot screenshot-map --start-tab map
want charts && WAIT_S=$((WAIT_S + 12)) shot screenshot-charts --start-tab charts --demo-fit --demo-deploy
want fit && WAIT_S=$((WAIT_S + 10)) shot screenshot-fit --start-tab map --demo-measure
want deployments && WAIT_S=$((WAIT_S + 4)) shot screenshot-deployments --start-tab deployments --demo-deploy
# Making and measuring the three variants takes a while in a debug build.
want compare && WAIT_S=$((WAIT_S + 40)) shot screenshot-compare --start-tab map --demo-compare

# The fleet-wide views, driven like a user would (coordinates are for the
# 1440x900 window of a fresh layout).
drive() { # drive <name> <steps function>
    local name=$1 steps=$2
    XDG_DATA_HOME="$(mktemp -d)" DISPLAY="$DISPLAY_NUM" "$BIN" --demo 40 --start-tab map &
    local pid=$!
    sleep "$WAIT_S"
    local win
    win=$(DISPLAY="$DISPLAY_NUM" xdotool search --name edgefleet | head -1)
    DISPLAY="$DISPLAY_NUM" xdotool windowfocus --sync "$win"
    "$steps"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}
x() { DISPLAY="$DISPLAY_NUM" xdotool "$@"; }
snap() { # the pointer moves off the lists first, so no tooltip hides them
    x mousemove 760 880
    sleep 0.8
    DISPLAY="$DISPLAY_NUM" import -window root "docs/$1.png"
    echo "saved docs/$1.png"
}
# Drag from (x1,y1) to (x2,y2) in small steps, as a hand would.
drag() {
    x mousemove "$1" "$2" mousedown 1
    sleep 0.3
    for f in 1 2 3 4 5 6 7 8; do
        x mousemove $(( $1 + ($3 - $1) * f / 8 )) $(( $2 + ($4 - $2) * f / 8 ))
        sleep 0.15
    done
    sleep 0.5
    x mouseup 1
}
group_steps() {
    x mousemove 88 271 click 1      # one device
    sleep 0.5
    x key ctrl+a                     # every device the filter shows
    sleep 1
    drag 1221 307 88 352             # the CNN card onto a selected row
    sleep 2
    snap screenshot-group-fit
    x mousemove 487 509 click 1      # Roll out…: the plan
    sleep 1.5
    snap screenshot-rollout-plan
    x mousemove 502 565 click 1      # Roll out to 40
    sleep 8
    snap screenshot-rollout
}
find_steps() {
    x mousemove 1296 12 click 1      # Find devices
    sleep 1.5
    snap screenshot-find-devices
    x mousemove 88 271 click 1       # a device, for its detail
    sleep 1.5
    snap screenshot-device-detail
    x key Return                     # the detail in a window of its own
    sleep 1.5
    snap screenshot-detail-window
}
if want group; then drive group group_steps; fi
if want find; then drive find find_steps; fi
