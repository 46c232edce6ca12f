#!/usr/bin/env bash
# The suite on the oldest and on the newest releases our dependencies allow, each in a fresh
# virtual environment of its own in a temporary directory (README: Dependencies). CI runs
# both after scripts/test.sh. Extra arguments go to pytest.
#
#   bash scripts/deps-check.sh oldest   # the lower bounds, pinned by scripts/oldest-constraints.txt
#   bash scripts/deps-check.sh newest   # pip install --upgrade: the newest releases today
#
# Both install '.[test,h2,pydantic]' (the tests need [test]) and run the suite without the
# peer and browser tests, which exercise other programs rather than these versions. The
# venvs share pip's cache; the base interpreter is CELLO_PYTHON, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*"; }

mode=${1:-}
case $mode in
  oldest) install_args=(--constraint scripts/oldest-constraints.txt) ;;
  newest) install_args=(--upgrade --upgrade-strategy eager) ;;
  *)
    echo "usage: bash scripts/deps-check.sh oldest|newest [pytest arguments]" >&2
    exit 2
    ;;
esac
shift

base=${CELLO_PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

say "$mode: a fresh virtual environment ($("$base" --version)) in $tmp"
"$base" -m venv "$tmp/venv"
# shellcheck disable=SC1091
source "$tmp/venv/bin/activate"  # its cello-gen and protoc plugins first on PATH, as in .venv
unset PYTHONPATH
pip=(python -m pip --disable-pip-version-check)
if [[ $mode == newest ]]; then
  "${pip[@]}" install --quiet --upgrade pip
fi
say "$mode: pip install ${install_args[*]} -e '.[test,h2,pydantic]'"
"${pip[@]}" install --quiet "${install_args[@]}" \
  --config-settings editable_mode=compat -e '.[test,h2,pydantic]'
"${pip[@]}" check
# the versions this run tests: each pinned dependency, and two that they pull in
names=$(sed -e 's/#.*//' -e 's/==.*//' -e '/^ *$/d' scripts/oldest-constraints.txt | tr '\n' '|')
say "$mode: installed in $((SECONDS - start)) s:"
"${pip[@]}" list --format=freeze | tr '[:upper:]_' '[:lower:]-' \
  | grep -E "^(${names}googleapis-common-protos|pydantic-core)==" | sed 's/^/    /'

say "$mode: tests (pytest -m 'not peer and not browser and not hardening' $*)"
# the attack suite (hardening) runs once, in the main job: it measures servers, not versions
python -m pytest -m "not peer and not browser and not hardening" "$@"
say "$mode: passed in $((SECONDS - start)) s"
