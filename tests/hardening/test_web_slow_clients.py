"""gRPC-Web against slow, idle and oversize clients (issue 16 items 1 and 2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cello import GrpcError, GrpcServer
from tests.runtime.ports import Port, start

from .raw import (
    SERVICE,
    chunk,
    closed_by_server,
    connect,
    frame_header,
    grpc_status,
    head,
    read_response_head,
)

MAX = 64 * 1024


@pytest.fixture
async def server() -> AsyncIterator[GrpcServer]:
    srv = await start(concurrency_limit=2, web_body_timeout=1.0, max_message_size=MAX)
    yield srv
    await srv.stop(0)


def hello(port: Port, text: str) -> object:
    return port.types(f"{SERVICE}/Hello")[0](text=text)


async def test_slow_bodies_take_no_slot(server: GrpcServer) -> None:
    """Six clients trickling bodies (more than the limit of 2) block no real call."""
    slow = []
    for _ in range(6):
        reader, writer = await connect(server.web_port)
        writer.write(head(f"{SERVICE}/Hello", length=20) + b"\x00")
        await writer.drain()
        slow.append((reader, writer))
    try:
        await asyncio.sleep(0.2)
        for kind in ("grpc-web", "grpc"):
            port = Port(kind, server)
            for _ in range(3):
                result = await port.call(f"{SERVICE}/Hello", hello(port, "real"))
                assert result.code == 0, (kind, result)
    finally:
        for _, writer in slow:
            writer.close()


async def test_body_timeout_answers_then_closes(server: GrpcServer) -> None:
    reader, writer = await connect(server.web_port)
    try:
        writer.write(head(f"{SERVICE}/Hello", length=20) + b"\x00")
        await writer.drain()
        response = await read_response_head(reader, timeout=5)
        assert grpc_status(response) == GrpcError.UNAVAILABLE
        assert "connection: close" in response.lower()
        assert await closed_by_server(reader, timeout=5)
    finally:
        writer.close()


async def test_the_deadline_bounds_the_body_read() -> None:
    server = await start(web_body_timeout=30.0)
    try:
        reader, writer = await connect(server.web_port)
        writer.write(head(f"{SERVICE}/Hello", "grpc-timeout: 200m", length=20) + b"\x00")
        await writer.drain()
        response = await read_response_head(reader, timeout=5)
        assert grpc_status(response) == GrpcError.DEADLINE_EXCEEDED
        writer.close()
    finally:
        await server.stop(0)


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /calltest.v1.CallService/Hello HTTP/1.1\r\nHost: x\r\n"],
    ids=["idle", "half-sent-head"],
)
async def test_idle_and_half_sent_connections_are_closed(server: GrpcServer, sent: bytes) -> None:
    reader, writer = await connect(server.web_port)
    try:
        writer.write(sent)
        await writer.drain()
        assert await closed_by_server(reader, timeout=5)
    finally:
        writer.close()


async def test_oversize_frame_header_is_refused_before_the_body(server: GrpcServer) -> None:
    """A frame header declaring 2 GiB is answered at once, not after the upload."""
    reader, writer = await connect(server.web_port)
    try:
        writer.write(head(f"{SERVICE}/Hello", chunked=True) + chunk(frame_header(2**31)))
        await writer.drain()
        response = await read_response_head(reader, timeout=5)
        assert grpc_status(response) == GrpcError.RESOURCE_EXHAUSTED
        assert "larger than max" in response
    finally:
        writer.close()


async def test_oversize_content_length_is_refused_before_the_body(server: GrpcServer) -> None:
    reader, writer = await connect(server.web_port)
    try:
        writer.write(head(f"{SERVICE}/Hello", length=2**31))
        await writer.drain()
        response = await read_response_head(reader, timeout=5)
        assert grpc_status(response) == GrpcError.RESOURCE_EXHAUSTED
    finally:
        writer.close()


async def test_a_body_beyond_one_message_is_refused_while_it_streams(server: GrpcServer) -> None:
    """Bytes past one message's worth are refused as they come, never buffered to the end."""
    reader, writer = await connect(server.web_port)
    try:
        writer.write(head(f"{SERVICE}/Hello", chunked=True) + chunk(frame_header(10) + b"x" * 10))
        for _ in range(8):  # 128 KiB of junk after the message, the body still open
            writer.write(chunk(b"j" * 16384))
        await writer.drain()
        response = await read_response_head(reader, timeout=5)
        assert grpc_status(response) in (GrpcError.INVALID_ARGUMENT, GrpcError.RESOURCE_EXHAUSTED)
    finally:
        writer.close()
