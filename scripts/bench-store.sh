#!/usr/bin/env bash
# Store figures, one JSON line each:
#   store_writes  durable inserts/s one at a time and batched, visit adds/s, bytes/record
#   gen           `simpul gen` of N people into a district store (records/s, bytes/record)
#   open          a store of N people: file size, seconds and peak RSS for a process that
#                 opens it and reads one record (median of 5 runs)
# Usage: scripts/bench-store.sh [N]   (default 100000)
set -euo pipefail
N=${1:-100000}
cd "$(dirname "$0")/.."
cargo build --release --quiet -p simpul-cli
cargo build --release --quiet -p simpul-store --example write_bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=target/release/simpul

target/release/examples/write_bench "$work/writes" 2000

$bin --data-dir "$work/district" init --path 3273 2>/dev/null
$bin --data-dir "$work/district" gen --seed 1 --patients "$N" --json | sed 's/^{/{"bench":"gen",/'

id=$($bin --data-dir "$work/district" patient list --json --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
records=$($bin --data-dir "$work/district" patient list --all --json | wc -l)
file_bytes=$(stat -c %s "$work/district/simpul.redb")
for _ in 1 2 3 4 5; do
  /usr/bin/time -f '%e %M' -o "$work/time" $bin --data-dir "$work/district" patient show "$id" >/dev/null
  cat "$work/time"
done | sort -n | sed -n 3p | {
  read -r secs rss_kb
  printf '{"bench":"open","patients":%s,"file_bytes":%s,"file_bytes_per_patient":%s,"open_and_read_one_s":%s,"peak_rss_mb":%s}\n' \
    "$records" "$file_bytes" "$((file_bytes / records))" "$secs" "$((rss_kb / 1024))"
}
