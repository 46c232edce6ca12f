"""Traces and metrics of every call, on every transport and protocol: OpenTelemetry spans
and instruments, and the Prometheus counters of grpc-ecosystem's Go provider.

`Telemetry` is built once per server from its config; `wrap` puts it around each endpoint's
run, outermost (outside the middleware, so the access log and the handler see the span as
current). Everything per method (names, attributes, label children) is computed there,
once; a call pays a few stores and the instruments' own cost.

opentelemetry and prometheus_client are optional (`pip install 'cello-grpc[otel]'`) and
imported here only when a server turns them on: `import cello` never loads them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .._errors import GrpcError
from .context import CallContext, _current

Run = Callable[[Any, CallContext], Any]

# The OpenTelemetry RPC conventions: a server span is an error for these codes only (the
# others are the client's doing).
SERVER_ERROR_CODES = frozenset({2, 4, 12, 13, 14, 15})
# grpc-go's `codes.Code.String()`, the `grpc_code` label every Go dashboard filters on
GO_CODE_NAMES = (
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
)
# The Prometheus client's (and the Go provider's) default buckets, in seconds
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def rpc_type(client_streaming: bool, server_streaming: bool) -> str:
    """The Go provider's `grpc_type` label."""
    if client_streaming:
        return "bidi_stream" if server_streaming else "client_stream"
    return "server_stream" if server_streaming else "unary"


class Telemetry:
    """The tracer, instruments and Prometheus metrics of one server.

    Args:
        tracing: a server span per call, from the global `TracerProvider`.
        metrics: OpenTelemetry instruments, from the global `MeterProvider`.
        prometheus: the Go provider's metrics in a registry of their own, served by the
            server's metrics port.
        host: the address the server binds, the spans' `server.address`.
    """

    def __init__(
        self, *, tracing: bool, metrics: bool, prometheus: bool, host: str = "127.0.0.1"
    ) -> None:
        self.host = host
        # protocol → port, filled in once the ports are bound (`server.port` on spans)
        self.ports: dict[str, int] = {}
        self.tracing = _Tracing() if tracing else None
        self.meters = _Meters() if metrics else None
        self.prometheus = Prometheus() if prometheus else None

    def wrap(self, run: Run, method: str, client_streaming: bool, server_streaming: bool) -> Run:
        """`run` recorded: a span around it, counts and times after it."""
        service, name = method[1:].split("/", 1)
        kind = rpc_type(client_streaming, server_streaming)
        tracing = self.tracing
        recorders = [r.recorder(service, name, kind) for r in (self.meters, self.prometheus) if r]
        counted = bool(recorders)
        span_of = tracing.spans(self, service, name) if tracing else None

        async def observed(request: Any, call: CallContext) -> Any:
            start = time.perf_counter()
            if counted:
                for r in recorders:
                    r.started()
                call._received = 0 if client_streaming else 1  # type: ignore[attr-defined]
                call._sent = 0  # type: ignore[attr-defined]
                if client_streaming:
                    request = _counting(request, call)
                if server_streaming:
                    call._write = _counting_writer(call._write, call)  # type: ignore[attr-defined]
            span = span_of(call) if span_of else None
            code = GrpcError.INTERNAL
            try:
                result = await run(request, call)
                code = GrpcError.OK
                if counted and not server_streaming:
                    call._sent = 1  # type: ignore[attr-defined]
                return result
            except GrpcError as exc:
                code = exc.code or GrpcError.UNKNOWN
                raise
            except asyncio.CancelledError:
                code = GrpcError.CANCELLED
                raise
            except BaseException as exc:
                if span is not None:
                    span.record(exc)
                raise
            finally:
                if span is not None:
                    span.end(code)
                if counted:
                    seconds = time.perf_counter() - start
                    for r in recorders:
                        r.handled(call, code, seconds)

        return observed

    def refused(self, method: str) -> None:
        """A call refused by `concurrency_limit` (before any span or count)."""
        service, name = method[1:].split("/", 1)
        if self.meters:
            self.meters.refused.add(1, {"rpc.service": service, "rpc.method": name})
        if self.prometheus:
            self.prometheus.refused.labels(service, name).inc()


async def _counting(requests: AsyncIterator[Any], call: Any) -> AsyncIterator[Any]:
    async for message in requests:
        call._received += 1
        yield message


def _counting_writer(write: Callable[[Any], Any], call: Any) -> Callable[[Any], Any]:
    async def counting_write(message: Any) -> None:
        call._sent += 1
        await write(message)

    return counting_write


class _Span:
    """One server span, current (with its baggage) while the call runs."""

    __slots__ = ("span", "token", "detach", "error")

    def __init__(self, span: Any, token: Any, detach: Any, error: Any) -> None:
        self.span = span
        self.token = token
        self.detach = detach
        self.error = error

    def record(self, exc: BaseException) -> None:
        # the client gets INTERNAL with a generic message; the text goes to the span only
        self.span.record_exception(exc)

    def end(self, code: int) -> None:
        span = self.span
        span.set_attribute("rpc.grpc.status_code", code)
        if code in SERVER_ERROR_CODES:
            span.set_status(self.error(_code_name(code)))
        span.end()
        self.detach(self.token)


def _code_name(code: int) -> str:
    return GO_CODE_NAMES[code] if 0 <= code < len(GO_CODE_NAMES) else str(code)


class _MetadataGetter:
    """Reads W3C trace context and baggage from a call's metadata (gRPC metadata, and the
    HTTP headers of gRPC-Web and Connect alike)."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        values = carrier.get_all(key)
        if not values:
            return None
        return [v.decode("latin-1") if isinstance(v, bytes) else v for v in values]

    def keys(self, carrier: Any) -> list[str]:
        return [k for k, _ in carrier]


class _Tracing:
    def __init__(self) -> None:
        from opentelemetry import context, propagate, trace

        self.tracer = trace.get_tracer("cello")
        self.extract = propagate.extract
        self.attach = context.attach
        self.detach = context.detach
        self.in_context = trace.set_span_in_context
        self.server = trace.SpanKind.SERVER
        status, error = trace.Status, trace.StatusCode.ERROR
        self.error = lambda description: status(error, description)
        self.getter = _MetadataGetter()

    def spans(self, telemetry: Telemetry, service: str, name: str) -> Callable[[Any], _Span]:
        """A function opening the span of a call to `service/name`."""
        tracer, extract, getter = self.tracer, self.extract, self.getter
        attach, detach, in_context = self.attach, self.detach, self.in_context
        kind, error = self.server, self.error
        span_name = f"{service}/{name}"
        fixed = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": name,
            "server.address": telemetry.host,
            "network.protocol.name": "http",
        }

        def open_span(call: CallContext) -> _Span:
            parent = extract(call.metadata, getter=getter)  # type: ignore[arg-type]
            attributes: dict[str, Any] = dict(fixed)
            attributes["cello.rpc.protocol"] = call.protocol or "grpc"
            port = telemetry.ports.get(call.protocol or "grpc")
            if port is not None:
                attributes["server.port"] = port
            if call.protocol in ("grpc", ""):
                attributes["network.protocol.version"] = "2"
            span = tracer.start_span(span_name, parent, kind, attributes)
            call.span = span
            return _Span(span, attach(in_context(span, parent)), detach, error)

        return open_span


class _Meters:
    """The OpenTelemetry instruments (no-ops until a `MeterProvider` is configured)."""

    def __init__(self) -> None:
        from opentelemetry import metrics

        meter = metrics.get_meter("cello")
        self.started = meter.create_counter(
            "rpc.server.calls.started", unit="{call}", description="calls started"
        )
        self.handled = meter.create_counter(
            "rpc.server.calls.handled", unit="{call}", description="calls ended, by status"
        )
        self.duration = meter.create_histogram(
            "rpc.server.call.duration", unit="s", description="time to handle a call"
        )
        self.request_size = meter.create_histogram(
            "rpc.server.request.size", unit="By", description="request bytes per call"
        )
        self.response_size = meter.create_histogram(
            "rpc.server.response.size", unit="By", description="response bytes per call"
        )
        self.received = meter.create_counter(
            "rpc.server.messages.received", unit="{message}", description="messages received"
        )
        self.sent = meter.create_counter(
            "rpc.server.messages.sent", unit="{message}", description="messages sent"
        )
        self.refused = meter.create_counter(
            "rpc.server.calls.refused",
            unit="{call}",
            description="calls refused by concurrency_limit",
        )
        self.active = meter.create_up_down_counter(
            "rpc.server.active_requests", unit="{call}", description="calls in flight"
        )

    def recorder(self, service: str, name: str, kind: str) -> _MeterRecorder:
        return _MeterRecorder(self, service, name, kind)


class _MeterRecorder:
    """The instruments of one method, with its attribute sets made once."""

    def __init__(self, meters: _Meters, service: str, name: str, kind: str) -> None:
        self.m = meters
        self.base = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        self.by_code: dict[int, dict[str, Any]] = {}

    def started(self) -> None:
        self.m.started.add(1, self.base)
        self.m.active.add(1, self.base)

    def handled(self, call: Any, code: int, seconds: float) -> None:
        m = self.m
        attributes = self.by_code.get(code)
        if attributes is None:
            attributes = self.by_code[code] = {**self.base, "rpc.grpc.status_code": code}
        m.active.add(-1, self.base)
        m.handled.add(1, attributes)
        m.duration.record(seconds, attributes)
        m.request_size.record(call.request_size, attributes)
        m.response_size.record(call.response_size, attributes)
        m.received.add(call._received, self.base)
        m.sent.add(call._sent, self.base)


class Prometheus:
    """grpc-ecosystem's Go provider metrics, in a registry of their own.

    With `$PROMETHEUS_MULTIPROC_DIR` set (`cello serve --workers`), prometheus_client keeps
    the values in files there, and the exposition sums every worker's files, those of
    workers that died or were replaced included: totals survive a restart.
    """

    def __init__(self) -> None:
        import prometheus_client as pc

        self.registry = pc.CollectorRegistry(auto_describe=True)
        pc.ProcessCollector(registry=self.registry)
        pc.PlatformCollector(registry=self.registry)
        labels = ("grpc_type", "grpc_service", "grpc_method")
        r = self.registry
        self.started_total = pc.Counter(
            "grpc_server_started", "RPCs started on the server.", labels, registry=r
        )
        self.handled_total = pc.Counter(
            "grpc_server_handled",
            "RPCs completed on the server, regardless of success or failure.",
            (*labels, "grpc_code"),
            registry=r,
        )
        self.seconds = pc.Histogram(
            "grpc_server_handling_seconds",
            "Response latency (seconds) of gRPC that had been application-level handled.",
            labels,
            buckets=BUCKETS,
            registry=r,
        )
        self.received_total = pc.Counter(
            "grpc_server_msg_received", "RPC stream messages received.", labels, registry=r
        )
        self.sent_total = pc.Counter(
            "grpc_server_msg_sent", "RPC stream messages sent.", labels, registry=r
        )
        self.refused = pc.Counter(
            "grpc_server_refused",
            "RPCs refused by the server's concurrency_limit.",
            ("grpc_service", "grpc_method"),
            registry=r,
        )
        self.in_flight = pc.Gauge(
            "grpc_server_in_flight",
            "RPCs being handled.",
            labels,
            registry=r,
            multiprocess_mode="livesum",
        )

    def recorder(self, service: str, name: str, kind: str) -> _PrometheusRecorder:
        return _PrometheusRecorder(self, (kind, service, name))


class _PrometheusRecorder:
    """One method's label children, looked up once (a code's on its first use)."""

    def __init__(self, p: Prometheus, labels: tuple[str, str, str]) -> None:
        self.labels = labels
        self.handled_total = p.handled_total
        self.start = p.started_total.labels(*labels).inc
        self.observe = p.seconds.labels(*labels).observe
        self.receive = p.received_total.labels(*labels).inc
        self.send = p.sent_total.labels(*labels).inc
        flight = p.in_flight.labels(*labels)
        self.flight_inc, self.flight_dec = flight.inc, flight.dec
        self.by_code: dict[int, Callable[[], None]] = {}

    def started(self) -> None:
        self.start()
        self.flight_inc()

    def handled(self, call: Any, code: int, seconds: float) -> None:
        inc = self.by_code.get(code)
        if inc is None:
            inc = self.by_code[code] = self.handled_total.labels(*self.labels, _code_name(code)).inc
        self.flight_dec()
        inc()
        self.observe(seconds)
        if call._received:
            self.receive(call._received)
        if call._sent:
            self.send(call._sent)


def trace_ids(span: Any) -> tuple[str, str] | None:
    """`(trace_id, span_id)` of `span` in hex, as W3C and every tracing UI print them;
    None for no span or one that is not recording a valid trace."""
    if span is None:
        return None
    context = span.get_span_context()
    if not context.trace_id:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class TraceContextFilter(logging.Filter):
    """Adds `trace_id` and `span_id` to every log record made while a traced call runs.

    Install it on a handler, e.g. `handler.addFilter(cello.TraceContextFilter())`, and
    use `%(trace_id)s` in the format (or read the fields in a JSON formatter). Outside a
    traced call, the current OpenTelemetry span is used if there is one; else both are
    empty strings. It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        call = _current.get(None)
        span = call.span if call is not None else None
        if span is None and "opentelemetry.trace" in sys.modules:
            span = sys.modules["opentelemetry.trace"].get_current_span()
        ids = trace_ids(span)
        record.trace_id, record.span_id = ids or ("", "")
        return True
