#!/usr/bin/env bash
# Format check, lint, types and tests: what CI runs after installing (see scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ruff format --check .
ruff check .
mypy
python benchmarks/unary.py --quick >/dev/null  # the benchmark still runs (figures: run it in full)
python benchmarks/workers.py --quick >/dev/null  # cello serve --workers under h2load (needs nghttp2-client)
python -m pytest "$@"
