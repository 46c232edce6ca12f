"""Middleware and the ready-made pieces, the same on the gRPC port and the gRPC-Web port."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cello import (
    App,
    CallContext,
    GrpcConfig,
    GrpcError,
    GrpcServer,
    access_log,
    map_exceptions,
    token_auth,
)

from .call_services import STATE, CallService
from .ports import PORTS, SERVICE, Port, start

HELLO, WATCH = f"{SERVICE}/Hello", f"{SERVICE}/Watch"


@pytest.fixture(params=PORTS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def serve(kind: str, middleware: Any = (), **config: Any) -> Port:
    return Port(kind, await start(middleware, **config))


def note(port: Port, method: str, text: str) -> Any:
    return port.types(method)[0](text=text)


def text_of(port: Port, method: str, raw: bytes) -> str:
    return str(port.types(method)[1].FromString(raw).text)


async def test_order_request_headers_trailers_and_final_status(kind: str) -> None:
    seen: list[str] = []

    def recorder(name: str) -> Any:
        async def mw(call: CallContext, call_next: Any) -> Any:
            seen.append(f"{name}-in:{call.request.text}:{call.protocol}")
            if name == "outer" and call.request.text == "hi":
                await call.send_headers({"x-mw-header": "1"})
            try:
                return await call_next()
            except GrpcError as exc:
                seen.append(f"{name}-status:{exc.code}")
                raise
            finally:
                call.set_trailers({f"x-{name}": "done"})
                seen.append(f"{name}-out")

        return mw

    port = await serve(kind, [recorder("outer"), recorder("inner")])
    try:
        result = await port.call(HELLO, note(port, HELLO, "hi"))
        assert result.code == 0 and text_of(port, HELLO, result.messages[0]) == "hi"
        assert seen == [f"outer-in:hi:{kind}", f"inner-in:hi:{kind}", "inner-out", "outer-out"]
        assert result.headers["x-mw-header"] == "1"
        assert result.trailers["x-outer"] == "done" and result.trailers["x-inner"] == "done"
        seen.clear()
        failed = await port.call(HELLO, note(port, HELLO, "headers-then-error"))
        assert failed.code == GrpcError.NOT_FOUND
        assert "inner-status:5" in seen and "outer-status:5" in seen
    finally:
        await port.server.stop(0)


async def test_reject_before_the_handler(kind: str) -> None:
    async def gate(call: CallContext, call_next: Any) -> Any:
        raise GrpcError(GrpcError.PERMISSION_DENIED, "closed today")

    port = await serve(kind, [gate])
    try:
        result = await port.call(HELLO, note(port, HELLO, "hi"))
        assert (result.code, result.message) == (GrpcError.PERMISSION_DENIED, "closed today")
        assert "request" not in STATE  # the handler never ran
    finally:
        await port.server.stop(0)


async def test_exception_in_middleware_is_internal_and_hidden(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(call: CallContext, call_next: Any) -> Any:
        raise RuntimeError("middleware secret: token=s3cr3t")

    port = await serve(kind, [broken])
    try:
        with caplog.at_level(logging.ERROR, logger="cello"):
            result = await port.call(HELLO, note(port, HELLO, "hi"))
        assert result.code == GrpcError.INTERNAL
        assert "s3cr3t" not in result.message and "s3cr3t" not in str(result.trailers)
        assert any("s3cr3t" in str(r.exc_info) for r in caplog.records if r.exc_info)
    finally:
        await port.server.stop(0)


async def test_middleware_wraps_a_whole_stream(kind: str) -> None:
    observed: dict[str, Any] = {}

    async def timer(call: CallContext, call_next: Any) -> Any:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            return await call_next()
        except GrpcError as exc:
            observed["code"] = exc.code
            raise
        finally:
            observed["sent"] = call.response_size
            observed["elapsed"] = loop.time() - start

    port = await serve(kind, [timer, map_exceptions({KeyError: GrpcError.NOT_FOUND})])
    try:
        result = await port.call(WATCH, note(port, WATCH, "fail"))
        assert len(result.messages) == 3  # all sent before the stream failed
        assert (result.code, result.message) == (GrpcError.NOT_FOUND, "stream item")
        assert observed["code"] == GrpcError.NOT_FOUND
        assert observed["sent"] == sum(len(m) for m in result.messages)
        assert observed["elapsed"] >= 0
    finally:
        await port.server.stop(0)


async def test_map_exceptions(kind: str) -> None:
    class Gone(Exception):
        pass

    mapping = map_exceptions(
        {KeyError: GrpcError.NOT_FOUND, Gone: lambda e: GrpcError(GrpcError.ABORTED, "gone")}
    )
    port = await serve(kind, [mapping])
    try:
        result = await port.call(HELLO, note(port, HELLO, "keyerror"))
        assert (result.code, result.message) == (GrpcError.NOT_FOUND, "no such note")
        unmapped = await port.call(HELLO, note(port, HELLO, "boom"))
        assert unmapped.code == GrpcError.INTERNAL and "hunter2" not in unmapped.message
    finally:
        await port.server.stop(0)


async def test_token_auth(kind: str) -> None:
    tokens = {"t0k": "alice"}

    async def verify(token: str) -> str | None:
        return tokens.get(token)

    auth = token_auth(verify, exempt=[f"{SERVICE[1:]}/Envelope"])
    port = await serve(kind, [auth])
    try:
        missing = await port.call(HELLO, note(port, HELLO, "hi"))
        assert missing.code == GrpcError.UNAUTHENTICATED
        wrong = await port.call(HELLO, note(port, HELLO, "hi"), {"authorization": "Bearer nope"})
        assert wrong.code == GrpcError.UNAUTHENTICATED
        good = await port.call(HELLO, note(port, HELLO, "hi"), {"authorization": "Bearer t0k"})
        assert good.code == 0
        assert port.types(HELLO)[1].FromString(good.messages[0]).auth == "alice"
        exempt = await port.call(f"{SERVICE}/Envelope", note(port, f"{SERVICE}/Envelope", ""))
        assert exempt.code == 0
    finally:
        await port.server.stop(0)


async def test_health_and_reflection_stay_open_under_auth() -> None:
    port = await serve("grpc", [token_auth(lambda token: None)], reflection=True)
    try:
        async with grpc.aio.insecure_channel(port.server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await port.server.stop(0)


async def test_access_log_one_line_per_call(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    port = await serve(kind, access_log=True)
    try:
        with caplog.at_level(logging.INFO, logger="cello.access"):
            ok = await port.call(HELLO, note(port, HELLO, "hello"))
            failed = await port.call(HELLO, note(port, HELLO, "headers-then-error"))
            streamed = await port.call(WATCH, note(port, WATCH, "n"))
        lines = [r for r in caplog.records if r.name == "cello.access"]
        assert len(lines) == 3
        first, second, third = lines
        assert first.rpc_method == HELLO and first.rpc_status == "OK"  # type: ignore[attr-defined]
        assert first.request_bytes == len(note(port, HELLO, "hello").SerializeToString())  # type: ignore[attr-defined]
        assert first.response_bytes == len(ok.messages[0])  # type: ignore[attr-defined]
        assert first.peer.startswith("ipv4:127.0.0.1:")  # type: ignore[attr-defined]
        assert f"{kind} {HELLO} OK" in first.getMessage()
        assert second.rpc_status == "NOT_FOUND" and failed.code == 5  # type: ignore[attr-defined]
        assert third.response_bytes == sum(len(m) for m in streamed.messages)  # type: ignore[attr-defined]
    finally:
        await port.server.stop(0)


async def test_access_log_is_off_by_default(caplog: pytest.LogCaptureFixture) -> None:
    port = await serve("grpc")
    try:
        with caplog.at_level(logging.INFO, logger="cello.access"):
            assert (await port.call(HELLO, note(port, HELLO, "x"))).code == 0
        assert not [r for r in caplog.records if r.name == "cello.access"]
    finally:
        await port.server.stop(0)


async def test_custom_access_log_middleware_with_its_own_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = await serve("grpc-web", [access_log(logging.getLogger("my.access"))])
    try:
        with caplog.at_level(logging.INFO, logger="my.access"):
            await port.call(HELLO, note(port, HELLO, "x"))
        assert [r.name for r in caplog.records if r.name == "my.access"] == ["my.access"]
    finally:
        await port.server.stop(0)


async def test_app_add_middleware_and_grpc_interceptors() -> None:
    seen: list[str] = []

    async def mw(call: CallContext, call_next: Any) -> Any:
        seen.append(call.method)
        return await call_next()

    class Interceptor(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation: Any, details: Any) -> Any:
            seen.append("interceptor:" + details.method)
            return await continuation(details)

    app = App()
    app.enable_grpc(GrpcConfig(host="127.0.0.1", port=0, health=False))
    app.register_service(CallService())
    app.add_middleware(mw)
    stop = asyncio.Event()
    task = asyncio.create_task(app.serve(stop=stop))
    while app.grpc_server is None or app.grpc_server.port == 0:
        await asyncio.sleep(0.01)
    try:
        result = await Port("grpc", app.grpc_server).call(
            HELLO, note(Port("grpc", app.grpc_server), HELLO, "x")
        )
        assert result.code == 0 and seen == [HELLO]
    finally:
        stop.set()
        await task

    seen.clear()
    # grpc.aio interceptors need the aio transport, whatever $CELLO_TRANSPORT says
    config = GrpcConfig(health=False, transport="aio")
    server = GrpcServer("127.0.0.1", 0, config, interceptors=[Interceptor()])
    server.register_service(CallService())
    await server.start()
    try:
        port = Port("grpc", server)
        assert (await port.call(HELLO, note(port, HELLO, "x"))).code == 0
        assert seen == [f"interceptor:{HELLO}"]
    finally:
        await server.stop(0)
