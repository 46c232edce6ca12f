"""Compression per message: whether a request arrived compressed, a server stream that
compresses some messages only, and clients compressing requests."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator

import httpx
import pytest

from cello import GrpcChannel
from cello.grpc import GrpcConfig
from cello.testing import ServerUnderTest, serve

from .compression_services import Squeeze

TRANSPORTS = ["aio", "threads", "h2"]


@pytest.fixture(params=TRANSPORTS, ids=TRANSPORTS)
async def squeeze(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ServerUnderTest, str]]:
    async with serve(Squeeze(), config=GrpcConfig(transport=request.param)) as srv:
        yield srv, request.param


async def test_a_handler_sees_whether_the_request_arrived_compressed(
    squeeze: tuple[ServerUnderTest, str],
) -> None:
    srv, transport = squeeze
    address = srv.server.address
    async with await GrpcChannel.connect(address, raise_on_error=True) as plain:
        async with await GrpcChannel.connect(
            address, raise_on_error=True, compression="gzip"
        ) as gzipped:
            blob = {"data": b"A" * 400}
            as_sent = (await plain.call("Squeeze", "Arrived", blob)).data["compressed"]
            per_call = await plain.call("Squeeze", "Arrived", blob, compression="gzip")
            per_client = await gzipped.call("Squeeze", "Arrived", blob)
            opted_out = await gzipped.call("Squeeze", "Arrived", blob, compression="identity")
            stream = await gzipped.call("Squeeze", "ArrivedStream", requests=[blob, blob])
    if transport == "h2":  # Cello's own HTTP/2 server reads the frame's flag
        assert as_sent == "False" and opted_out.data["compressed"] == "False"
        assert per_call.data["compressed"] == per_client.data["compressed"] == "True"
        assert stream.data["compressed"] == "True,True"
    else:  # grpc C-core decompresses and does not tell
        assert {as_sent, per_call.data["compressed"], per_client.data["compressed"]} == {"None"}


async def test_a_server_stream_compresses_some_messages_only(
    squeeze: tuple[ServerUnderTest, str],
) -> None:
    srv, _ = squeeze
    binding = type(srv.client(Squeeze)).service.methods[2]
    assert binding.name == "Mixed"
    request = binding.request_type().SerializeToString()  # type: ignore[attr-defined]
    async with httpx.AsyncClient(http2=True, http1=False) as client:
        reply = await client.post(
            f"http://{srv.server.address}{binding.path}",
            content=struct.pack(">BI", 0, len(request)) + request,
            headers={
                "content-type": "application/grpc",
                "te": "trailers",
                "grpc-accept-encoding": "gzip",
            },
        )
    body, flags = reply.content, []
    while body:
        flag, length = struct.unpack_from(">BI", body)
        flags.append(flag)
        body = body[5 + length :]
    assert flags == [1, 0, 1, 0]
