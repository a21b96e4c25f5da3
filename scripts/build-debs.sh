#!/usr/bin/env bash
# Build the Debian packages of the console (edgefleet) and the agent
# (edgefleet-agent) with cargo-deb: release binaries, man pages and shell
# completions generated from the binaries' own clap definitions, the
# desktop entry and hicolor icons, the agent's systemd unit.
# Output: $CARGO_TARGET_DIR/debian/*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edgefleet/target}"
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked
fi
# Two builds: built together, cargo would unify features and link the
# console's training library (candle) into the agent too.
cargo build --release --locked -p edgefleet-agent --bin edgefleet-agent
cargo build --release --locked -p edgefleet --bin edgefleet
rel="$CARGO_TARGET_DIR/release"
# cargo-deb maps asset paths under target/release/ to $CARGO_TARGET_DIR/release/.
gen="$rel/deb-assets"
rm -rf "$gen"
for bin in edgefleet edgefleet-agent; do
    mkdir -p "$gen/$bin/man"
    "$rel/$bin" man --dir "$gen/$bin/man"
    gzip -9n "$gen/$bin/man/"*.1
    "$rel/$bin" completions bash >"$gen/$bin/$bin.bash"
    "$rel/$bin" completions zsh >"$gen/$bin/_$bin"
    "$rel/$bin" completions fish >"$gen/$bin/$bin.fish"
done
out="$CARGO_TARGET_DIR/debian"
mkdir -p "$out"
cargo deb --no-build -p edgefleet-agent --output "$out"
cargo deb --no-build -p edgefleet --output "$out"
ls -l "$out"/*.deb
