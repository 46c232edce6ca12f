"""Status codes, metadata, deadlines, cancellation and limits, over the wire."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from cello.grpc import GrpcConfig

from .conftest import start_server
from .services import event


async def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details() or ""


async def test_grpc_error_reaches_the_client_as_its_status(echo: Any, pb: Any) -> None:
    code, details = await _code(echo.Fail(pb[0].Ping(text="not-found")))
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, "no such thing")


async def test_grpc_response_error_sets_the_status(echo: Any, pb: Any) -> None:
    code, details = await _code(echo.Fail(pb[0].Ping(text="response-error")))
    assert (code, details) == (grpc.StatusCode.PERMISSION_DENIED, "go away")


async def test_unexpected_exception_is_internal_without_leaking_and_is_logged(
    echo: Any, pb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cello.grpc"):
        code, details = await _code(echo.Fail(pb[0].Ping(text="boom")))
    assert code == grpc.StatusCode.INTERNAL
    assert "hunter2" not in details and "Traceback" not in details
    assert "hunter2" in caplog.text  # the server log keeps the real cause
    assert (await echo.Echo(pb[0].Ping(text="still up"))).text == "still up"


async def test_malformed_request_body_is_invalid_argument_and_server_keeps_serving(
    channel: grpc.aio.Channel, echo: Any, pb: Any
) -> None:
    raw = channel.unary_unary("/rt.v1.EchoService/Echo")
    code, details = await _code(raw(b"\x0a\xff\xff\xff\xff"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "rt.v1.Ping" in details
    assert (await echo.Echo(pb[0].Ping(text="ok"))).text == "ok"


async def test_unknown_method_is_unimplemented(
    channel: grpc.aio.Channel, echo: Any, pb: Any
) -> None:
    raw = channel.unary_unary("/rt.v1.EchoService/NoSuchMethod")
    code, _ = await _code(raw(b""))
    assert code == grpc.StatusCode.UNIMPLEMENTED
    assert (await echo.Echo(pb[0].Ping(text="ok"))).text == "ok"


async def test_response_metadata_arrives_as_headers_and_trailers(echo: Any, pb: Any) -> None:
    call = echo.Fail(pb[0].Ping(text="with-metadata"))
    reply = await call
    assert reply.text == "meta"
    assert ("x-request-id", "abc123") in tuple(await call.initial_metadata())
    assert ("x-trailer", "t1") in tuple(await call.trailing_metadata())


async def test_deadline_exceeded(echo: Any, pb: Any) -> None:
    code, _ = await _code(echo.Slow(pb[0].Ping(count=2000), timeout=0.2))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_client_cancellation_stops_the_handler(echo: Any, pb: Any) -> None:
    call = echo.Forever(pb[0].Ping())
    assert (await call.read()).text == "tick"
    call.cancel()
    await asyncio.wait_for(event("forever-cancelled").wait(), 5)


async def test_oversize_request_is_resource_exhausted(stubs_dir: Path, pb: Any) -> None:
    server = await start_server(stubs_dir, GrpcConfig(max_message_size=1024))
    try:
        async with grpc.aio.insecure_channel(server.address) as ch:
            stub = pb[1].EchoServiceStub(ch)
            code, _ = await _code(stub.Size(pb[0].Blob(data=b"x" * 4096)))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert (await stub.Size(pb[0].Blob(data=b"y" * 100))).data == b"y" * 10
    finally:
        await server.stop(0)


async def test_concurrency_limit_rejects_excess_calls(stubs_dir: Path, pb: Any) -> None:
    server = await start_server(stubs_dir, GrpcConfig(concurrency_limit=1))
    try:
        async with grpc.aio.insecure_channel(server.address) as ch:
            stub = pb[1].EchoServiceStub(ch)
            slow = asyncio.ensure_future(stub.Slow(pb[0].Ping(count=1500)))
            await asyncio.wait_for(event("slow-started").wait(), 5)
            code, _ = await _code(stub.Echo(pb[0].Ping(text="second")))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert (await slow).text == "slow"
            assert (await stub.Echo(pb[0].Ping(text="after"))).text == "after"
    finally:
        await server.stop(0)


async def test_health_reports_serving_per_service(channel: grpc.aio.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "rt.v1.EchoService", "rt.v1.DictService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    code, _ = await _code(health.Check(health_pb2.HealthCheckRequest(service="nope")))
    assert code == grpc.StatusCode.NOT_FOUND


async def test_health_turns_not_serving_while_draining(stubs_dir: Path) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    server = await start_server(stubs_dir)
    async with grpc.aio.insecure_channel(server.address) as ch:
        watch = health_pb2_grpc.HealthStub(ch).Watch(
            health_pb2.HealthCheckRequest(service="rt.v1.EchoService")
        )
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.ensure_future(server.stop(1))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stopping
