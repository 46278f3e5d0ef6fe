#!/usr/bin/env bash
# Benchmarks W1-W8 of ../shared/BENCH.md on real `simpul run` processes over QUIC on
# loopback, one JSON line per run (stdout). Generated stores are cached in target/bench.
#   scripts/bench.sh            N = 1,000 / 10,000 / 100,000, W4 at N = 1,000, W5 with
#                               1,000,000 records (generated once: ~9 min the first time),
#                               W6 with 4,000 API writes, W7 with 300 peers (~5 min more),
#                               W8 a district of 1,000,000 people with a year of audit
#                               (lists, PWS, FHIR, verify, the PostgreSQL feed)
#   scripts/bench.sh --sizes 0 --district 0 --writes 0 --fan-in 0 --rural 0 --w8 100000
#   scripts/bench.sh --quick    N = 1,000 / 10,000, W4 at N = 200, W6 800, W7 50, no W5
#   scripts/bench.sh --sizes 5000 --rural 0 --district 0
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p simpul-cli -p simpul-bench
exec target/release/simpul-bench "$@"
