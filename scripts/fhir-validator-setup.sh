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

# shellcheck source=scripts/python-venv.sh
source "$root/scripts/python-venv.sh"
ensure_venv "fhir validator (fhir.resources $version, FHIR 4.0.1)" "$venv" installed "${packages[@]}"
