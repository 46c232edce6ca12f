"""`ClientCall` and the client middleware chain: one outgoing rpc as client middleware sees it.

Every Cello client (`GrpcChannel`, the in-process typed clients, the standalone ones) sends
each call through a chain built once when the client is made: the middleware, outermost
first, then the send itself, which calls grpc and turns its error into `GrpcError`.

A client middleware is `async def mw(call, call_next)` (a plain `def` on the blocking
clients), the shape of server middleware. `call_next()` sends the call and returns the
response message of a unary-response rpc, or an iterator of response messages for a
server stream (whose error, if any, is raised while iterating); it raises `GrpcError`.

Inside a handler, a call's deadline and chosen metadata come from the rpc being served
(`propagation.py` decides what); this module only carries them.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import grpc
import grpc.aio

from .._errors import GrpcError
from .policy import HedgingPolicy
from .propagation import Propagation, inherited

Pair = tuple[str, str | bytes]
Metadata = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]


def to_grpc_metadata(metadata: Metadata | None) -> tuple[tuple[str, str | bytes], ...] | None:
    """Cello metadata (a dict or pairs) → grpc's tuple of pairs, keys lower-cased."""
    if not metadata:
        return None
    pairs = metadata.items() if isinstance(metadata, Mapping) else metadata
    return tuple((str(k).lower(), v) for k, v in pairs)


def from_rpc_error(exc: grpc.RpcError) -> GrpcError:
    """The one translation of a grpc client error (aio or blocking) into Cello's `GrpcError`."""
    call: Any = exc  # both kinds of call error carry code, details and trailers
    metadata = dict(call.trailing_metadata() or ())
    details = status_details(metadata.get("grpc-status-details-bin"))
    return GrpcError(call.code().value[0], call.details() or "", metadata=metadata, details=details)


def status_details(raw: Any) -> list[Any]:
    """The detail messages of a serialized `google.rpc.Status` (`grpc-status-details-bin`).

    Details of a type known to the protobuf default pool (all of `google.rpc`'s error
    details, and any imported `_pb2` message) are unpacked; others stay `Any`.
    """
    if not isinstance(raw, bytes):
        return []
    from google.protobuf import descriptor_pool, message_factory
    from google.protobuf.message import DecodeError
    from google.rpc import error_details_pb2, status_pb2  # noqa: F401  (registers the types)

    try:
        status = status_pb2.Status.FromString(raw)
    except DecodeError:
        return []
    pool = descriptor_pool.Default()
    details: list[Any] = []
    for packed in status.details:
        try:
            descriptor = pool.FindMessageTypeByName(packed.TypeName())
        except KeyError:
            details.append(packed)
            continue
        message = message_factory.GetMessageClass(descriptor)()
        details.append(message if packed.Unpack(message) else packed)
    return details


class ClientCall:
    """One outgoing rpc, as client middleware sees and may change it before it is sent.

    Attributes:
        method: the full method name, `/package.Service/Method`.
        client_streaming: the request is a stream (`request` is an iterator).
        server_streaming: the response is a stream.
        request: the request message (a `_pb2` message), or the iterator of them.
        metadata: the metadata to send, as a list of `(key, value)` pairs (keys lower case);
            append to it to add a header.
        deadline: when the call times out, a `time.monotonic()` instant, or None for never;
            set `timeout` to change it.
        compression: `"gzip"` to compress the request messages, or None.
        response: the response message once `call_next()` returned (unary responses).
        error: the `GrpcError` the call ended with, once known.
        inherited: the deadline came from the rpc being served (propagation).
    """

    __slots__ = (
        "method",
        "client_streaming",
        "server_streaming",
        "request",
        "metadata",
        "deadline",
        "compression",
        "response",
        "error",
        "inherited",
        "_stub",
        "_grpc_call",
        "_hedging",
    )

    def __init__(
        self,
        method: str,
        client_streaming: bool,
        server_streaming: bool,
        request: Any,
        metadata: list[Pair],
        deadline: float | None,
        stub: Any,
        compression: str | None = None,
    ) -> None:
        self.method = method
        self.client_streaming = client_streaming
        self.server_streaming = server_streaming
        self.request = request
        self.metadata = metadata
        self.deadline = deadline
        self.compression = compression
        self.response: Any = None
        self.error: GrpcError | None = None
        self.inherited = False
        self._stub = stub
        self._grpc_call: Any = None
        self._hedging: HedgingPolicy | None = None

    @property
    def timeout(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    @timeout.setter
    def timeout(self, seconds: float | None) -> None:
        self.deadline = None if seconds is None else time.monotonic() + seconds

    def _grpc_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"timeout": self.timeout, "metadata": tuple(self.metadata)}
        if self.compression is not None:
            kwargs["compression"] = _COMPRESSION[self.compression]
        return kwargs

    def __repr__(self) -> str:
        return f"<ClientCall {self.method}>"


_COMPRESSION = {"gzip": grpc.Compression.Gzip, "identity": grpc.Compression.NoCompression}

CallNext: TypeAlias = Callable[[], Awaitable[Any]]
ClientMiddleware: TypeAlias = Callable[[ClientCall, CallNext], Awaitable[Any]]
SyncCallNext: TypeAlias = Callable[[], Any]
SyncClientMiddleware: TypeAlias = Callable[[ClientCall, SyncCallNext], Any]
Send: TypeAlias = Callable[[ClientCall], Awaitable[Any]]
SyncSend: TypeAlias = Callable[[ClientCall], Any]


def check_compression(where: str, compression: str | None) -> str | None:
    """`compression=` as given to a client, checked once."""
    if compression not in (None, *_COMPRESSION):
        raise ValueError(f"{where}: compression={compression!r} is not supported; use 'gzip'")
    return compression


class CallPlan:
    """What a client does for every call, decided once when the client is made.

    Args:
        where: the client's name, for error messages.
        middleware: client middleware, outermost first.
        propagation: what calls made inside a handler inherit from it.
        compression: compress every call's requests (`"gzip"`), unless a call says otherwise.
        sync: the client blocks (its middleware must be plain functions).
    """

    __slots__ = ("send", "propagation", "compression", "hedging")

    def __init__(
        self,
        where: str,
        *,
        middleware: Sequence[Any] = (),
        propagation: Propagation | None = None,
        compression: str | None = None,
        sync: bool = False,
    ) -> None:
        self.propagation = propagation or Propagation()
        self.compression = check_compression(where, compression)
        self.send: Any = _sync_chain(where, middleware) if sync else _async_chain(where, middleware)
        # `/service/method` → HedgingPolicy, set by `connect` (async clients, unary calls)
        self.hedging: dict[str, HedgingPolicy] = {}

    def start(
        self,
        method: str,
        client_streaming: bool,
        server_streaming: bool,
        request: Any,
        timeout: float | None,
        metadata: Metadata | None,
        stub: Any,
    ) -> ClientCall:
        """The `ClientCall` for one call: the given timeout and metadata, plus what the rpc
        being served passes on (a nearer deadline, the metadata keys asked for)."""
        pairs = list(to_grpc_metadata(metadata) or ())
        deadline = None if timeout is None else time.monotonic() + timeout
        call = ClientCall(
            method,
            client_streaming,
            server_streaming,
            request,
            pairs,
            deadline,
            stub,
            self.compression,
        )
        inherited(call, self.propagation)
        if self.hedging and not (client_streaming or server_streaming):
            call._hedging = self.hedging.get(method)
        return call


def _async_chain(where: str, middleware: Sequence[Any]) -> Send:
    send: Send = _send
    for mw in reversed(middleware):
        if not callable(mw):
            raise TypeError(f"{where}: middleware {mw!r} is not callable; pass functions")
        chosen = getattr(mw, "asynchronous", mw)  # a ready-made middleware has both forms
        send = _async_layer(chosen, send)
    return send


def _sync_chain(where: str, middleware: Sequence[Any]) -> SyncSend:
    send: SyncSend = _send_sync
    for mw in reversed(middleware):
        chosen = getattr(mw, "synchronous", mw)
        if not callable(chosen) or inspect.iscoroutinefunction(chosen):
            raise TypeError(
                f"{where}: middleware {mw!r} is async, but this client blocks; "
                "write it as `def mw(call, call_next)` (call_next() returns the response)"
            )
        send = _sync_layer(chosen, send)
    return send


def _async_layer(mw: ClientMiddleware, inner: Send) -> Send:
    async def send(call: ClientCall) -> Any:
        return await mw(call, lambda: inner(call))

    return send


def _sync_layer(mw: SyncClientMiddleware, inner: SyncSend) -> SyncSend:
    def send(call: ClientCall) -> Any:
        return mw(call, lambda: inner(call))

    return send


async def _send(call: ClientCall) -> Any:
    """The end of an async chain: the grpc.aio call itself."""
    if call._hedging is not None:
        return await _hedged(call, call._hedging)
    grpc_call = call._grpc_call = call._stub(call.request, **call._grpc_kwargs())
    if call.server_streaming:
        return _replies(call, grpc_call)
    try:
        call.response = await grpc_call
    except grpc.aio.AioRpcError as exc:
        call.error = from_rpc_error(exc)
        raise call.error from exc
    return call.response


async def _hedged(call: ClientCall, policy: HedgingPolicy) -> Any:
    """Send copies of a unary call `policy.delay` apart until one answers (gRFC A6 hedging,
    which grpc C-core does not implement): the first success wins and the others are
    cancelled; a copy failing with a non-fatal code sends the next at once; any other
    failure ends the call."""

    async def attempt() -> Any:
        try:
            return await call._stub(call.request, **call._grpc_kwargs())
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc

    pending: set[asyncio.Future[Any]] = set()
    sent = 0
    error: GrpcError | None = None
    try:
        while True:
            if sent < policy.max_attempts:
                pending.add(asyncio.ensure_future(attempt()))
                sent += 1
            if not pending:
                assert error is not None  # every copy failed, each non-fatally
                raise error
            wait = policy.delay if sent < policy.max_attempts else None
            done, pending = await asyncio.wait(
                pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                try:
                    call.response = task.result()
                except GrpcError as failed:
                    call.error = error = failed
                    if failed.code not in policy.non_fatal_codes:
                        raise
                    continue
                call.error = None
                return call.response
    finally:
        for task in pending:
            task.cancel()


async def _replies(call: ClientCall, grpc_call: Any) -> AsyncIterator[Any]:
    try:
        async for reply in grpc_call:
            yield reply
    except grpc.aio.AioRpcError as exc:
        call.error = from_rpc_error(exc)
        raise call.error from exc


def _send_sync(call: ClientCall) -> Any:
    """The end of a blocking chain: grpc's blocking call."""
    kwargs = call._grpc_kwargs()
    if call.server_streaming:
        grpc_call = call._grpc_call = call._stub(call.request, **kwargs)
        return _replies_sync(call, grpc_call)
    try:
        call.response, call._grpc_call = call._stub.with_call(call.request, **kwargs)
    except grpc.RpcError as exc:
        call.error = from_rpc_error(exc)
        raise call.error from exc
    return call.response


def _replies_sync(call: ClientCall, grpc_call: Any) -> Iterator[Any]:
    try:
        yield from grpc_call
    except grpc.RpcError as exc:
        call.error = from_rpc_error(exc)
        raise call.error from exc
