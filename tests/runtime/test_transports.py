"""Every transport over the wire: the four call shapes, metadata, deadlines, cancellation,
errors, middleware, health and reflection, on "aio" and on "threads"."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cello import CallContext, DefinitionError, GrpcConfig, GrpcError, GrpcServer
from cello._definitions.config import ONE_PORT, TRANSPORTS

from .transport_services import FLAGS, SEEN, Shapes, flag

SERVICE = "transports.v1.Shapes"


async def start(transport: str, middleware: Any = (), **config: Any) -> GrpcServer:
    FLAGS.clear()
    SEEN.clear()
    settings = GrpcConfig(transport=transport, reflection=True, **config)
    server = GrpcServer("127.0.0.1", 0, settings, middleware=middleware)
    server.register_service(Shapes())
    await server.start()
    return server


@pytest.fixture(params=TRANSPORTS)
async def server(request: pytest.FixtureRequest) -> AsyncIterator[GrpcServer]:
    srv = await start(request.param)
    yield srv
    await srv.stop(0)


@pytest.fixture
async def channel(server: GrpcServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as ch:
        yield ch


def types(server: GrpcServer, name: str) -> tuple[Any, Any]:
    binding = server.bindings[SERVICE]
    method = next(m for m in binding.methods if m.name == name)
    return method.request_type, method.response_type


def method(channel: grpc.aio.Channel, server: GrpcServer, name: str, shape: str) -> Any:
    request, response = types(server, name)
    return getattr(channel, shape)(
        f"/{SERVICE}/{name}",
        request_serializer=request.SerializeToString,
        response_deserializer=response.FromString,
    )


def word(server: GrpcServer, text: str) -> Any:
    return types(server, "Say")[0](text=text)


async def test_unary(server: GrpcServer, channel: grpc.aio.Channel) -> None:
    reply = await method(channel, server, "Say", "unary_unary")(word(server, "hi"))
    assert reply.text == "hi"
    expected = "cello-grpc" if server.config.transport == "threads" else "MainThread"
    assert reply.thread.startswith(expected)


async def test_server_stream_with_trailers(server: GrpcServer, channel: grpc.aio.Channel) -> None:
    call = method(channel, server, "Count", "unary_stream")(word(server, "4"))
    assert [r.text async for r in call] == ["0", "1", "2", "3"]
    assert dict(await call.trailing_metadata())["x-count"] == "4"
    assert await call.code() == grpc.StatusCode.OK


async def test_client_stream(server: GrpcServer, channel: grpc.aio.Channel) -> None:
    words = [word(server, t) for t in ("a", "b", "c")]
    reply = await method(channel, server, "Gather", "stream_unary")(iter(words))
    assert reply.text == "a,b,c"


async def test_bidi_stream(server: GrpcServer, channel: grpc.aio.Channel) -> None:
    call = method(channel, server, "Chat", "stream_stream")()
    for text in ("x", "y"):
        await call.write(word(server, text))
        assert (await call.read()).text == text.upper()
    await call.done_writing()
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_metadata_headers_and_trailers(server: GrpcServer, channel: grpc.aio.Channel) -> None:
    call = method(channel, server, "Say", "unary_unary")(
        word(server, "meta"), metadata=(("x-in", "hello"),)
    )
    assert (await call).text == "meta"
    assert dict(await call.initial_metadata())["x-head"] == "hello"
    assert dict(await call.trailing_metadata())["x-trail"] == "bye"


async def test_deadline_exceeded_reaches_the_handler(
    server: GrpcServer, channel: grpc.aio.Channel
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(channel, server, "Say", "unary_unary")(word(server, "wait"), timeout=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # 1 ms of slack: grpc's sync server turns the deadline into wall-clock time.time(), and
    # that conversion once read 0.50003 s here
    assert 0 < SEEN["remaining"] <= 0.501
    assert await asyncio.to_thread(flag("cancelled").wait, 10)
    if server.config.transport == "threads":  # grpc.aio reports it a moment later
        assert SEEN["cancelled"] is True


async def test_client_cancel_reaches_the_handler(
    server: GrpcServer, channel: grpc.aio.Channel
) -> None:
    call = method(channel, server, "Say", "unary_unary")(word(server, "wait"))
    assert await asyncio.to_thread(flag("started").wait, 10)
    assert SEEN["remaining"] is None  # no deadline
    call.cancel()
    assert await asyncio.to_thread(flag("cancelled").wait, 10)


async def test_client_cancel_reaches_a_handler_reading_requests(
    server: GrpcServer, channel: grpc.aio.Channel
) -> None:
    call = method(channel, server, "Gather", "stream_unary")()
    await call.write(word(server, "first"))
    assert await asyncio.to_thread(flag("gathering").wait, 10)
    call.cancel()  # the handler waits for the next request
    assert await asyncio.to_thread(flag("gather-ended").wait, 10)


async def test_a_malformed_request_is_invalid_argument(
    server: GrpcServer, channel: grpc.aio.Channel
) -> None:
    raw = channel.unary_unary(f"/{SERVICE}/Say")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw(b"\xff\xff\xff")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "transports.v1.Word" in str(caught.value.details())


async def test_an_unexpected_exception_is_internal_without_its_text(
    server: GrpcServer, channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cello.grpc"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await method(channel, server, "Say", "unary_unary")(word(server, "boom"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "Internal server error"
    assert "hunter2" not in str(caught.value.debug_error_string())
    assert any("hunter2" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_sync_handlers(server: GrpcServer, channel: grpc.aio.Channel) -> None:
    reply = await method(channel, server, "Plain", "unary_unary")(word(server, ""))
    assert reply.text == f"/{SERVICE}/Plain"  # current_call() works
    steps = method(channel, server, "Steps", "unary_stream")(word(server, "ab"))
    replies = [r async for r in steps]
    assert [r.text for r in replies] == ["a", "b"]
    # on "threads" a sync handler runs on the call's own worker thread, no second hop
    pool = "cello-grpc" if server.config.transport == "threads" else "cello-handler"
    assert all(r.thread.startswith(pool) for r in [reply, *replies])


async def test_health_and_reflection(server: GrpcServer, channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    answers = [a async for a in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in answers[0].list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_middleware_and_the_concurrency_limit(transport: str) -> None:
    seen: list[tuple[str, str]] = []

    async def mw(call: CallContext, call_next: Any) -> Any:
        seen.append((call.method, call.protocol))
        if call.metadata.get("x-deny"):
            raise GrpcError(GrpcError.PERMISSION_DENIED, "denied")
        return await call_next()

    server = await start(transport, middleware=[mw], concurrency_limit=1)
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            say = method(channel, server, "Say", "unary_unary")
            assert (await say(word(server, "a"))).text == "a"
            assert seen == [(f"/{SERVICE}/Say", "grpc")]
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await say(word(server, "a"), metadata=(("x-deny", "1"),))
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            busy = say(word(server, "wait"))
            assert await asyncio.to_thread(flag("started").wait, 10)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await say(word(server, "b"))
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            # health is outside the limit (and, on "threads", on threads of its own)
            health = health_pb2_grpc.HealthStub(channel)
            assert (await health.Check(health_pb2.HealthCheckRequest())).status == 1
            busy.cancel()
    finally:
        await server.stop(0)


async def test_health_drains_before_stop_on_threads() -> None:
    server = await start("threads", drain_delay_secs=0.5)
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        stopping = asyncio.create_task(server.stop(1))
        await asyncio.sleep(0.2)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stopping


@pytest.mark.parametrize("transport", ["threads", "h2", "envoy"])
def test_interceptors_need_the_aio_transport(transport: str) -> None:
    class Interceptor(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation: Any, details: Any) -> Any:
            return await continuation(details)

    config = GrpcConfig(transport=transport)
    with pytest.raises(
        DefinitionError, match=f"interceptors=.*transport='{transport}'.*middleware="
    ):
        GrpcServer(config=config, interceptors=[Interceptor()])


def test_an_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="'aio', 'threads', 'h2', 'envoy', got 'thread'"):
        GrpcConfig(transport="thread")


# The same call gets the same status and message on every transport: (code, message) by
# protocol and call; Connect's codes are its names.
SAME_EVERYWHERE = {
    ("grpc", "health of an unknown service"): (5, "unknown service 'nope'"),
    ("grpc", "unknown method"): (12, "Method not found!"),
    ("grpc", "unknown service"): (12, "Method not found!"),
    ("grpc-web", "unknown method"): (12, "Method not found!"),
    ("grpc-web", "client stream"): (
        12,
        "gRPC-Web does not support client-streaming or bidi methods",
    ),
    ("connect", "health of an unknown service"): ("not_found", "unknown service 'nope'"),
    ("connect", "unknown method"): ("unimplemented", f"Method not found: /{SERVICE}/Nope"),
    ("connect", "unknown service"): ("unimplemented", "Method not found: /no.such.Service/Say"),
    ("connect", "client stream"): (
        "unimplemented",
        f"/{SERVICE}/Gather is a client-streaming rpc, and Connect is served for unary and "
        "server-streaming rpcs only; call it over gRPC (application/grpc, on the gRPC port)",
    ),
    ("connect", "bidi stream"): (
        "unimplemented",
        f"/{SERVICE}/Chat is a bidi-streaming rpc, and Connect is served for unary and "
        "server-streaming rpcs only; call it over gRPC (application/grpc, on the gRPC port)",
    ),
}


async def _grpc_answers(server: GrpcServer) -> dict[tuple[str, str], tuple[Any, str]]:
    from grpc_health.v1 import health_pb2

    calls = {
        "health of an unknown service": (
            "/grpc.health.v1.Health/Check",
            health_pb2.HealthCheckRequest(service="nope").SerializeToString(),
        ),
        "unknown method": (f"/{SERVICE}/Nope", b""),
        "unknown service": ("/no.such.Service/Say", b""),
    }
    answers: dict[tuple[str, str], tuple[Any, str]] = {}
    async with grpc.aio.insecure_channel(server.address) as channel:
        for name, (path, body) in calls.items():
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(path)(body)
            answers["grpc", name] = (caught.value.code().value[0], caught.value.details() or "")
    return answers


async def _web_answers(client: httpx.AsyncClient) -> dict[tuple[str, str], tuple[Any, str]]:
    def envelope(payload: bytes) -> bytes:
        return len(payload).to_bytes(5, "big") + payload  # flags 0, then the length

    answers: dict[tuple[str, str], tuple[Any, str]] = {}
    web = {"content-type": "application/grpc-web+proto"}
    for name, path in (
        ("unknown method", f"/{SERVICE}/Nope"),
        ("client stream", f"/{SERVICE}/Gather"),
    ):
        response = await client.post(path, content=envelope(b""), headers=web)
        answers["grpc-web", name] = (
            int(response.headers["grpc-status"]),
            urllib.parse.unquote(response.headers["grpc-message"]),
        )
    json_headers = {"content-type": "application/json", "connect-protocol-version": "1"}
    unary = {
        "health of an unknown service": ("/grpc.health.v1.Health/Check", {"service": "nope"}),
        "unknown method": (f"/{SERVICE}/Nope", {}),
        "unknown service": ("/no.such.Service/Say", {}),
    }
    for name, (path, body) in unary.items():
        error = (await client.post(path, json=body, headers=json_headers)).json()
        answers["connect", name] = (error["code"], error["message"])
    for name, path in (
        ("client stream", f"/{SERVICE}/Gather"),
        ("bidi stream", f"/{SERVICE}/Chat"),
    ):
        response = await client.post(
            path, content=envelope(b"{}"), headers={"content-type": "application/connect+json"}
        )
        end = json.loads(response.content[5:])  # the end-of-stream message, the only one
        answers["connect", name] = (end["error"]["code"], end["error"]["message"])
    return answers


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_same_call_gets_the_same_answer_on_every_transport(transport: str) -> None:
    # the web protocols on the web port (uvicorn, HTTP/1.1), or on h2's one port over HTTP/2
    one_port = transport in ONE_PORT
    web = {"enable_web": True} if one_port else {"enable_web": True, "web_port": 0}
    server = await start(transport, **web)
    try:
        answers = await _grpc_answers(server)
        http2 = one_port
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.web_port}", http1=not http2, http2=http2
        ) as client:
            answers |= await _web_answers(client)
    finally:
        await server.stop(0)
    assert answers == SAME_EVERYWHERE
