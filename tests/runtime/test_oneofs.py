"""Oneofs and multi-package contracts over the wire, against classes built from the `.proto`
text alone (as a peer with the contract's own stubs has them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import cello
from cello.codegen.build import generate, import_target, with_siblings
from cello.codegen.cli import main as cello_gen
from cello.codegen.emit.protoc import wkt_include
from cello.grpc import GrpcConfig, GrpcServer
from tests.codegen.cases.oneofs import service as oneofs
from tests.codegen.cases.packages import common, trace
from tests.codegen.cases.packages import service as collector


def peer_classes(module: str, tmp: Path) -> dict[str, Any]:
    """Message classes of a module's generated `.proto` files, compiled by protoc into a
    pool of their own: what a peer generating from the published files has."""
    from grpc_tools import protoc

    _, texts = generate(with_siblings(import_target(module), None))
    protos = sorted(p for p in texts if p.endswith(".proto"))
    for rel in protos:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(texts[rel], encoding="utf-8")
    out = tmp / "set.pb"
    args = ["protoc", f"-I{tmp}", f"-I{wkt_include()}", "--include_imports"]
    assert protoc.main([*args, f"--descriptor_set_out={out}", *protos]) == 0
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    pool = descriptor_pool.DescriptorPool()
    for f in files:
        pool.Add(f)
    names: dict[str, Any] = {}
    for f in files:
        for m in f.message_type:
            full = f"{f.package}.{m.name}"
            names[full] = message_factory.GetMessageClass(pool.FindMessageTypeByName(full))
    return names


def unary(channel: grpc.aio.Channel, path: str, request: Any, response: Any) -> Any:
    return channel.unary_unary(
        path,
        request_serializer=request.SerializeToString,
        response_deserializer=response.FromString,
    )


@pytest.fixture
async def oneof_server() -> AsyncIterator[GrpcServer]:
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(oneofs.OneofService())
    await server.start()
    yield server
    await server.stop(0)


async def test_short_form_members_keep_their_numbers(
    oneof_server: GrpcServer, tmp_path: Path
) -> None:
    peer = peer_classes(oneofs.__name__, tmp_path)
    Numbered = peer["oneofs.v1.Numbered"]
    field_numbers = {f.name: f.number for f in Numbered.DESCRIPTOR.fields}
    assert field_numbers == {"value_string": 7, "value_int64": 1, "tag": 2}
    async with grpc.aio.insecure_channel(oneof_server.address) as channel:
        call = unary(channel, "/oneofs.v1.OneofService/EchoNumbered", Numbered, Numbered)
        for sent in (Numbered(value_string="seven"), Numbered(value_int64=1)):
            reply = await call(sent)
            assert reply == sent and reply.WhichOneof("value") == sent.WhichOneof("value")


async def test_declared_members_of_one_python_type_keep_the_member_set(
    oneof_server: GrpcServer, tmp_path: Path
) -> None:
    peer = peer_classes(oneofs.__name__, tmp_path)
    Value = peer["oneofs.v1.Value"]
    async with grpc.aio.insecure_channel(oneof_server.address) as channel:
        call = unary(channel, "/oneofs.v1.OneofService/Echo", Value, Value)
        for member, value in [("small", 5), ("big", 5), ("text", "a"), ("other_text", "a")]:
            reply = await call(Value(**{member: value}, label="x"))
            assert reply.WhichOneof("kind") == member and getattr(reply, member) == value
        reply = await call(Value(label="none set"))
        assert reply.WhichOneof("kind") is None and reply.label == "none set"


async def test_two_members_set_is_refused_naming_both(
    oneof_server: GrpcServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    peer = peer_classes(oneofs.__name__, tmp_path)
    Value = peer["oneofs.v1.Value"]
    async with grpc.aio.insecure_channel(oneof_server.address) as channel:
        call = unary(channel, "/oneofs.v1.OneofService/BothSet", Value, Value)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call(Value())
    assert info.value.code() is grpc.StatusCode.INTERNAL
    logged = caplog.text
    assert "Value.big" in logged and "Value.small" in logged and "oneof" in logged


def test_which_oneof_names_the_member_set() -> None:
    assert cello.which_oneof(oneofs.Value(small=3), "kind") == "small"
    assert cello.which_oneof(oneofs.Value(other_text=""), "kind") == "other_text"
    assert cello.which_oneof(oneofs.Value(), "kind") is None
    with pytest.raises(ValueError, match="no oneof 'nope'"):
        cello.which_oneof(oneofs.Value(), "nope")


# -- a multi-package contract ---------------------------------------------------------------


@pytest.fixture(scope="module")
def collector_stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("collector")
    assert cello_gen(["build", collector.__name__, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize(
    ("built", "transport"),
    [(True, "aio"), (False, "aio"), (False, "threads"), (False, "h2"), (False, "envoy")],
    ids=["built", "on-the-fly", "threads", "h2", "envoy"],
)
async def test_a_collector_using_three_packages_serves_their_messages(
    built: bool, transport: str, collector_stubs: Path, tmp_path: Path
) -> None:
    peer = peer_classes(collector.__name__, tmp_path)
    Request = peer["telemetry.collector.trace.v1.ExportTraceServiceRequest"]
    Response = peer["telemetry.collector.trace.v1.ExportTraceServiceResponse"]
    assert "telemetry.trace.v1.TracesData" in peer  # emitted though no rpc uses it
    request = Request()
    spans = request.resource_spans.add()
    spans.resource.attributes.add(key="host", value={"string_value": "a"})
    scope = spans.scope_spans.add()
    scope.scope.name = "lib"
    scope.scope.dropped_attributes_count = 2
    scope.spans.add(name="ok", kind=2, attributes=[{"key": "n", "value": {"int_value": 7}}])
    scope.spans.add(name="")
    service = collector.TraceService()
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        stubs_dir=collector_stubs if built else None,
        config=GrpcConfig(transport=transport),
    )
    server.register_service(service)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            call = unary(
                channel, "/telemetry.collector.trace.v1.TraceService/Export", Request, Response
            )
            reply = await call(request)
    finally:
        await server.stop(0)
    assert reply.partial_success.rejected_spans == 1
    (got,) = service.received
    assert got.resource is not None
    assert got.resource.attributes == [common.KeyValue("host", common.AnyValue(string_value="a"))]
    first = got.scope_spans[0].spans[0]
    assert first.kind is trace.Span.SpanKind.SPAN_KIND_SERVER
    assert first.attributes[0].value == common.AnyValue(int_value=7)
    assert got.scope_spans[0].scope == common.InstrumentationScope(
        "lib", dropped_attributes_count=2
    )


def test_the_collector_build_imports_across_packages(collector_stubs: Path) -> None:
    built = {p.relative_to(collector_stubs).as_posix() for p in collector_stubs.rglob("*.py")}
    assert "telemetry/trace/v1/trace_pb2.py" in built
    text = (collector_stubs / "telemetry/trace/v1/trace_pb2.py").read_text()
    assert "from ...common.v1 import common_pb2" in text
    proto = (collector_stubs / "telemetry/trace/v1/trace.proto").read_text()
    assert "message TracesData {" in proto and "enum SpanFlags {" in proto  # __cello_types__
    stub = (collector_stubs / "telemetry/collector/trace/v1/trace_service_cello.py").read_text()
    assert "from ....trace.v1 import trace_cello as _s_trace" in stub


async def test_connect_json_uses_declared_json_names_and_member_names() -> None:
    config = GrpcConfig(enable_web=True, web_port=0)
    server = GrpcServer(host="127.0.0.1", port=0, config=config)
    server.register_service(oneofs.OneofService())
    await server.start()
    headers = {"content-type": "application/json", "connect-protocol-version": "1"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.web_port}") as web:
            sent = {"labelText": "x", "otherText": "b"}
            reply = await web.post("/oneofs.v1.OneofService/Echo", json=sent, headers=headers)
            assert reply.status_code == 200, reply.text
            assert reply.json() == sent
            sent = {"small": 3}  # an int32 member: a JSON number, not a string
            reply = await web.post("/oneofs.v1.OneofService/Echo", json=sent, headers=headers)
            assert reply.json() == sent
    finally:
        await server.stop(0)


async def test_a_request_with_two_members_set_is_not_sent(oneof_server: GrpcServer) -> None:
    from cello import GrpcChannel, GrpcError

    channel = await GrpcChannel.connect(oneof_server.address, raise_on_error=True)
    try:
        service = "oneofs.v1.OneofService"
        reply = await channel.call(service, "Echo", oneofs.Value(text="a"))  # type: ignore[arg-type]
        assert reply.data == {"text": "a", "label": ""}
        with pytest.raises(GrpcError) as info:
            await channel.call(service, "Echo", oneofs.Value(big=1, text="a"))  # type: ignore[arg-type]
    finally:
        await channel.close()
    assert info.value.code == GrpcError.INVALID_ARGUMENT
    assert "big and text are both set" in info.value.message and "oneof kind" in info.value.message
