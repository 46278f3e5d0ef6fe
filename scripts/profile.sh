#!/usr/bin/env bash
# Profiles one node of a benchmark run with perf (call graphs from DWARF), for the
# "where the time goes" sections of docs/benchmarks.md:
#   scripts/profile.sh w1 [N]     the receiving pustu of W1 (default N = 10,000)
#   scripts/profile.sh w6 [N]     the posyandu taking W6's API writes (default 4,000)
#   scripts/profile.sh w2 [N]     the receiving pustu of W2 (k = 1% of N, default 100,000;
#                                 W1 of N runs first, unprofiled)
# Writes target/profile/<workload>.data and .txt (perf script), then prints the frames
# with the most samples under the store's writer and the session
# (scripts/perf-callees.py ask further: which callees of a frame take the time).
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:-w1}
case "$workload" in
  w1) n=${2:-10000}; node=pu; args=(--sizes "$n" --writes 0) ;;
  w6) n=${2:-4000}; node=w6; args=(--sizes 0 --writes "$n") ;;
  w2) n=${2:-100000}; node=pu; args=(--sizes "$n" --writes 0) ;;
  *) echo "usage: $0 w1|w6|w2 [N]" >&2; exit 2 ;;
esac
# W2's receiver is the second pustu process of the run (the first took W1).
# It lasts ~1.5 s: sampled more often than the others.
skip=0; freq=800; [ "$workload" = w2 ] && { skip=1; freq=2000; }
command -v perf >/dev/null || { echo "perf is needed (Debian: linux-perf)" >&2; exit 1; }
cargo build --release --quiet -p simpul-cli -p simpul-bench
out=target/profile; mkdir -p "$out"
( seen=""; for _ in $(seq 1 30000); do
    pid=$(pgrep -f "simpul run --config $node.toml" | head -1 || true)
    if [ -n "$pid" ] && [ "$pid" != "$seen" ]; then
      if [ "$skip" -gt 0 ]; then skip=$((skip - 1)); seen=$pid; continue; fi
      perf record -F "$freq" --call-graph dwarf,32768 -o "$out/$workload.data" -p "$pid" >/dev/null 2>&1
      break
    fi
    sleep 0.01
  done ) &
target/release/simpul-bench "${args[@]}" --district 0 --w8 0 --fan-in 0 --rural 0 \
  --record-costs 0 --idle 0 --runs 1 --standby-runs 0
wait
perf script -i "$out/$workload.data" 2>/dev/null > "$out/$workload.txt"
python3 scripts/perf-callees.py 'Writer::process$' < "$out/$workload.txt"
python3 scripts/perf-callees.py 'Writer::apply$' < "$out/$workload.txt"
