#!/usr/bin/env bash
# Everything CI checks: formatting, lints, and every test (unit, property, crash,
# CLI process and JavaScript interoperability tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing node and npm (needed by the Automerge interoperability test)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm; else sudo apt-get update -qq && sudo apt-get install -y -qq nodejs npm; fi
fi
cargo fmt --all -- --check
# The sync engine and the simulator stay free of IO runtimes and databases (STYLE rule 1).
for crate in simpul-sync simpul-sim; do
  if cargo tree --locked -e normal -p "$crate" --prefix none | grep -E '^(tokio|quinn|redb) ' ; then
    echo "$crate must not depend on tokio, quinn or redb" >&2
    exit 1
  fi
done
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --workspace
