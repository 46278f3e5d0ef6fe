#!/usr/bin/env bash
# Fuzzes every decoder of outside bytes (fuzz/fuzz_targets) with libFuzzer on the stable
# toolchain: the coverage instrumentation cargo-fuzz asks rustc for is made of stable
# flags; only its sanitizers need nightly, and Rust's own checks (bounds, overflow,
# debug assertions) stand in for them.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 600 s, every target)
#
# Before fuzzing, every kept crasher in fuzz/regressions/<target>/ is run and must pass.
# Seeds are made afresh from a real session, real certificates and the shipped configs.
# The corpus grows in fuzz/target/fuzz-work/corpus/<target>; a crasher is written to
# fuzz/target/fuzz-work/artifacts/<target>/ and the script fails, naming it. Each
# target's executions are printed at the end (and appended to fuzz/target/fuzz-work/runs).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-600}
shift || true
all=(frames session reconcile record zstd admin http config certificate import bundle)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  --cfg fuzzing
  -Cdebug-assertions
  -Coverflow-checks
)
export RUSTFLAGS="${flags[*]}"
# An explicit target keeps the flags off build scripts, which run without libFuzzer.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --locked --release --bins --target "$host"
bin=target/$host/release
work=target/fuzz-work
mkdir -p "$work"
rm -rf "$work/seeds"
SIMPUL_FUZZ_SEEDS="$work/seeds" SIMPUL_FUZZ_CONFIGS=../node-config "$bin/frames"

summary=()
for t in "${targets[@]}"; do
  if compgen -G "regressions/$t/*" >/dev/null; then
    echo "== $t: replaying kept crashers"
    "$bin/$t" regressions/"$t"/*
  fi
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  echo "== $t: fuzzing for $seconds s"
  log="$work/$t.log"
  status=0
  "$bin/$t" "$work/corpus/$t" "$work/seeds/$t" \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -max_len=262144 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  grep -E '^#[0-9]+ +(DONE|pulse)' "$log" | tail -1 || true
  if [ "$status" != 0 ]; then
    tail -40 "$log"
    echo "fuzz target $t failed (exit $status): crasher in $work/artifacts/$t/" >&2
    echo "keep it as a regression input: cp it to fuzz/regressions/$t/ once fixed" >&2
    exit 1
  fi
  line="$t: ${runs:-?} executions in $seconds s"
  echo "$line"
  echo "$(date -u +%FT%TZ) $line" >>"$work/runs"
  summary+=("$line")
done
echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
