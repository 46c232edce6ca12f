"""Every shape a server-stream handler may return, over the wire on every transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc.aio
import pytest

from cello import GrpcConfig, GrpcServer
from cello._definitions.config import TRANSPORTS

from .stream_services import Streams

SERVICE = "streams.v1.Streams"


@pytest.fixture(params=TRANSPORTS)
async def server(request: pytest.FixtureRequest) -> AsyncIterator[GrpcServer]:
    srv = GrpcServer("127.0.0.1", 0, GrpcConfig(transport=request.param, health=False))
    srv.register_service(Streams())
    await srv.start()
    yield srv
    await srv.stop(0)


async def stream(server: GrpcServer, name: str, n: int) -> list[int]:
    binding = server.bindings[SERVICE]
    method = next(m for m in binding.methods if m.name == name)
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = channel.unary_stream(
            f"/{SERVICE}/{name}",
            request_serializer=method.request_type.SerializeToString,
            response_deserializer=method.response_type.FromString,
        )(method.request_type(n=n))
        return [reply.n async for reply in call]


@pytest.mark.parametrize(
    "name",
    ["Generated", "Iterator", "Iterable", "Listed", "Synced"],
    ids=["async-generator", "async-iterator", "async-iterable", "list", "def-list"],
)
async def test_each_shape_streams_its_items(server: GrpcServer, name: str) -> None:
    assert await stream(server, name, 3) == [2, 1, 0]
    assert await stream(server, name, 0) == []


async def test_a_single_returned_item_is_a_stream_of_one(server: GrpcServer) -> None:
    assert await stream(server, "Single", 7) == [7]
