"""`Endpoint`: one rpc as every transport calls it, with middleware and the concurrency limit.

An endpoint takes `_pb2` messages and a `CallContext`; it returns the response message of a
unary-response call, or writes each message of a server stream through the call and
returns None. How it runs (middleware, limit) is composed once, at registration.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
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
CONNECTION_LIMIT_MESSAGE = "Concurrent RPC limit of this connection exceeded"
DETAILS_KEY = "grpc-status-details-bin"

Handler: TypeAlias = Callable[[Any, CallContext], Any]
"""(request message or async iterator of them, call) → response, or an async iterable."""
CallNext: TypeAlias = Callable[[], Awaitable[Any]]
Middleware: TypeAlias = Callable[[CallContext, CallNext], Awaitable[Any]]
Run: TypeAlias = Callable[[Any, CallContext], Awaitable[Any]]


class Limiter:
    """The server's limits on calls: how many run at once, shared by every port, how many
    of them one connection may hold (`per_connection`), so that no single client, idle or
    hostile, takes every slot, and how long a stream may stall (`stream_idle_timeout`).

    Connections are told apart by `call.peer` (address and port: one per connection on
    every transport). `threaded=True` when calls enter and leave on several threads at
    once (the threads transport): the counts are then kept under a lock. `refused(method)`,
    when set, is told of each call refused (the metrics count them).
    """

    __slots__ = (
        "limit",
        "per_connection",
        "stream_idle_timeout",
        "active",
        "by_peer",
        "lock",
        "refused",
    )

    def __init__(
        self,
        limit: int | None,
        *,
        per_connection: int | None = None,
        stream_idle_timeout: float | None = None,
        threaded: bool = False,
    ) -> None:
        self.limit = limit
        self.per_connection = per_connection
        self.stream_idle_timeout = stream_idle_timeout
        self.active = 0
        self.by_peer: dict[str, int] = {}
        self.lock = threading.Lock() if threaded else None
        self.refused: Callable[[str], None] | None = None

    def take(self, peer: str, method: str) -> None:
        """One more call of `method` from `peer`, or RESOURCE_EXHAUSTED over either limit."""
        if self.limit is not None and self.active >= self.limit:
            self._refuse(method, LIMIT_MESSAGE)
        share = self.per_connection
        if share is not None:
            held = self.by_peer.get(peer, 0)
            if held >= share:
                self._refuse(method, CONNECTION_LIMIT_MESSAGE)
            self.by_peer[peer] = held + 1
        self.active += 1

    def _refuse(self, method: str, message: str) -> NoReturn:
        if self.refused is not None:
            self.refused(method)
        raise GrpcError(GrpcError.RESOURCE_EXHAUSTED, message)

    def give_back(self, peer: str) -> None:
        self.active -= 1
        if self.per_connection is not None:
            held = self.by_peer.pop(peer, 1) - 1
            if held:
                self.by_peer[peer] = held


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One rpc, ready to be served by any transport.

    A transport calls, per rpc: `enter(request, call)` (the concurrency limit,
    `current_call()`, `call.request`; raises RESOURCE_EXHAUSTED over the limit), then
    `await run(request, call)`, then `leave(call)` once `run` ended, however it ended. The
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
    leave: Callable[[CallContext], None]


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
    idle = limiter.stream_idle_timeout if limiter is not None else None
    if idle is not None and (client_streaming or server_streaming):
        run = _stall_guard(run, idle, client_streaming, server_streaming)
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


class _Progress:
    """A stream's I/O as its stall guard sees it: waiting on a read or write since when."""

    __slots__ = ("waiting", "since", "stalled")

    def __init__(self, now: float) -> None:
        self.waiting = 0
        self.since = now
        self.stalled = False


def _stall_guard(run: Run, idle: float, reads: bool, writes: bool) -> Run:
    """`run`, cancelled when its stream stalls: waiting on one read (the client sends
    nothing) or one write (the client reads nothing) for `idle` seconds. A handler busy
    elsewhere (computing, awaiting a database) is not stalled. One timer per call checks,
    so a message costs two stores, not a timeout of its own."""
    message = (
        f"the stream stalled: the client neither sent nor read for {idle:g} s "
        "(GrpcConfig.stream_idle_timeout)"
    )

    async def guarded(request: Any, call: CallContext) -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        progress = _Progress(loop.time())
        if writes:
            write = call._write  # type: ignore[attr-defined]

            async def watched_write(item: Any) -> None:
                progress.waiting += 1
                progress.since = loop.time()
                try:
                    await write(item)
                finally:
                    progress.waiting -= 1

            call._write = watched_write  # type: ignore[attr-defined]
        if reads:
            request = _watched(request, progress, loop)
        timer: list[asyncio.TimerHandle] = []

        def check() -> None:
            now = loop.time()
            if progress.waiting and now - progress.since >= idle:
                progress.stalled = True
                task.cancel()
                return
            due = progress.since + idle if progress.waiting else now + idle
            timer[:] = [loop.call_at(due, check)]

        timer.append(loop.call_later(idle, check))
        try:
            return await run(request, call)
        except asyncio.CancelledError:
            if progress.stalled:
                raise GrpcError(GrpcError.CANCELLED, message) from None
            raise
        finally:
            timer[0].cancel()

    return guarded


async def _watched(
    requests: AsyncIterator[Any], progress: _Progress, loop: asyncio.AbstractEventLoop
) -> AsyncIterator[Any]:
    """The request stream, each wait for a message seen by the stall guard."""
    it = aiter(requests)
    while True:
        progress.waiting += 1
        progress.since = loop.time()
        try:
            item = await anext(it)
        except StopAsyncIteration:
            return
        finally:
            progress.waiting -= 1
        yield item


def _layer(mw: Middleware, inner: Run) -> Run:
    async def run(request: Any, call: CallContext) -> Any:
        return await mw(call, lambda: inner(request, call))

    return run


def _prologue(
    limiter: Limiter | None, *, keep_request: bool
) -> tuple[Callable[[Any, CallContext], None], Callable[[CallContext], None]]:
    """`enter` and `leave` around each call: the limits, `current_call()`, `call.request`
    (the request message of a unary-request call; a request stream is not kept)."""
    set_current = _current.set
    if limiter is None or (limiter.limit is None and limiter.per_connection is None):

        def enter_unlimited(request: Any, call: CallContext) -> None:
            set_current(call)
            if keep_request:
                call.request = request

        return enter_unlimited, _nothing
    take, give_back = limiter.take, limiter.give_back
    lock = limiter.lock
    if lock is not None:

        def enter_locked(request: Any, call: CallContext) -> None:
            # the peer is read once (on grpc it is a call into C-core) and kept for leave
            call._limit_key = peer = call.peer  # type: ignore[attr-defined]
            with lock:
                take(peer, call.method)
            set_current(call)
            if keep_request:
                call.request = request

        def leave_locked(call: CallContext) -> None:
            with lock:
                give_back(call._limit_key)  # type: ignore[attr-defined]

        return enter_locked, leave_locked

    def enter(request: Any, call: CallContext) -> None:
        call._limit_key = peer = call.peer  # type: ignore[attr-defined]
        take(peer, call.method)
        set_current(call)
        if keep_request:
            call.request = request

    def leave(call: CallContext) -> None:
        give_back(call._limit_key)  # type: ignore[attr-defined]

    return enter, leave


def _nothing(call: CallContext) -> None:
    pass


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
