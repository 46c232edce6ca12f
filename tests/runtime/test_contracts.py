"""Code-first contracts over the wire: official stubs call them, declared rpcs are UNIMPLEMENTED."""

from __future__ import annotations

import importlib.util
import re
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest

from cello._wire.stubs import loaded_bindings
from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcConfig, GrpcError, GrpcServer
from tests.codegen.cases.contracts import service as contracts
from tests.codegen.cases.grpc_testing import service as grpc_testing
from tests.codegen.cases.health import mirrors_the_published_health
from tests.codegen.cases.health.service import Health, HealthCheckResponse

Status = HealthCheckResponse.ServingStatus


@pytest.fixture
async def health_server() -> AsyncIterator[GrpcServer]:
    # the official module first: its file `grpc_health/v1/health.proto` is then already in
    # the descriptor pool, and Cello's identical file must reuse it rather than clash
    from grpc_health.v1 import health_pb2  # noqa: F401

    # Cello serves its own grpc.health.v1.Health unless told not to; here the code-first one
    server = GrpcServer(host="127.0.0.1", port=0, config=GrpcConfig(health=False))
    server.register_service(Health({"books": Status.SERVING, "": Status.NOT_SERVING}))
    await server.start()
    yield server
    await server.stop(0)


@mirrors_the_published_health
async def test_the_official_health_stubs_call_the_code_first_service(
    health_server: GrpcServer,
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(health_server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service="books"))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reply = await stub.Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Check(health_pb2.HealthCheckRequest(service="nope"))
        assert info.value.code() is grpc.StatusCode.NOT_FOUND
        watch = stub.Watch(health_pb2.HealthCheckRequest(service="nope"))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        watch.cancel()


@mirrors_the_published_health
async def test_a_declared_rpc_answers_unimplemented_with_its_name(
    health_server: GrpcServer,
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(health_server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.List(health_pb2.HealthListRequest())
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert "grpc.health.v1.Health/List" in (info.value.details() or "")
    assert "not implemented" in (info.value.details() or "")


@pytest.fixture(scope="module")
def contracts_stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contracts")
    assert cello_gen(["build", contracts.__name__, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("built", [True, False], ids=["built", "on-the-fly"])
async def test_two_files_and_nested_types_round_trip_over_the_wire(
    built: bool, contracts_stubs: Path
) -> None:
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=contracts_stubs if built else None)
    server.register_service(contracts.TestService())
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            envelope = contracts.Envelope(
                kind=contracts.Envelope.Kind.DIRECT,
                header=contracts.Envelope.Header(
                    [contracts.Envelope.Header.Entry(contracts.Envelope.Kind.DIRECT, "k")]
                ),
                local=contracts.Envelope.Money(cents=5),
                total=contracts.Money(units=7),
                payload=contracts.Payload(body=b"\x00\x01"),
                status=contracts.EchoStatus(code=3, message="keyword field"),
                message="also a keyword",
            )
            client = _client(server, channel)
            assert await client.UnaryCall(envelope) == envelope
            entry = await client.Nested(envelope.header)
            assert entry == contracts.Envelope.Header.Entry(contracts.Envelope.Kind.DIRECT, "k")
            with pytest.raises(GrpcError) as info:
                await client.UnimplementedCall(contracts.Payload())
            assert info.value.code == GrpcError.UNIMPLEMENTED
    finally:
        await server.stop(0)


def _client(server: GrpcServer, channel: grpc.aio.Channel) -> Any:
    """The typed client generated in the served `test_cello.py`, over a plain channel."""
    binding = loaded_bindings()["contracts.v1.TestService"]
    (module,) = {m for m in list(sys.modules.values()) if binding in getattr(m, "SERVICES", ())}
    return module.TestServiceClient(channel)


GO_GRPC = Path("/usr/share/gocode/src/google.golang.org/grpc")  # golang-google-grpc-dev


def _original_grpc_testing(out: Path) -> Any:
    """grpc-go's own `test/grpc_testing/test.proto` compiled to a `_pb2` module."""
    from grpc_tools import protoc

    args = ["protoc", f"-I{GO_GRPC}", f"--python_out={out}", "test/grpc_testing/test.proto"]
    assert protoc.main(args) == 0
    path = out / "test" / "grpc_testing" / "test_pb2.py"
    spec = importlib.util.spec_from_file_location("_original_grpc_testing_pb2", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_grpc_testing_code_first_answers_the_original_messages(tmp_path: Path) -> None:
    pb2 = _original_grpc_testing(tmp_path)  # in the descriptor pool before Cello's copy
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(grpc_testing.TestService())
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:

            def call(kind: str, name: str, request: Any, response: Any) -> Any:
                return getattr(channel, kind)(
                    f"/grpc.testing.TestService/{name}",
                    request_serializer=request.SerializeToString,
                    response_deserializer=response.FromString,
                )

            unary = call("unary_unary", "UnaryCall", pb2.SimpleRequest, pb2.SimpleResponse)
            reply = await unary(pb2.SimpleRequest(response_size=3, fill_username=True))
            assert reply.payload.body == b"\0\0\0" and reply.payload.type == pb2.COMPRESSABLE
            empty = call("unary_unary", "EmptyCall", pb2.Empty, pb2.Empty)
            assert await empty(pb2.Empty()) == pb2.Empty()
            out = call(
                "unary_stream",
                "StreamingOutputCall",
                pb2.StreamingOutputCallRequest,
                pb2.StreamingOutputCallResponse,
            )
            sizes = [pb2.ResponseParameters(size=n) for n in (1, 2)]
            got = [
                r.payload.body
                async for r in out(pb2.StreamingOutputCallRequest(response_parameters=sizes))
            ]
            assert got == [b"\0", b"\0\0"]
            upload = call(
                "stream_unary",
                "StreamingInputCall",
                pb2.StreamingInputCallRequest,
                pb2.StreamingInputCallResponse,
            )
            parts = [pb2.StreamingInputCallRequest(payload=pb2.Payload(body=b"ab"))] * 2
            assert (await upload(iter(parts))).aggregated_payload_size == 4
            half = call(
                "stream_stream",
                "HalfDuplexCall",
                pb2.StreamingOutputCallRequest,
                pb2.StreamingOutputCallResponse,
            )
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async for _ in half(iter([pb2.StreamingOutputCallRequest()])):
                    pass
            assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(0)


@mirrors_the_published_health
async def test_a_declared_rpc_answers_unimplemented_over_grpc_web_too() -> None:
    config = GrpcConfig(health=False, enable_web=True, web_port=0)
    server = GrpcServer(host="127.0.0.1", port=0, config=config)
    server.register_service(Health())
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.web_port}") as web:
            reply = await web.post(
                "/grpc.health.v1.Health/List",
                content=struct.pack(">BI", 0, 0),  # one empty HealthListRequest frame
                headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
            )
    finally:
        await server.stop(0)
    # trailers-only answers put the status in the headers, others in a trailer frame
    trailers = reply.headers.get("grpc-status") or reply.content.decode("latin-1")
    assert reply.status_code == 200
    assert re.search(r"(^|grpc-status:)\s*12\b", trailers), (reply.headers, reply.content)
