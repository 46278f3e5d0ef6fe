#!/usr/bin/env bash
# Installs the independent FHIR R4 validator used by scripts/fhir_validate.py and the
# simpul-fhir tests: a Python venv at target/fhir-validator with fhir.resources from PyPI.
#
# fhir.resources 6.4.0 is the last release on FHIR R4 (4.0.1): 6.5.0 moved to R4B
# (4.3.0) and 7.x to R5. It is built on pydantic v1, so pydantic is pinned below 2.
# Every package is pinned to the versions checked on Python 3.11.
#
# Idempotent: does nothing when the venv already holds this version.
# Usage: scripts/fhir-validator-setup.sh   (FHIR_VALIDATOR_VENV overrides the location)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${FHIR_VALIDATOR_VENV:-$root/target/fhir-validator}"
version="6.4.0"
packages=(
  "fhir.resources==$version"
  "pydantic==1.10.27"
  "email-validator==2.4.0"
  "dnspython==2.9.2"
  "idna==3.20"
  "typing_extensions==4.16.0"
)

installed() {
  [[ -x "$venv/bin/python" ]] && "$venv/bin/python" - "$version" <<'EOF' 2>/dev/null
import sys
import fhir.resources as f
sys.exit(0 if (f.__version__, f.__fhir_version__) == (sys.argv[1], "4.0.1") else 1)
EOF
}

# Two test runs may set up at once: one installs, the other waits and then skips.
mkdir -p "$(dirname "$venv")"
if command -v flock >/dev/null; then
  exec 9>"$venv.lock"
  flock 9
fi

if installed; then
  echo "fhir validator: fhir.resources $version already in $venv"
  exit 0
fi
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "fhir validator: $python not found" >&2; exit 1; }
echo "fhir validator: installing fhir.resources $version into $venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
installed || { echo "fhir validator: installed, but fhir.resources $version (FHIR 4.0.1) does not import" >&2; exit 1; }
echo "fhir validator: ready"
