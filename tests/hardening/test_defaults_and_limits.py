"""Shutdown, CORS defaults, probe budget and status size (issue 16 items 3, 4, 6, 8)."""

from __future__ import annotations

import asyncio
import logging

import grpc.aio
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cello import GrpcError
from tests.runtime.call_services import STATE, event
from tests.runtime.ports import PORTS, Port, frame, start

from .raw import SERVICE

HELLO = f"{SERVICE}/Hello"


def hello(port: Port, text: str) -> object:
    return port.types(HELLO)[0](text=text)


async def wait_for_handler() -> None:
    for _ in range(500):
        if "request" in STATE:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the handler never started")


async def test_in_flight_web_call_gets_unavailable_after_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await start()
    port = Port("grpc-web", server)
    with caplog.at_level(logging.INFO):
        call = asyncio.create_task(port.call(HELLO, hello(port, "slow")))
        await wait_for_handler()
        await server.stop(0.2)
        result = await asyncio.wait_for(call, 10)
    assert result.code == GrpcError.UNAVAILABLE
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]


async def test_cors_default_is_same_origin_and_no_server_header() -> None:
    server = await start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.web_port}") as client:
            post = await client.post(
                HELLO,
                content=frame(hello(Port("grpc-web", server), "x").SerializeToString()),
                headers={"content-type": "application/grpc-web+proto", "origin": "http://evil"},
            )
            assert post.status_code == 200
            assert "access-control-allow-origin" not in post.headers
            assert "server" not in post.headers
            preflight = await client.options(
                HELLO,
                headers={"origin": "http://evil", "access-control-request-method": "POST"},
            )
            assert preflight.status_code == 403
            assert "access-control-allow-origin" not in preflight.headers
    finally:
        await server.stop(0)


async def test_preflight_allows_only_grpc_web_and_configured_headers() -> None:
    origin = "http://app.example"
    server = await start(web_origins=(origin,), web_allowed_headers=("Authorization",))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.web_port}") as client:
            preflight = await client.options(
                HELLO,
                headers={
                    "origin": origin,
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "authorization, cookie, x-evil",
                },
            )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == origin
        allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert {"x-grpc-web", "content-type", "grpc-timeout", "authorization"} <= allowed
        assert not {"cookie", "x-evil"} & allowed
    finally:
        await server.stop(0)


async def test_health_answers_while_the_concurrency_limit_is_full() -> None:
    server = await start(concurrency_limit=1, health=True)
    try:
        grpc_port, web_port = Port("grpc", server), Port("grpc-web", server)
        busy = asyncio.create_task(grpc_port.call(HELLO, hello(grpc_port, "slow")))
        await wait_for_handler()
        async with grpc.aio.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(5):
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
        # the one slot is shared by both ports
        for port in (grpc_port, web_port):
            refused = await port.call(HELLO, hello(port, "x"))
            assert refused.code == GrpcError.RESOURCE_EXHAUSTED
        event("release").set()
        assert (await asyncio.wait_for(busy, 10)).code == 0
    finally:
        await server.stop(0)


@pytest.mark.parametrize("kind", PORTS)
async def test_a_huge_status_message_keeps_its_code(kind: str) -> None:
    server = await start()
    try:
        port = Port(kind, server)
        result = await port.call(HELLO, hello(port, "huge"))
        assert result.code == GrpcError.FAILED_PRECONDITION
        assert result.message.startswith("xxxx") and result.message.endswith("(truncated)")
        assert len(result.message.encode()) <= 1024
    finally:
        await server.stop(0)
