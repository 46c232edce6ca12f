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
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .._errors import GrpcError
from .context import CallContext, _current, trace_ids

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
        self.meters = _meters() if metrics else None
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
            self.meters.refuse(service, name)
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
        self.textmap = propagate.get_global_textmap
        self.empty = context.Context()
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
        textmap = self.textmap
        empty = self.empty
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
            metadata = call.metadata
            fields = textmap().fields  # the configured propagators' keys
            parent = empty  # a root span: most calls carry no context, and then the
            # propagators are not run
            if any(key in fields for key, _ in metadata):
                parent = extract(metadata, getter=getter)  # type: ignore[arg-type]
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


_shared_meters: _Meters | None = None


def _meters() -> _Meters:
    """The process's one set of instruments: an observable instrument registered twice
    under one name keeps the first one's callbacks, so every server shares these."""
    global _shared_meters
    if _shared_meters is None:
        _shared_meters = _Meters()
    return _shared_meters


class _Meters:
    """The OpenTelemetry instruments (no-ops until a `MeterProvider` is configured), one
    set per process, for every server's methods.

    A call records three histograms (time, request and response size); the counters
    (started, handled by code, messages, refused) and the in-flight count are plain ints
    per method, read by the SDK's callbacks when it collects: a synchronous counter costs
    as much as a histogram, and a call would otherwise pay for eight.
    """

    def __init__(self) -> None:
        from opentelemetry import metrics

        meter = metrics.get_meter("cello")
        self.observation = metrics.Observation
        self.recorders: list[_MeterRecorder] = []
        self.refused_counts: dict[tuple[str, str], int] = {}
        self.duration = meter.create_histogram(
            "rpc.server.call.duration", unit="s", description="time to handle a call"
        )
        self.request_size = meter.create_histogram(
            "rpc.server.request.size", unit="By", description="request bytes per call"
        )
        self.response_size = meter.create_histogram(
            "rpc.server.response.size", unit="By", description="response bytes per call"
        )
        for name, unit, description, read in (
            ("rpc.server.calls.started", "{call}", "calls started", self._started),
            ("rpc.server.calls.handled", "{call}", "calls ended, by status", self._handled),
            ("rpc.server.messages.received", "{message}", "messages received", self._received),
            ("rpc.server.messages.sent", "{message}", "messages sent", self._sent),
            ("rpc.server.calls.refused", "{call}", "refused by concurrency_limit", self._refused),
        ):
            meter.create_observable_counter(
                name, callbacks=[read], unit=unit, description=description
            )
        meter.create_observable_up_down_counter(
            "rpc.server.active_requests",
            callbacks=[self._active],
            unit="{call}",
            description="calls in flight",
        )

    def recorder(self, service: str, name: str, kind: str) -> _MeterRecorder:
        recorder = _MeterRecorder(self, service, name)
        self.recorders.append(recorder)
        return recorder

    def refuse(self, service: str, name: str) -> None:
        key = (service, name)
        self.refused_counts[key] = self.refused_counts.get(key, 0) + 1

    # The callbacks (`options` is the SDK's CallbackOptions). Servers serving the same
    # method share its attributes: an observable instrument takes one value per attribute
    # set, so theirs are summed here.
    def _observe(self, counts: Any) -> list[Any]:
        totals: dict[tuple[tuple[str, Any], ...], int] = {}
        for attributes, count in counts:
            key = tuple(attributes.items())
            totals[key] = totals.get(key, 0) + count
        return [self.observation(count, dict(key)) for key, count in totals.items()]

    def _started(self, options: Any) -> list[Any]:
        return self._observe((r.base, r.started_count) for r in self.recorders)

    def _handled(self, options: Any) -> list[Any]:
        return self._observe(
            (r.by_code[code], count)
            for r in self.recorders
            for code, count in list(r.handled_counts.items())
        )

    def _received(self, options: Any) -> list[Any]:
        return self._observe((r.base, r.received) for r in self.recorders)

    def _sent(self, options: Any) -> list[Any]:
        return self._observe((r.base, r.sent) for r in self.recorders)

    def _active(self, options: Any) -> list[Any]:
        return self._observe((r.base, r.active) for r in self.recorders)

    def _refused(self, options: Any) -> list[Any]:
        return self._observe(
            ({"rpc.system": "grpc", "rpc.service": s, "rpc.method": n}, count)
            for (s, n), count in list(self.refused_counts.items())
        )


class _MeterRecorder:
    """One method's counts, and its attribute sets made once (a code's on first use)."""

    def __init__(self, meters: _Meters, service: str, name: str) -> None:
        self.duration = meters.duration.record
        self.request_size = meters.request_size.record
        self.response_size = meters.response_size.record
        self.base = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        self.by_code: dict[int, dict[str, Any]] = {}
        self.handled_counts: dict[int, int] = {}
        self.started_count = self.active = self.received = self.sent = 0
        # the threads transport runs calls on several threads at once: `+=` on an
        # attribute is no atomic step
        self.lock = threading.Lock()

    def started(self) -> None:
        with self.lock:
            self.started_count += 1
            self.active += 1

    def handled(self, call: Any, code: int, seconds: float) -> None:
        attributes = self.by_code.get(code)
        if attributes is None:
            attributes = self.by_code[code] = {**self.base, "rpc.grpc.status_code": code}
        with self.lock:
            self.active -= 1
            self.handled_counts[code] = self.handled_counts.get(code, 0) + 1
            self.received += call._received
            self.sent += call._sent
        self.duration(seconds, attributes)
        self.request_size(call.request_size, attributes)
        self.response_size(call.response_size, attributes)


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
