"""A real Cello server on 127.0.0.1 with a free port, and plain grpc.aio stubs to call it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio
import pytest

from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcConfig, GrpcServer

from .services import EVENTS, DictService, EchoService


@pytest.fixture(scope="session")
def stubs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cello-gen build` of the test services, importable as `rt.v1.rt_pb2_grpc`."""
    out = tmp_path_factory.mktemp("stubs")
    assert cello_gen(["build", "tests.runtime.services", "--out", str(out)]) == 0
    sys.path.insert(0, str(out))
    return out


@pytest.fixture(scope="session")
def pb(stubs_dir: Path) -> tuple[ModuleType, ModuleType]:
    """The generated `_pb2` and `_pb2_grpc` modules, as any grpc user would import them."""
    from rt.v1 import rt_pb2, rt_pb2_grpc  # type: ignore[import-not-found]

    return rt_pb2, rt_pb2_grpc


async def start_server(stubs_dir: Path | None, config: GrpcConfig | None = None) -> GrpcServer:
    server = GrpcServer(host="127.0.0.1", port=0, config=config, stubs_dir=stubs_dir)
    server.register_service(EchoService())
    server.register_service(DictService())
    await server.start()
    return server


@pytest.fixture
async def server(stubs_dir: Path) -> AsyncIterator[GrpcServer]:
    EVENTS.clear()
    srv = await start_server(stubs_dir, GrpcConfig(reflection=True))
    yield srv
    await srv.stop(0)


@pytest.fixture
async def channel(server: GrpcServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as ch:
        yield ch


@pytest.fixture
def echo(channel: grpc.aio.Channel, pb: tuple[ModuleType, ModuleType]) -> Any:
    return pb[1].EchoServiceStub(channel)


@pytest.fixture
def dicts(channel: grpc.aio.Channel, pb: tuple[ModuleType, ModuleType]) -> Any:
    return pb[1].DictServiceStub(channel)
