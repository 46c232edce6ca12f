"""`CallContext`: one rpc as handlers and middleware see it, the same on every protocol."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._security.identity import PeerIdentity

MetadataValue = str | bytes
Pairs = tuple[tuple[str, MetadataValue], ...]

_current: contextvars.ContextVar[CallContext] = contextvars.ContextVar("cello_call")


def current_call() -> CallContext:
    """The `CallContext` of the rpc being served, from inside a handler or middleware.

    Raises:
        LookupError: called outside an rpc.
    """
    try:
        return _current.get()
    except LookupError:
        raise LookupError(
            "current_call() is only available while an rpc is served; "
            "call it from a handler or a middleware"
        ) from None


def pairs(metadata: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> Pairs:
    """Metadata given as a dict or as pairs → a tuple of `(key, value)` pairs."""
    if not metadata:
        return ()
    items = metadata.items() if isinstance(metadata, Mapping) else metadata
    return tuple((str(k), v if isinstance(v, bytes) else str(v)) for k, v in items)


class Metadata:
    """Request metadata, keeping repeated keys in order (keys are lower case)."""

    __slots__ = ("_pairs",)

    def __init__(self, items: Iterable[tuple[str, MetadataValue]] = ()) -> None:
        self._pairs: Pairs = tuple(items)

    def get(self, key: str, default: MetadataValue | None = None) -> MetadataValue | None:
        """The first value of `key`, or `default`."""
        for k, v in self._pairs:
            if k == key:
                return v
        return default

    def get_all(self, key: str) -> list[MetadataValue]:
        """Every value of `key`, in the order received."""
        return [v for k, v in self._pairs if k == key]

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self._pairs)

    def __iter__(self) -> Iterator[tuple[str, MetadataValue]]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def to_dict(self) -> dict[str, MetadataValue]:
        """As a dict; a repeated key keeps its last value (the old `GrpcRequest.metadata`)."""
        return dict(self._pairs)

    def __repr__(self) -> str:
        return f"Metadata({list(self._pairs)!r})"


class CallContext:
    """One rpc: what it is, who called, and what to send back besides messages.

    Each transport subclasses it to carry out `send_headers` and to report cancellation;
    handlers get it from `cello.current_call()` or `GrpcRequest.context`, middleware as its
    first argument.

    Attributes:
        method: the full method name, `/package.Service/Method`.
        protocol: `"grpc"`, `"grpc-web"` or `"connect"`.
        request: the request message of a unary-request call (a `_pb2` message), else None.
        auth: whatever the authentication middleware's verify function returned.
        code: the final status code, set by the transport once the call ended (0 is OK);
            middleware sees the outcome earlier, as `call_next()` returning or raising.
        request_size: bytes of request messages received so far.
        response_size: bytes of response messages sent so far.
        trailers: the trailing metadata set so far, as `(key, value)` pairs.
        compression: the response compression chosen for this call, or None.
        span: the call's OpenTelemetry server span with `GrpcConfig(tracing=True)`, else
            None (it is also the current span while the handler runs).
        request_compressed: whether the request message (the latest one, on a request
            stream) arrived compressed; None where the transport cannot tell: grpc C-core
            (transports "aio" and "threads") decompresses before Python sees the message
            and does not say whether it was compressed. Native gRPC on the "h2" transport
            tells.
    """

    # Defaults live on the class (no __slots__), so a transport creates a call per rpc
    # by setting only what differs: the per-call cost stays a couple of stores.
    protocol: str = ""
    request: Any = None
    auth: Any = None
    code: int | None = None
    request_size: int = 0
    response_size: int = 0
    trailers: Pairs = ()
    compression: str | None = None
    span: Any = None
    request_compressed: bool | None = None
    _skip_compression = False  # the next response message goes out uncompressed
    _deadline: float | None = None  # a time.monotonic() instant
    _abandoned = False  # the task serving the call was cancelled (a sync handler's thread
    # runs on, and reads `cancelled`)

    def __init__(self, method: str, protocol: str = "", deadline: float | None = None) -> None:
        self.method = method
        if protocol:
            self.protocol = protocol
        if deadline is not None:
            self._deadline = deadline

    @property
    def service(self) -> str:
        """The full service name, `package.Service`."""
        return self.method[1:].split("/", 1)[0]

    # -- about the call (transports override what they know better) --

    @property
    def metadata(self) -> Metadata:
        """The request metadata, repeated keys kept."""
        return Metadata()

    @property
    def peer(self) -> str:
        """The client's address, e.g. `ipv4:127.0.0.1:5555`."""
        return "unknown"

    @property
    def peer_identity(self) -> PeerIdentity | None:
        """The verified client certificate's identity under mTLS (None otherwise)."""
        return None

    @property
    def deadline(self) -> float | None:
        """The client's deadline as a `time.monotonic()` instant, or None."""
        return self._deadline

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline, or None if the client set none."""
        deadline = self.deadline
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    @property
    def cancelled(self) -> bool:
        """True once the client cancelled the call or its deadline passed."""
        return self._abandoned

    @property
    def headers_sent(self) -> bool:
        """True once the response headers (initial metadata) went out."""
        return False

    # -- what goes back --

    async def send_headers(
        self, metadata: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()
    ) -> None:
        """Send the response headers (initial metadata) now, before any message.

        Allowed once, before the first message or the status; also on a stream that
        sends no message and on a call that ends in an error.

        Raises:
            RuntimeError: the headers were already sent.
        """
        raise NotImplementedError

    def set_trailers(self, metadata: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Add trailing metadata, sent with the status at the end of any call."""
        self.trailers += pairs(metadata)

    def set_compression(self, algorithm: str | None) -> None:
        """Compress this call's response messages: `"gzip"`, or None for none.

        Raises:
            ValueError: an algorithm other than gzip.
        """
        if algorithm not in (None, "gzip", "identity"):
            raise ValueError(f"set_compression({algorithm!r}): only 'gzip' is supported")
        self.compression = None if algorithm == "identity" else algorithm

    def disable_next_message_compression(self) -> None:
        """Send the next response message uncompressed, even when the call compresses
        (`set_compression("gzip")`); the messages after it are compressed again. A server
        stream may so compress some messages and not others."""
        self._skip_compression = True

    def __repr__(self) -> str:
        return f"<CallContext {self.protocol} {self.method} peer={self.peer}>"


def trace_ids(span: Any) -> tuple[str, str] | None:
    """`(trace_id, span_id)` of `span` in hex, as W3C and every tracing UI print them;
    None for no span or one that is not recording a valid trace."""
    if span is None:
        return None
    context = span.get_span_context()
    if not context.trace_id:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
