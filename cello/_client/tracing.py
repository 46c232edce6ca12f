"""Client spans: `tracing=True` on `GrpcChannel`, typed and standalone clients.

Each call gets an OpenTelemetry CLIENT span, child of the current span (inside a traced
handler, the server span: a handler's outgoing calls continue the incoming trace with
no code), and the W3C `traceparent`/`tracestate` and `baggage` go out in its metadata.
These are grpc interceptors, one class for grpc.aio channels and one for blocking ones;
opentelemetry is imported only when a client turns tracing on.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any, NamedTuple

import grpc
import grpc.aio

FIX = "pip install 'cello-grpc[otel]'"
_ending: set[asyncio.Future[None]] = set()


def require_opentelemetry(where: str) -> None:
    """Raise the install line when `tracing=True` is asked of `where` without the API.

    Raises:
        ValueError: opentelemetry-api is not installed.
    """
    try:
        found = importlib.util.find_spec("opentelemetry.trace") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise ValueError(
            f"{where}(tracing=True) needs the opentelemetry-api package, which is not "
            f"installed; {FIX}"
        )


class _Spans:
    """Starts a client span for a method and injects its context into the metadata."""

    def __init__(self, target: str) -> None:
        from opentelemetry import propagate, trace

        self.tracer = trace.get_tracer("cello")
        self.inject = propagate.inject
        self.in_context = trace.set_span_in_context
        self.kind = trace.SpanKind.CLIENT
        self.error = trace.StatusCode.ERROR
        self.status = trace.Status
        host, _, port = target.rpartition(":")
        self.address = {"server.address": host or target}
        if port.isdigit():
            self.address["server.port"] = int(port)  # type: ignore[assignment]

    def start(self, method: Any, metadata: Any) -> tuple[Any, list[tuple[str, Any]]]:
        """The span of a call to `method`, and the metadata to send with its context."""
        path = method.decode() if isinstance(method, bytes) else str(method)
        service, _, name = path.lstrip("/").partition("/")
        attributes = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": name,
            **self.address,
        }
        span = self.tracer.start_span(f"{service}/{name}", kind=self.kind, attributes=attributes)
        carrier: dict[str, str] = {}
        self.inject(carrier, context=self.in_context(span))
        sent = [(k, v) for k, v in (metadata or ())] + list(carrier.items())
        return span, sent

    def finish(self, span: Any, code: grpc.StatusCode | None) -> None:
        """End `span` with the call's code (the conventions: any code but OK is an error
        on the client's side)."""
        value = code.value[0] if code is not None else 2
        span.set_attribute("rpc.grpc.status_code", value)
        if value != 0:
            span.set_status(self.status(self.error, code.name if code else "UNKNOWN"))
        span.end()


class AioTracing(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """Client spans for a grpc.aio channel."""

    def __init__(self, target: str) -> None:
        self.spans = _Spans(target)

    async def _intercept(self, continuation: Any, details: Any, request: Any) -> Any:
        span, metadata = self.spans.start(details.method, details.metadata)
        details = grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*metadata),
            details.credentials,
            details.wait_for_ready,
        )
        finish = self.spans.finish
        try:
            call = await continuation(details, request)
        except BaseException:
            finish(span, None)
            raise

        def done(finished: Any) -> None:
            async def ended() -> None:
                finish(span, await finished.code())

            task = asyncio.ensure_future(ended())
            _ending.add(task)  # held until it ran: the loop keeps only a weak reference
            task.add_done_callback(_ending.discard)

        call.add_done_callback(done)
        return call

    intercept_unary_unary = _intercept  # type: ignore[assignment]
    intercept_unary_stream = _intercept  # type: ignore[assignment]
    intercept_stream_unary = _intercept  # type: ignore[assignment]
    intercept_stream_stream = _intercept  # type: ignore[assignment]


class _SyncDetails(NamedTuple):
    method: Any
    timeout: Any
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class _CallDetails(_SyncDetails, grpc.ClientCallDetails):
    pass


class SyncTracing(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Client spans for a blocking grpc channel."""

    def __init__(self, target: str) -> None:
        self.spans = _Spans(target)

    def _intercept(self, continuation: Any, details: Any, request: Any) -> Any:
        span, metadata = self.spans.start(details.method, details.metadata)
        details = _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )
        finish = self.spans.finish
        try:
            call = continuation(details, request)
        except BaseException:
            finish(span, None)
            raise
        call.add_done_callback(lambda finished: finish(span, finished.code()))
        return call

    intercept_unary_unary = _intercept  # type: ignore[assignment]
    intercept_unary_stream = _intercept  # type: ignore[assignment]
    intercept_stream_unary = _intercept  # type: ignore[assignment]
    intercept_stream_stream = _intercept  # type: ignore[assignment]
