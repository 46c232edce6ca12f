"""The interop suite's four compression cases, probed over raw HTTP/2 (the probe needs
per-message control of the compressed flag, which no grpc Python client gives) against a
Cello TestService on each transport.

client_compressed_* need the server to see each request message's flag: Cello's own h2
transport does; grpc C-core (transports aio and threads) hides it, so those cases run on h2.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cello import GrpcChannel, GrpcError
from cello.grpc import GrpcConfig
from cello.testing import ServerUnderTest, serve
from tests.interop.compression_service import TestService

Served = tuple[ServerUnderTest, Any]


@pytest.fixture(params=["aio", "threads", "h2"])
async def every(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    async with serve(TestService(), config=GrpcConfig(transport=request.param)) as srv:
        yield srv, type(srv.client(TestService)).service


@pytest.fixture
async def h2() -> AsyncIterator[Served]:
    async with serve(TestService(), config=GrpcConfig(transport="h2")) as srv:
        yield srv, type(srv.client(TestService)).service


def _method(service: Any, name: str) -> Any:
    return next(m for m in service.methods if m.name == name)


async def _call(
    srv: ServerUnderTest, method: Any, messages: list[tuple[Any, bool]]
) -> tuple[str | None, list[tuple[int, Any]]]:
    """POST framed `messages` (each compressed or not); → (grpc-status if the server
    answered trailers-only, else None: httpx does not read trailers; the response
    messages as (flag, message))."""
    body = b""
    for message, compressed in messages:
        payload = message.SerializeToString()
        if compressed:
            payload = gzip.compress(payload)
        body += struct.pack(">BI", int(compressed), len(payload)) + payload
    headers = {
        "content-type": "application/grpc",
        "te": "trailers",
        "grpc-encoding": "gzip",
        "grpc-accept-encoding": "gzip",
    }
    async with httpx.AsyncClient(http2=True, http1=False, timeout=10) as client:
        reply = await client.post(
            f"http://{srv.server.address}{method.path}", content=body, headers=headers
        )
    data, replies = reply.content, []
    while data:
        flag, length = struct.unpack_from(">BI", data)
        payload = data[5 : 5 + length]
        data = data[5 + length :]
        raw = gzip.decompress(payload) if flag else payload
        replies.append((flag, method.response_type.FromString(raw)))
    return reply.headers.get("grpc-status"), replies


async def _refused(srv: ServerUnderTest, method: str, probe: Any, *, stream: bool = False) -> bool:
    """The feature probe: an uncompressed message announced as compressed is refused with
    INVALID_ARGUMENT (a grpc client, which sends uncompressed and reads the status)."""
    async with await GrpcChannel.connect(srv.server.address) as channel:
        if stream:
            reply = await channel.call("TestService", method, requests=[probe])
        else:
            reply = await channel.call("TestService", method, probe)
    return reply.status_code == GrpcError.INVALID_ARGUMENT


async def test_client_compressed_unary(h2: Served) -> None:
    srv, service = h2
    unary = _method(service, "UnaryCall")
    request = unary.request_type
    probe = {"expect_compressed": {"value": True}, "response_size": 314159}
    assert await _refused(srv, "UnaryCall", probe)
    big = {"response_size": 314159, "payload": {"body": bytes(271828)}}
    status, [(_, reply)] = await _call(
        srv, unary, [(request(expect_compressed={"value": True}, **big), True)]
    )
    assert status is None and len(reply.payload.body) == 314159
    status, [(_, reply)] = await _call(
        srv, unary, [(request(expect_compressed={"value": False}, **big), False)]
    )
    assert status is None and len(reply.payload.body) == 314159


async def test_client_compressed_streaming(h2: Served) -> None:
    srv, service = h2
    upload = _method(service, "StreamingInputCall")
    request = upload.request_type
    probe = {"expect_compressed": {"value": True}, "payload": {"body": bytes(27182)}}
    assert await _refused(srv, "StreamingInputCall", probe, stream=True)
    first = request(expect_compressed={"value": True}, payload={"body": bytes(27182)})
    second = request(expect_compressed={"value": False}, payload={"body": bytes(45904)})
    status, [(_, reply)] = await _call(srv, upload, [(first, True), (second, False)])
    assert status is None and reply.aggregated_payload_size == 73086


async def test_server_compressed_unary(every: Served) -> None:
    srv, service = every
    unary = _method(service, "UnaryCall")
    for compressed in (True, False):
        request = unary.request_type(
            response_compressed={"value": compressed},
            response_size=314159,
            payload={"body": bytes(271828)},
        )
        _, [(flag, reply)] = await _call(srv, unary, [(request, False)])
        assert (flag, len(reply.payload.body)) == (int(compressed), 314159)


async def test_server_compressed_streaming(every: Served) -> None:
    srv, service = every
    download = _method(service, "StreamingOutputCall")
    request = download.request_type(
        response_parameters=[
            {"compressed": {"value": True}, "size": 31415},
            {"compressed": {"value": False}, "size": 92653},
        ]
    )
    _, replies = await _call(srv, download, [(request, False)])
    assert [(flag, len(r.payload.body)) for flag, r in replies] == [(1, 31415), (0, 92653)]
