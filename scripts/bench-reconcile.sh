#!/usr/bin/env bash
# Reconciliation cost between two real sync sessions (in memory, no network): bytes and
# round trips for 100,000 and 1,000,000 records with few or many differences, and the
# wire bytes of sending records whole to an empty peer. One JSON line per case.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -p simpul-sync --example reconcile_bench
