# Sourced by demo.sh and test.sh: choose the Python to install into and run with.
#
# - CELLO_PYTHON=/path/to/python: use that interpreter as it is.
# - Already in a virtual environment (activated, or python3 is a venv's): use it.
# - Otherwise use .venv at the repository root, creating it if missing: Debian's python3
#   refuses `pip install` outside a venv (PEP 668, "externally managed") and Debian has
#   no `python` command, so the scripts only ever call python3 or the venv's python.
#
# Sets and exports PY (an absolute path) and, for a venv, activates it so its console scripts
# (cello-gen, ruff, mypy, pytest) come first on PATH.

say() { printf '==> %s\n' "$*"; }

use_python() {
  if [[ -n ${CELLO_PYTHON:-} ]]; then
    PY="$(command -v "$CELLO_PYTHON")" || { echo "CELLO_PYTHON=$CELLO_PYTHON not found" >&2; return 1; }
    say "using $PY (CELLO_PYTHON)"
    export PY
    return
  fi
  command -v python3 >/dev/null || {
    echo "python3 not found; install Python >= 3.11 (Debian: apt-get install python3 python3-venv)" >&2
    return 1
  }
  if python3 -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
    PY="$(command -v python3)"
    say "using the active virtual environment $(python3 -c 'import sys; print(sys.prefix)')"
    export PY
    return
  fi
  if [[ ! -x .venv/bin/python ]]; then
    if ! python3 -c 'import ensurepip' 2>/dev/null; then
      if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        say "installing python3-venv (Debian splits venv support out of python3)"
        apt-get install -y -qq python3-venv >/dev/null
      else
        echo "python3 cannot create virtual environments; as root: apt-get install python3-venv" >&2
        return 1
      fi
    fi
    say "creating a virtual environment in .venv ($(python3 --version))"
    python3 -m venv .venv
  else
    say "using the virtual environment .venv"
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
  PY="$PWD/.venv/bin/python"
  export PY
}

# `cello-gen` of the chosen Python (its console script, else the module).
cello_gen() {
  local script
  script="$(dirname "$PY")/cello-gen"
  if [[ -x $script ]]; then "$script" "$@"; else "$PY" -m cello.codegen.cli "$@"; fi
}

pip_install() {
  "$PY" -m pip install --quiet --disable-pip-version-check "$@"
}
