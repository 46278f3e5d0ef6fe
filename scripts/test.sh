#!/usr/bin/env bash
# Everything CI checks: formatting, lints, and every test (unit, property, crash,
# CLI process and JavaScript interoperability tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing node and npm (needed by the Automerge interoperability test)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm; else sudo apt-get update -qq && sudo apt-get install -y -qq nodejs npm; fi
fi
# The analytics feed's tests start a real PostgreSQL server from the distribution.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  echo "installing postgresql (needed by the analytics feed's tests)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql; else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql; fi
fi
# The dashboard test loads the page in a real headless browser.
if ! command -v chromium >/dev/null; then
  echo "installing chromium (needed by the dashboard test)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi
fi
# The package test checks the systemd unit with systemd-analyze (no running systemd needed).
if ! command -v systemd-analyze >/dev/null; then
  echo "installing systemd (systemd-analyze, needed by the package test)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq systemd; else sudo apt-get update -qq && sudo apt-get install -y -qq systemd; fi
fi
cargo fmt --all -- --check
# fuzz/ is its own workspace: its lock must follow the crates' dependencies.
(cd fuzz && cargo metadata --locked --format-version 1 >/dev/null) ||
  { echo "fuzz/Cargo.lock is stale: run 'cargo metadata --format-version 1' in fuzz/ and commit it" >&2; exit 1; }
# The sync engine stays free of IO runtimes and databases (STYLE rule 1); the simulator
# runs the real store (redb on a simulated disk) but no IO runtime or network.
if cargo tree --locked -e normal -p simpul-sync --prefix none | grep -E '^(tokio|quinn|redb) ' ; then
  echo "simpul-sync must not depend on tokio, quinn or redb" >&2
  exit 1
fi
if cargo tree --locked -e normal -p simpul-sim --prefix none | grep -E '^(tokio|quinn) ' ; then
  echo "simpul-sim must not depend on tokio or quinn" >&2
  exit 1
fi
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --workspace
