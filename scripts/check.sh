#!/usr/bin/env bash
# Format check, lint, types and tests: what CI runs after installing (see scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ruff format --check .
ruff check .
mypy
python -m pytest "$@"
