"""`cello serve`: the command line, one server process, and the `--workers`/`--reload`
supervisor.

Imports `_server` and `_definitions`; `options.py` is what both `serve` and `supervisor`
use, so neither imports the other at module level.
"""
