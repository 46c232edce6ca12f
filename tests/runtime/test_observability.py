"""Traces, metrics and trace ids in logs, the same on every transport and protocol.

The OpenTelemetry SDK is the real one, with its in-memory span exporter and metric reader
installed as the global providers once for the session; the Prometheus endpoint is read
over HTTP and parsed by prometheus_client's own text parser.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families

from cello import GrpcConfig, GrpcError, GrpcServer, TraceContextFilter
from tests import otel_sdk

from .call_services import event
from .ports import PORTS, SERVICE, Port, start

TRANSPORTS = ["aio", "threads", "h2", "envoy"]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"

_SPANS = otel_sdk.SPANS
_METRICS = otel_sdk.METRICS


@pytest.fixture(scope="session", autouse=True)
def providers() -> None:
    otel_sdk.install()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _SPANS.clear()
    yield _SPANS


@pytest.fixture(params=[(t, p) for t in TRANSPORTS for p in PORTS], ids=lambda tp: "-".join(tp))
async def port(request: pytest.FixtureRequest) -> AsyncIterator[Port]:
    transport, kind = request.param
    server = await start(
        transport=transport,
        tracing=True,
        metrics=True,
        metrics_port=0,
        access_log=True,
        concurrency_limit=1,
    )
    yield Port(kind, server)
    await server.stop(0)


def note(port: Port, method: str, text: str) -> object:
    return port.types(f"{SERVICE}/{method}")[0](text=text)


def server_spans(spans: InMemorySpanExporter) -> list[Any]:
    return [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]


async def test_a_span_per_call_continues_the_callers_trace(
    port: Port, spans: InMemorySpanExporter
) -> None:
    headers = {"traceparent": TRACEPARENT, "baggage": "tenant=acme"}
    result = await port.call(f"{SERVICE}/Hello", note(port, "Hello", "hi"), headers)
    assert result.code == 0
    (span,) = server_spans(spans)
    assert span.name == "calltest.v1.CallService/Hello"
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_ID
    attributes = dict(span.attributes)
    assert attributes["rpc.system"] == "grpc"
    assert attributes["rpc.service"] == "calltest.v1.CallService"
    assert attributes["rpc.method"] == "Hello"
    assert attributes["rpc.grpc.status_code"] == 0
    assert attributes["cello.rpc.protocol"] == port.kind
    assert attributes["server.address"] == "127.0.0.1"
    wanted_port = port.server.port if port.kind == "grpc" else port.server.web_port
    assert attributes["server.port"] == wanted_port
    assert attributes["network.protocol.name"] == "http"
    assert span.status.status_code == StatusCode.UNSET


@pytest.mark.parametrize(
    ("text", "code", "error"),
    [("rich", GrpcError.INVALID_ARGUMENT, False), ("boom", GrpcError.INTERNAL, True)],
    ids=["client-error", "server-error"],
)
async def test_status_and_exception_on_the_span(
    port: Port, spans: InMemorySpanExporter, text: str, code: int, error: bool
) -> None:
    result = await port.call(f"{SERVICE}/Hello", note(port, "Hello", text))
    assert result.code == code
    assert "hunter2" not in result.message  # the exception's text stays on the server
    (span,) = server_spans(spans)
    assert span.attributes["rpc.grpc.status_code"] == code
    assert (span.status.status_code == StatusCode.ERROR) is error
    events = [e for e in span.events if e.name == "exception"]
    if error:
        assert "hunter2" in events[0].attributes["exception.message"]
    else:
        assert not events


async def test_the_handler_sees_the_span_and_logs_carry_its_ids(
    port: Port, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    log_filter = TraceContextFilter()
    inside = logging.getLogger("calltest")
    inside.addFilter(log_filter)
    try:
        with caplog.at_level(logging.INFO):
            headers = {"traceparent": TRACEPARENT}
            result = await port.call(f"{SERVICE}/Hello", note(port, "Hello", "log"), headers)
    finally:
        inside.removeFilter(log_filter)
    assert result.code == 0
    (span,) = server_spans(spans)
    span_id = format(span.context.span_id, "016x")
    (handler_record,) = [r for r in caplog.records if r.name == "calltest"]
    assert (handler_record.trace_id, handler_record.span_id) == (TRACE_ID, span_id)
    (access,) = [r for r in caplog.records if r.name == "cello.access"]
    assert access.getMessage().endswith(f" trace_id={TRACE_ID} span_id={span_id}")
    assert (access.trace_id, access.span_id) == (TRACE_ID, span_id)


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


async def test_prometheus_counts_match_the_calls(port: Port) -> None:
    for text in ("a", "b", "rich"):
        await port.call(f"{SERVICE}/Hello", note(port, "Hello", text))
    await port.call(f"{SERVICE}/Watch", note(port, "Watch", "n"))
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port.server.metrics_port}/metrics")
    assert response.status_code == 200
    found = _samples(response.text)
    hello = {
        ("grpc_type", "unary"),
        ("grpc_service", "calltest.v1.CallService"),
        ("grpc_method", "Hello"),
    }
    watch = {
        ("grpc_type", "server_stream"),
        ("grpc_service", "calltest.v1.CallService"),
        ("grpc_method", "Watch"),
    }
    assert found["grpc_server_started_total", frozenset(hello)] == 3
    assert found["grpc_server_handled_total", frozenset(hello | {("grpc_code", "OK")})] == 2
    invalid = frozenset(hello | {("grpc_code", "InvalidArgument")})
    assert found["grpc_server_handled_total", invalid] == 1
    assert found["grpc_server_handling_seconds_count", frozenset(hello)] == 3
    assert found["grpc_server_msg_received_total", frozenset(hello)] == 3
    assert found["grpc_server_msg_sent_total", frozenset(hello)] == 2
    assert found["grpc_server_msg_sent_total", frozenset(watch)] == 3
    assert found["grpc_server_in_flight", frozenset(hello)] == 0
    assert any(name == "process_cpu_seconds_total" for name, _ in found)


async def test_refused_calls_are_counted(port: Port) -> None:
    # concurrency_limit=1: a call waits in the handler while a second one is refused
    slow = note(port, "Hello", "slow")
    first = asyncio.create_task(port.call(f"{SERVICE}/Hello", slow))
    for _ in range(200):
        if port.server._limiter.active:
            break
        await asyncio.sleep(0.01)
    second = await port.call(f"{SERVICE}/Hello", note(port, "Hello", "x"))
    event("release").set()
    assert (await first).code == 0
    assert second.code == GrpcError.RESOURCE_EXHAUSTED
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port.server.metrics_port}/metrics")
    found = _samples(response.text)
    labels = frozenset({("grpc_service", "calltest.v1.CallService"), ("grpc_method", "Hello")})
    assert found["grpc_server_refused_total", labels] == 1


async def test_opentelemetry_metrics(port: Port) -> None:
    _METRICS.get_metrics_data()  # what earlier tests recorded is read (the counters are
    # cumulative: compare before and after)
    before = _otel_points()
    await port.call(f"{SERVICE}/Hello", note(port, "Hello", "hi"))
    after = _otel_points()
    key = ("rpc.server.calls.handled", "Hello", 0)
    assert after.get(key, 0) - before.get(key, 0) == 1
    started = ("rpc.server.calls.started", "Hello", None)
    assert after.get(started, 0) - before.get(started, 0) == 1
    duration = ("rpc.server.call.duration", "Hello", 0)
    assert after.get(duration, 0) - before.get(duration, 0) == 1
    size = ("rpc.server.request.size", "Hello", 0)
    assert after.get(size, 0) - before.get(size, 0) == 1


def _otel_points() -> dict[tuple[str, str, int | None], float]:
    """Counter sums and histogram counts by (instrument, rpc.method, status code)."""
    points: dict[tuple[str, str, int | None], float] = {}
    data = _METRICS.get_metrics_data()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = dict(point.attributes)
                    key = (
                        metric.name,
                        attributes.get("rpc.method"),
                        attributes.get("rpc.grpc.status_code"),
                    )
                    value = getattr(point, "count", None)
                    points[key] = points.get(key, 0) + (value if value is not None else point.value)
    return points


async def test_a_server_without_them_makes_no_spans(spans: InMemorySpanExporter) -> None:
    server = await start()
    try:
        port = Port("grpc", server)
        result = await port.call(f"{SERVICE}/Hello", note(port, "Hello", "hi"))
        assert result.code == 0
        assert server_spans(spans) == []
        assert server.metrics_port is None
    finally:
        await server.stop(0)


def test_import_cello_loads_neither_opentelemetry_nor_prometheus() -> None:
    code = (
        "import sys, cello\n"
        "cello.GrpcConfig()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'prometheus'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("option", "blocked"),
    [
        ("tracing=True", "opentelemetry"),
        ("metrics=True", "opentelemetry"),
        ("metrics_port=0", "prometheus_client"),
    ],
)
def test_without_the_packages_the_config_names_the_install(option: str, blocked: str) -> None:
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        f"        if name.split('.')[0] == {blocked!r}: raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import cello\n"
        f"cello.GrpcConfig({option})\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert f"GrpcConfig.{option.split('=')[0]}=" in last
    assert "pip install 'cello-grpc[otel]'" in last


async def test_the_metrics_port_is_outside_auth_and_on_loopback() -> None:
    from cello import token_auth

    server = await start(middleware=[token_auth(lambda token: None)], metrics_port=0)
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{server.metrics_port}/metrics")
        assert response.status_code == 200
        assert server._metrics._httpd.server_address[0] == "127.0.0.1"
    finally:
        await server.stop(0)


def test_metrics_port_is_checked() -> None:
    with pytest.raises(ValueError, match="GrpcConfig.metrics_port must be between 0 and 65535"):
        GrpcConfig(metrics_port=70000)
    assert GrpcServer(config=GrpcConfig(metrics_port=0)).metrics_port is None  # until started


async def test_a_handlers_outgoing_calls_continue_its_trace(spans: InMemorySpanExporter) -> None:
    from cello import GrpcChannel

    downstream = await start(tracing=True)
    channel = await GrpcChannel.connect(downstream.address, tracing=True)

    async def call_downstream(call: Any, call_next: Any) -> Any:
        # no trace code: the traced channel picks the server span up from the context
        await channel.call("calltest.v1.CallService", "Hello", {"text": "down"})
        return await call_next()

    upstream = await start(middleware=[call_downstream], tracing=True)
    try:
        port = Port("grpc", upstream)
        headers = {"traceparent": TRACEPARENT}
        result = await port.call(f"{SERVICE}/Hello", note(port, "Hello", "up"), headers)
        assert result.code == 0
    finally:
        await channel.close()
        await upstream.stop(0)
        await downstream.stop(0)
    finished = spans.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in finished} == {TRACE_ID}
    by_port = {s.attributes["server.port"]: s for s in server_spans(spans)}
    up_span, down_span = by_port[upstream.port], by_port[downstream.port]
    (client,) = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert client.name == "calltest.v1.CallService/Hello"
    assert client.parent.span_id == up_span.context.span_id
    assert down_span.parent.span_id == client.context.span_id
    assert client.attributes["rpc.grpc.status_code"] == 0
    assert client.attributes["server.port"] == downstream.port


async def test_blocking_channels_of_standalone_clients_make_client_spans(
    spans: InMemorySpanExporter,
) -> None:
    """`open_sync_channel(tracing=True)` is what `SyncClient.connect(tracing=True)` of a
    standalone client opens."""
    from opentelemetry import trace as otel_trace

    from cello._client.connection import open_sync_channel

    server = await start(tracing=True)
    port = Port("grpc", server)
    hello, watch = note(port, "Hello", "hi"), note(port, "Watch", "n")

    def calls() -> None:
        channel = open_sync_channel(server.address, tracing=True)
        try:
            with otel_trace.get_tracer("test").start_as_current_span("outer"):
                serialize = {"request_serializer": lambda m: m.SerializeToString()}
                channel.unary_unary(f"{SERVICE}/Hello", **serialize)(hello, timeout=10)
                list(channel.unary_stream(f"{SERVICE}/Watch", **serialize)(watch, timeout=10))
        finally:
            channel.close()

    try:
        await asyncio.to_thread(calls)
    finally:
        await server.stop(0)
    finished = spans.get_finished_spans()
    (outer,) = [s for s in finished if s.name == "outer"]
    clients = {s.name: s for s in finished if s.kind == SpanKind.CLIENT}
    servers = {s.name: s for s in server_spans(spans)}
    for method in ("Hello", "Watch"):
        name = f"calltest.v1.CallService/{method}"
        assert clients[name].parent.span_id == outer.context.span_id
        assert servers[name].parent.span_id == clients[name].context.span_id
        assert clients[name].attributes["rpc.grpc.status_code"] == 0
