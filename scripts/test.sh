#!/usr/bin/env bash
# Install everything the tests need, then run format check, lint, types and all tests.
# Peer clients (Node, Go, buf, betterproto) and headless Chromium come from Debian and npm;
# installing them needs root (CI runs as root). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[test,betterproto]'
if [[ $(id -u) == 0 ]]; then
  bash .ci/install-peers.sh
else
  bash .ci/install-peers.sh --local-go
fi
(cd tests/web/browser && npm ci --no-audit --no-fund)
bash scripts/check.sh "$@"
