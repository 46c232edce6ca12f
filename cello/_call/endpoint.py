"""`Endpoint`: one rpc as every transport calls it, with middleware and the concurrency limit.

An endpoint takes `_pb2` messages and a `CallContext`; it returns the response message of a
unary-response call, or writes each message of a server stream through the call and
returns None. How it runs (middleware, limit) is composed once, at registration.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from .._errors import GrpcError
from .context import CallContext, _current

if TYPE_CHECKING:
    from .telemetry import Telemetry

logger = logging.getLogger("cello.grpc")

INTERNAL_MESSAGE = "Internal server error"
MAX_STATUS_MESSAGE = 1024  # bytes of UTF-8; percent-encoded it stays far below grpc's 8 KiB
LIMIT_MESSAGE = "Concurrent RPC limit exceeded!"
DETAILS_KEY = "grpc-status-details-bin"

Handler: TypeAlias = Callable[[Any, CallContext], Any]
"""(request message or async iterator of them, call) → response, or an async iterable."""
CallNext: TypeAlias = Callable[[], Awaitable[Any]]
Middleware: TypeAlias = Callable[[CallContext, CallNext], Awaitable[Any]]
Run: TypeAlias = Callable[[Any, CallContext], Awaitable[Any]]


class Limiter:
    """How many calls run at once, shared by every port of a server.

    `threaded=True` when calls enter and leave on several threads at once (the threads
    transport): the count is then kept under a lock. `refused(method)`, when set, is told
    of each call refused (the metrics count them).
    """

    __slots__ = ("limit", "active", "lock", "refused")

    def __init__(self, limit: int | None, *, threaded: bool = False) -> None:
        self.limit = limit
        self.active = 0
        self.lock = threading.Lock() if threaded else None
        self.refused: Callable[[str], None] | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One rpc, ready to be served by any transport.

    A transport calls, per rpc: `enter(request, call)` (the concurrency limit,
    `current_call()`, `call.request`; raises RESOURCE_EXHAUSTED over the limit), then
    `await run(request, call)`, then `leave()` once `run` ended, however it ended. The
    prologue is plain calls rather than one more coroutine layer: it is on every call.

    Attributes:
        method: `/package.Service/Method`.
        request_type, response_type: the `_pb2` message classes.
        run: unary-response calls get the response message back; server streams write
            theirs through the call (`call._write`) and get None.
    """

    method: str
    request_type: Any
    response_type: Any
    client_streaming: bool
    server_streaming: bool
    run: Run
    enter: Callable[[Any, CallContext], None]
    leave: Callable[[], None]


def endpoint(
    method: str,
    request_type: Any,
    response_type: Any,
    handler: Handler,
    *,
    client_streaming: bool = False,
    server_streaming: bool = False,
    writes: bool = False,
    middleware: Sequence[Middleware] = (),
    limiter: Limiter | None = None,
    telemetry: Telemetry | None = None,
) -> Endpoint:
    """Build the endpoint of one rpc from a handler on `_pb2` messages.

    Args:
        method: `/package.Service/Method`.
        handler: `handler(request, call)`; for a unary response an awaitable of the response
            message, for a server stream an async iterable of them (or, with `writes`,
            a coroutine that writes each message through `call._write` itself).
        writes: the server stream's handler writes its own messages.
        middleware: `async def mw(call, call_next)`, outermost first.
        limiter: the server's concurrency limit; None for no limit.
        telemetry: traces and metrics around the middleware, when turned on.
    """
    run: Run = _streamer(handler) if server_streaming and not writes else handler
    for mw in reversed(middleware):
        run = _layer(mw, run)
    if telemetry is not None:
        run = telemetry.wrap(run, method, client_streaming, server_streaming)
    enter, leave = _prologue(limiter, keep_request=not client_streaming)
    return Endpoint(
        method, request_type, response_type, client_streaming, server_streaming, run, enter, leave
    )


def _streamer(handler: Handler) -> Run:
    async def stream(request: Any, call: CallContext) -> None:
        write = call._write  # type: ignore[attr-defined]
        async for message in handler(request, call):
            await write(message)

    return stream


def _layer(mw: Middleware, inner: Run) -> Run:
    async def run(request: Any, call: CallContext) -> Any:
        return await mw(call, lambda: inner(request, call))

    return run


def _prologue(
    limiter: Limiter | None, *, keep_request: bool
) -> tuple[Callable[[Any, CallContext], None], Callable[[], None]]:
    """`enter` and `leave` around each call: the limit, `current_call()`, `call.request`
    (the request message of a unary-request call; a request stream is not kept)."""
    set_current = _current.set
    if limiter is None or limiter.limit is None:

        def enter_unlimited(request: Any, call: CallContext) -> None:
            set_current(call)
            if keep_request:
                call.request = request

        return enter_unlimited, _nothing
    limit = limiter.limit
    lock = limiter.lock
    if lock is not None:

        def enter_locked(request: Any, call: CallContext) -> None:
            with lock:
                if limiter.active >= limit:
                    _refuse(limiter, call)
                limiter.active += 1
            set_current(call)
            if keep_request:
                call.request = request

        def leave_locked() -> None:
            with lock:
                limiter.active -= 1

        return enter_locked, leave_locked

    def enter(request: Any, call: CallContext) -> None:
        if limiter.active >= limit:
            _refuse(limiter, call)
        limiter.active += 1
        set_current(call)
        if keep_request:
            call.request = request

    def leave() -> None:
        limiter.active -= 1

    return enter, leave


def _nothing() -> None:
    pass


def _refuse(limiter: Limiter, call: CallContext) -> NoReturn:
    if limiter.refused is not None:
        limiter.refused(call.method)
    raise GrpcError(GrpcError.RESOURCE_EXHAUSTED, LIMIT_MESSAGE)


@dataclass(frozen=True, slots=True)
class Status:
    """How a call ends: code, message and trailing metadata (rich details included)."""

    code: int
    message: str
    trailers: tuple[tuple[str, str | bytes], ...] = ()


def status_of(exc: BaseException, where: str) -> Status:
    """The status an exception out of an endpoint ends the call with.

    A `GrpcError` keeps its code; its message is truncated to a safe size, its metadata
    and details become trailers. Anything else is logged here and becomes INTERNAL with a
    generic message, so no internal text reaches the client.
    """
    if isinstance(exc, GrpcError):
        trailers = [(str(k), v) for k, v in exc.metadata.items()]
        if exc.details:
            trailers.append((DETAILS_KEY, rich_status(exc)))
        return Status(exc.code or GrpcError.UNKNOWN, truncate(exc.message), tuple(trailers))
    logger.error("unhandled exception in %s", where, exc_info=exc)
    return Status(GrpcError.INTERNAL, INTERNAL_MESSAGE)


def truncate(message: str) -> str:
    """`message` cut to `MAX_STATUS_MESSAGE` bytes of UTF-8, marked when cut."""
    raw = message.encode("utf-8")
    if len(raw) <= MAX_STATUS_MESSAGE:
        return message
    return raw[: MAX_STATUS_MESSAGE - 16].decode("utf-8", "ignore") + "... (truncated)"


def rich_status(error: GrpcError) -> bytes:
    """The serialized `google.rpc.Status` for `error`'s code, message and details."""
    from google.protobuf import any_pb2
    from google.rpc import status_pb2

    details = []
    for detail in error.details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        details.append(packed)
    status = status_pb2.Status(code=error.code, message=truncate(error.message), details=details)
    return status.SerializeToString()  # type: ignore[no-any-return]


async def results(outcome: Any) -> AsyncIterable[Any]:
    """Items of a server stream: an async iterable, or an awaited value (one item or many)."""
    if hasattr(outcome, "__await__"):
        outcome = await outcome
    if hasattr(outcome, "__aiter__"):
        async for item in outcome:
            yield item
    elif isinstance(outcome, (list, tuple)):
        for item in outcome:
            yield item
    else:
        yield outcome
