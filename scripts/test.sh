#!/usr/bin/env bash
# The whole test suite, as CI runs it: test dependencies, formatting, lints,
# no import cycle between files, then every test of every crate (unit, property, end-to-end with real agents
# on 127.0.0.1 and mDNS on `lo`, headless GUI tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
cargo fmt --all -- --check
python3 scripts/check-import-cycles.py ui/src crates/*/src
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
