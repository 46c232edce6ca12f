"""`python -m cello serve module:app`: see `cello serve --help`."""

from __future__ import annotations

from ._cli.serve import main

if __name__ == "__main__":
    raise SystemExit(main())
