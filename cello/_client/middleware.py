"""Ready-made client middleware: bearer tokens, an access log, typed exceptions per status.

Each works on every client: it carries an async form and a blocking one, and a client
picks the form it runs (`asynchronous` / `synchronous`) once, when it is made. Writing
one's own: `async def mw(call, call_next)` (`def` on blocking clients); see `calls.py`.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

from .._errors import GrpcError, status_name
from .calls import CallNext, ClientCall, SyncCallNext


class ReadyMiddleware:
    """A client middleware in both forms; call it as the async one."""

    __slots__ = ("name", "asynchronous", "synchronous")

    def __init__(
        self,
        name: str,
        asynchronous: Callable[[ClientCall, CallNext], Awaitable[Any]],
        synchronous: Callable[[ClientCall, SyncCallNext], Any],
    ) -> None:
        self.name = name
        self.asynchronous = asynchronous
        self.synchronous = synchronous

    def __call__(self, call: ClientCall, call_next: CallNext) -> Awaitable[Any]:
        return self.asynchronous(call, call_next)

    def __repr__(self) -> str:
        return f"<client middleware {self.name}>"


def bearer_token(
    get_token: Callable[[], str | Awaitable[str]],
    *,
    header: str = "authorization",
    scheme: str = "Bearer",
    ttl: float | None = None,
) -> ReadyMiddleware:
    """Send `authorization: Bearer <token>` on every call, fetching the token when needed.

    The token is fetched on the first call and kept; it is fetched again after `ttl`
    seconds, and at once when a call comes back UNAUTHENTICATED (the token expired or was
    revoked): that call is then sent once more with the new token if its request is a
    single message and its response too (a request stream cannot be replayed, and a
    response stream's refusal comes while it is read: its error is raised, and the next
    call fetches a new token).

    Args:
        get_token: returns a token; plain or async (async only on async clients).
        header: the metadata key.
        scheme: the prefix before the token; "" for a bare key.
        ttl: seconds a token is kept; None keeps it until the server refuses it.
    """
    key = header.lower()
    prefix = f"{scheme} " if scheme else ""
    state: dict[str, Any] = {"token": None, "at": 0.0}
    lock = threading.Lock()

    def fresh() -> bool:
        return state["token"] is not None and (ttl is None or time.monotonic() - state["at"] < ttl)

    def keep(token: Any) -> str:
        if not isinstance(token, str) or not token:
            raise TypeError(f"bearer_token: get_token() returned {token!r}; return a str")
        state["token"], state["at"] = token, time.monotonic()
        return token

    async def token_async() -> str:
        if fresh():
            return str(state["token"])
        token = get_token()
        if inspect.isawaitable(token):
            token = await token
        return keep(token)

    def token_sync() -> str:
        with lock:
            if fresh():
                return str(state["token"])
            token = get_token()
            if inspect.isawaitable(token):
                raise TypeError(
                    "bearer_token: get_token is async, but this client blocks; pass a plain "
                    "function"
                )
            return keep(token)

    def attach(call: ClientCall, token: str) -> None:
        call.metadata[:] = [(k, v) for k, v in call.metadata if k != key]
        call.metadata.append((key, prefix + token))

    def refused(error: GrpcError, sent: str) -> bool:
        if error.code != GrpcError.UNAUTHENTICATED:
            return False
        if state["token"] == sent:
            state["token"] = None  # refetch on the next call, whichever comes first
        return True

    async def watched(replies: Any, sent: str) -> AsyncIterator[Any]:
        try:
            async for reply in replies:
                yield reply
        except GrpcError as error:
            refused(error, sent)  # a stream's refusal comes while reading: next call refetches
            raise

    def watched_sync(replies: Any, sent: str) -> Iterator[Any]:
        try:
            yield from replies
        except GrpcError as error:
            refused(error, sent)
            raise

    async def bearer_async(call: ClientCall, call_next: CallNext) -> Any:
        sent = await token_async()
        attach(call, sent)
        try:
            result = await call_next()
            return watched(result, sent) if call.server_streaming else result
        except GrpcError as error:
            if not refused(error, sent) or call.client_streaming:
                raise
        attach(call, await token_async())
        return await call_next()

    def bearer_sync(call: ClientCall, call_next: SyncCallNext) -> Any:
        sent = token_sync()
        attach(call, sent)
        try:
            result = call_next()
            return watched_sync(result, sent) if call.server_streaming else result
        except GrpcError as error:
            if not refused(error, sent) or call.client_streaming:
                raise
        attach(call, token_sync())
        return call_next()

    return ReadyMiddleware("bearer_token", bearer_async, bearer_sync)


def client_access_log(logger: logging.Logger | None = None) -> ReadyMiddleware:
    """Log one INFO line per outgoing call: method, status, duration, sent to the server.

    The line reads `call /pkg.Svc/Method OK 0.4ms`; a stream's line is written when its
    last message was read (or it failed). The values are on the record as `rpc_method`,
    `rpc_status` and `duration_ms`.

    Args:
        logger: where to log; defaults to the `cello.client` logger.
    """
    log = logger or logging.getLogger("cello.client")

    def line(call: ClientCall, code: int, start: float) -> None:
        if log.isEnabledFor(logging.INFO):
            millis = (time.perf_counter() - start) * 1000
            status = status_name(code)
            log.info(
                "call %s %s %.1fms",
                call.method,
                status,
                millis,
                extra={"rpc_method": call.method, "rpc_status": status, "duration_ms": millis},
            )

    async def logged_stream(call: ClientCall, replies: Any, start: float) -> AsyncIterator[Any]:
        code = GrpcError.CANCELLED  # unless it runs to its end or fails
        try:
            async for reply in replies:
                yield reply
            code = GrpcError.OK
        except GrpcError as error:
            code = error.code
            raise
        finally:
            line(call, code, start)

    def logged_stream_sync(call: ClientCall, replies: Any, start: float) -> Iterator[Any]:
        code = GrpcError.CANCELLED
        try:
            yield from replies
            code = GrpcError.OK
        except GrpcError as error:
            code = error.code
            raise
        finally:
            line(call, code, start)

    async def access_async(call: ClientCall, call_next: CallNext) -> Any:
        start = time.perf_counter()
        try:
            result = await call_next()
        except GrpcError as error:
            line(call, error.code, start)
            raise
        if call.server_streaming:
            return logged_stream(call, result, start)
        line(call, GrpcError.OK, start)
        return result

    def access_sync(call: ClientCall, call_next: SyncCallNext) -> Any:
        start = time.perf_counter()
        try:
            result = call_next()
        except GrpcError as error:
            line(call, error.code, start)
            raise
        if call.server_streaming:
            return logged_stream_sync(call, result, start)
        line(call, GrpcError.OK, start)
        return result

    return ReadyMiddleware("client_access_log", access_async, access_sync)


def map_status(mapping: Mapping[int, type[Exception]]) -> ReadyMiddleware:
    """Raise an exception class of your own per status code instead of `GrpcError`.

    `map_status({GrpcError.NOT_FOUND: BookNotFound})` turns a NOT_FOUND into `BookNotFound`.
    A `GrpcError` subclass is built with the error's code, message, trailers and details
    (so `except GrpcError` still catches it and `.details` stays); another class gets the
    message, with the `GrpcError` as its `__cause__`. Codes not in `mapping` stay
    `GrpcError`. Errors raised while reading a stream are mapped too.

    Args:
        mapping: status code → exception class.

    Raises:
        TypeError: a key is not a status code, or a value not an exception class.
    """
    table: dict[int, type[Exception]] = {}
    for code, cls in mapping.items():
        if not isinstance(code, int) or not 0 < code <= GrpcError.UNAUTHENTICATED:
            raise TypeError(f"map_status: {code!r} is not a status code; use GrpcError.NOT_FOUND")
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            raise TypeError(f"map_status: {status_name(code)} → {cls!r} is not an exception class")
        table[code] = cls

    def mapped(error: GrpcError) -> Exception | None:
        cls = table.get(error.code)
        if cls is None:
            return None
        if issubclass(cls, GrpcError):
            return cls(error.code, error.message, metadata=error.metadata, details=error.details)
        return cls(error.message)

    def remapped(error: GrpcError) -> Exception:
        replacement = mapped(error)
        if replacement is None:
            return error
        replacement.__cause__ = error
        return replacement

    async def mapped_stream(replies: Any) -> AsyncIterator[Any]:
        try:
            async for reply in replies:
                yield reply
        except GrpcError as error:
            raise remapped(error)  # noqa: B904  (remapped sets the cause: the GrpcError)

    def mapped_stream_sync(replies: Any) -> Iterator[Any]:
        try:
            yield from replies
        except GrpcError as error:
            raise remapped(error)  # noqa: B904  (remapped sets the cause: the GrpcError)

    async def map_async(call: ClientCall, call_next: CallNext) -> Any:
        try:
            result = await call_next()
        except GrpcError as error:
            raise remapped(error)  # noqa: B904  (remapped sets the cause: the GrpcError)
        return mapped_stream(result) if call.server_streaming else result

    def map_sync(call: ClientCall, call_next: SyncCallNext) -> Any:
        try:
            result = call_next()
        except GrpcError as error:
            raise remapped(error)  # noqa: B904  (remapped sets the cause: the GrpcError)
        return mapped_stream_sync(result) if call.server_streaming else result

    return ReadyMiddleware("map_status", map_async, map_sync)
