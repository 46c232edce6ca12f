#!/usr/bin/env bash
# The main job: install Cello, generate stubs for the examples, serve them and call them.
#
#   bash scripts/demo.sh
#
# Outside a virtual environment it creates (or reuses) .venv; see scripts/python-env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-env.sh

use_python
say "installing Cello into $("$PY" -c 'import sys; print(sys.prefix)') (pip install -e .)"
pip_install --config-settings editable_mode=compat -e .
say "generating .proto and stubs: cello-gen build examples.library examples.seed_services --out generated"
cello_gen build examples.library examples.seed_services --out generated >/dev/null
say "serving the example services on 127.0.0.1 and calling them"
PYTHONPATH=. "$PY" examples/serve_and_call.py generated
cat <<SUMMARY
==> done
    installed   cello-grpc in $("$PY" -c 'import sys; print(sys.prefix)')
    generated   $(find generated -name '*.proto' | sort | paste -sd ' ')
    served      LibraryService, UserService, OrderService, and called them over gRPC
    next        ${VIRTUAL_ENV:+. $VIRTUAL_ENV/bin/activate; }cello-gen proto examples.library:LibraryService
SUMMARY
