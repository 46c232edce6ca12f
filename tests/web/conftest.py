"""Shared fixtures for the gRPC-Web tests: a real uvicorn server in a background thread."""

from __future__ import annotations

import os
import sys

import pytest

from tests.loop_thread import LoopThread

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_HERE = os.path.dirname(os.path.abspath(__file__))
for _p in (_ROOT, _HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: end-to-end test driving headless Chromium")


@pytest.fixture(scope="session")
def loop_thread():
    lt = LoopThread()
    yield lt
    lt.close()
