# Sourced by the scripts that install a Python tool from PyPI into a venv for the tests
# (fhir-validator-setup.sh, who-reference-setup.sh): one install at a time, idempotent.
#
#   ensure_venv NAME VENV INSTALLED_FN PACKAGE...
# Does nothing when INSTALLED_FN (a shell function) succeeds; otherwise makes VENV with
# $PYTHON (python3) and pip-installs the PACKAGEs, then checks INSTALLED_FN again.
ensure_venv() {
  local name=$1 venv=$2 installed=$3
  shift 3
  # Two test runs may set up at once: one installs, the other waits and then skips.
  mkdir -p "$(dirname "$venv")"
  if command -v flock >/dev/null; then
    exec 9>"$venv.lock"
    flock 9
  fi
  if "$installed"; then
    echo "$name: already in $venv"
    return 0
  fi
  local python=${PYTHON:-python3}
  command -v "$python" >/dev/null || { echo "$name: $python not found" >&2; return 1; }
  echo "$name: installing $* into $venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  "$installed" || { echo "$name: installed, but the check after it fails" >&2; return 1; }
  echo "$name: ready"
}
