"""Shared fixtures: the repository root on sys.path, and the golden-file rewrite flag."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `examples` and `tests.*` helper modules


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens", action="store_true", help="rewrite tests/codegen/cases/*/expected"
    )


@pytest.fixture(autouse=True, scope="session")
def _private_stub_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """On-the-fly stubs go to a per-session cache, never the user's ~/.cache."""
    import os

    os.environ["CELLO_CACHE_DIR"] = str(tmp_path_factory.mktemp("cello-cache"))
