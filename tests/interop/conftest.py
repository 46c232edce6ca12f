"""Shared fixtures for the peer-client tests: stubs built by the real CLI, a real server.

`cello_server` serves `examples.library` and `examples.seed_services` with reflection
on, from the stubs `cello-gen build` wrote, on an event loop in a background thread,
so plain (sync) tests can run peer programs against it. One server per session.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from cello.grpc import GrpcConfig, GrpcServer
from tests.loop_thread import LoopThread

REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = Path(__file__).resolve().parent / "peers"
for _path in (REPO, PEERS_DIR):  # `examples` for the server, `peers` for the tests
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

TARGETS = ("examples.library", "examples.seed_services")
LIBRARY_PROTO = "demo/library/v1/library.proto"
SEED_PROTO = "examples/seed_services/seed_services.proto"

T = TypeVar("T")


def _cello_gen(*args: str) -> str:
    """Run `python -m cello.codegen.cli ARGS` from the repository root; returns stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "cello.codegen.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"cello-gen {' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


@dataclass(frozen=True, slots=True)
class Served:
    """A running Cello server and the `cello-gen build` directory it serves from."""

    address: str
    out: Path


@pytest.fixture(scope="session")
def cello_gen() -> Callable[..., str]:
    """The `cello-gen` CLI as a function: `cello_gen("build", "mod", "--out", dir)`."""
    return _cello_gen


@pytest.fixture(scope="session")
def stubs_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cello-gen build examples.library examples.seed_services --out DIR`."""
    out = tmp_path_factory.mktemp("cello-gen")
    _cello_gen("build", *TARGETS, "--out", str(out))
    for proto in (LIBRARY_PROTO, SEED_PROTO):
        assert (out / proto).is_file(), f"cello-gen wrote no {proto}"
    return out


@pytest.fixture(scope="session")
def cello_server(stubs_out: Path) -> Iterator[Served]:
    """LibraryService, UserService and OrderService on 127.0.0.1, reflection on."""
    from examples.library import LibraryService
    from examples.seed_services import OrderService, UserService

    server = GrpcServer(
        host="127.0.0.1", port=0, config=GrpcConfig(reflection=True), stubs_dir=stubs_out
    )
    for service in (LibraryService(), UserService(), OrderService()):
        server.register_service(service)
    loop = LoopThread()
    try:
        loop.run(server.start())
        yield Served(address=server.address, out=stubs_out)
        loop.run(server.stop(0))
    finally:
        loop.close()
