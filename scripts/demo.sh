#!/usr/bin/env bash
# The main job: install Cello, generate stubs for the examples, serve them and call them.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e .
cello-gen build examples.library examples.seed_services --out generated
PYTHONPATH=. python examples/serve_and_call.py generated
