#!/usr/bin/env bash
# Installs the independent implementation of the WHO Child Growth Standards that
# crates/simpul-gen/tests/who_reference.rs checks simpul_model::growth against:
# pygrowup2 (BSD-3-Clause, pure Python, no dependencies) from PyPI, in a venv at
# target/who-reference. scripts/who_zscores.py drives it.
#
# Idempotent: does nothing when the venv already holds this version.
# Usage: scripts/who-reference-setup.sh   (WHO_REFERENCE_VENV overrides the location)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${WHO_REFERENCE_VENV:-$root/target/who-reference}"
version="1.0.0"

installed() {
  [[ -x "$venv/bin/python" ]] &&
    [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("pygrowup2"))' 2>/dev/null)" == "$version" ]]
}

# shellcheck source=scripts/python-venv.sh
source "$root/scripts/python-venv.sh"
ensure_venv "who reference (pygrowup2 $version)" "$venv" installed "pygrowup2==$version"
