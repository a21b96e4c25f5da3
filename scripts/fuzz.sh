#!/usr/bin/env bash
# Run every fuzz target under fuzz/ for a bounded time (default 60 s each)
# with cargo-fuzz (libFuzzer, coverage-guided). The code under test is safe
# Rust, so the default sanitizer is none (panics, hangs and OOMs are what is
# looked for; FUZZ_SANITIZER=address adds ASan). The toolchain is stable:
# RUSTC_BOOTSTRAP lets cargo-fuzz pass its -Z flags.
# A crash leaves its input under fuzz/artifacts/TARGET/; turn it into a
# regression test in the crate that owns the parser, then fix it.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edgefleet/target}-fuzz"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# Start from the workspace's versions of every dependency.
[ -f fuzz/Cargo.lock ] || cp Cargo.lock fuzz/Cargo.lock
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "== $t: ${seconds} s"
    # -rss_limit_mb: the ONNX decoder may allocate what a header claims; 2 GB bounds it.
    log="$CARGO_TARGET_DIR/fuzz-$t.log"
    mkdir -p "$CARGO_TARGET_DIR"
    if ! cargo fuzz run --sanitizer "${FUZZ_SANITIZER:-none}" --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "FAILED: $t (crash inputs, if any: fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    grep -E "^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added)" "$log" || tail -n 3 "$log"
done
echo "fuzz: ${#targets[@]} target(s), ${seconds} s each, no crash"
