"""A library server on a free port, and the standalone client package built for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcServer
from examples.library import LibraryService


@pytest.fixture(scope="session")
def client_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cello-gen build examples.library --client DIR`: the standalone client tree."""
    root = tmp_path_factory.mktemp("library")
    out, client = root / "generated", root / "client"
    assert cello_gen(["build", "examples.library", "--out", str(out), "--client", str(client)]) == 0
    return client


@pytest.fixture
async def library_server() -> AsyncIterator[GrpcServer]:
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(LibraryService())
    await server.start()
    yield server
    await server.stop(0)
