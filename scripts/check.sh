#!/usr/bin/env bash
# Format check, lint, types, the benchmark smoke run and the tests, installing nothing
# (scripts/test.sh installs, then runs this). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# the Python scripts/test.sh installed into: PY from it, else .venv if there, else python3
if [[ -z ${PY:-} ]]; then
  if [[ -z ${VIRTUAL_ENV:-} && -x .venv/bin/python ]]; then
    PY="$PWD/.venv/bin/python"
    export PATH="$PWD/.venv/bin:$PATH"  # its console scripts (cello-gen, protoc plugins)
  else
    PY=python3
  fi
fi
say() { printf '==> %s\n' "$*"; }
say "format check (ruff format --check)"
"$PY" -m ruff format --check .
say "lint (ruff check)"
"$PY" -m ruff check .
say "types (mypy)"
"$PY" -m mypy
say "benchmark smoke (benchmarks/unary.py --quick)"
"$PY" benchmarks/unary.py --quick >/dev/null  # it still runs; figures: run it in full
say "benchmark smoke (benchmarks/throughput.py --quick, every transport)"
"$PY" benchmarks/throughput.py --quick --transports aio,threads,h2 >/dev/null  # h2load, byte-checked
say "benchmark smoke (benchmarks/workers.py --quick)"
"$PY" benchmarks/workers.py --quick >/dev/null  # cello serve --workers under h2load
say "benchmark smoke (benchmarks/soak.py --quick)"
"$PY" benchmarks/soak.py --quick >/dev/null  # RSS over a soak, probe latency in a flood
say "tests (pytest $*)"
"$PY" -m pytest "$@"
say "all checks passed"
