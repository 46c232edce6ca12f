"""Ready-made middleware: access log, token authentication, exception mapping.

A middleware is `async def mw(call: CallContext, call_next)`; it runs around every rpc of
the server's services on every port (health and reflection are not among them, so they
stay open). `await call_next()` runs the rest of the chain and returns the response
message of a unary-response call (None for a server stream, whose messages are sent as
they come); it raises `GrpcError` when the call fails.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from .._errors import GrpcError, status_name
from .context import CallContext, trace_ids
from .endpoint import CallNext, Middleware


def access_log(logger: logging.Logger | None = None) -> Middleware:
    """Log one INFO line per call: protocol, method, status, duration, peer, sizes.

    `GrpcConfig(access_log=True)` puts it first (outermost) on a server. The line reads
    `grpc /pkg.Svc/Method OK 0.4ms peer=ipv4:127.0.0.1:5555 in=12B out=40B`; the same
    values are on the record as `rpc_method`, `rpc_status`, `duration_ms`, `peer`,
    `request_bytes` and `response_bytes`. With `GrpcConfig(tracing=True)` the line ends
    with `trace_id=... span_id=...` of the call's span, also on the record as `trace_id`
    and `span_id`.

    Args:
        logger: where to log; defaults to the `cello.access` logger.
    """
    log = logger or logging.getLogger("cello.access")

    async def access_log(call: CallContext, call_next: CallNext) -> Any:
        start = time.perf_counter()
        code, response = GrpcError.INTERNAL, None
        try:
            response = await call_next()
            code = GrpcError.OK
            return response
        except GrpcError as exc:
            code = exc.code
            raise
        except asyncio.CancelledError:
            code = GrpcError.CANCELLED
            raise
        finally:
            if log.isEnabledFor(logging.INFO):
                _log_call(log, call, code, start, response)

    return access_log


def _log_call(
    log: logging.Logger, call: CallContext, code: int, start: float, response: Any
) -> None:
    millis = (time.perf_counter() - start) * 1000
    sent = call.response_size or (response.ByteSize() if response is not None else 0)
    status = status_name(code)
    extra = {
        "rpc_method": call.method,
        "rpc_status": status,
        "duration_ms": millis,
        "peer": call.peer,
        "request_bytes": call.request_size,
        "response_bytes": sent,
    }
    line = "%s %s %s %.1fms peer=%s in=%dB out=%dB"
    args: tuple[Any, ...] = (
        call.protocol,
        call.method,
        status,
        millis,
        call.peer,
        call.request_size,
        sent,
    )
    ids = trace_ids(call.span)
    if ids is not None:
        line += " trace_id=%s span_id=%s"
        args += ids
        extra["trace_id"], extra["span_id"] = ids
    log.info(line, *args, extra=extra)


def token_auth(
    verify: Callable[[str], Any | Awaitable[Any]],
    *,
    header: str = "authorization",
    scheme: str | None = "Bearer",
    exempt: Iterable[str] = (),
) -> Middleware:
    """Authenticate every call by a token in its metadata; the result is `call.auth`.

    `verify(token)` (plain or async) returns who the caller is; None or False, or raising
    `GrpcError`, refuses the call. A refused or missing token ends the call with
    UNAUTHENTICATED.

    Args:
        verify: checks a token and returns the identity (any value but None or False).
        header: the metadata key carrying the token, e.g. `"x-api-key"`.
        scheme: the prefix before the token (`"Bearer"`), or None for a bare key.
        exempt: methods (`/pkg.Svc/Method`) or services (`pkg.Svc`) left open. Health and
            reflection are always open: they are not served through middleware.
    """
    key = header.lower()
    prefix = None if scheme is None else scheme.lower() + " "
    open_names = frozenset("/" + n if "/" in n and not n.startswith("/") else n for n in exempt)

    async def token_auth(call: CallContext, call_next: CallNext) -> Any:
        if call.method in open_names or call.service in open_names:
            return await call_next()
        value = call.metadata.get(key)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        token = value.strip() if value else ""
        if prefix is not None:
            if not token.lower().startswith(prefix):
                raise GrpcError(
                    GrpcError.UNAUTHENTICATED, f"missing `{key}: {scheme} <token>` metadata"
                )
            token = token[len(prefix) :].strip()
        if not token:
            raise GrpcError(GrpcError.UNAUTHENTICATED, f"missing `{key}` metadata")
        identity = verify(token)
        if inspect.isawaitable(identity):
            identity = await identity
        if identity is None or identity is False:
            raise GrpcError(GrpcError.UNAUTHENTICATED, "invalid credentials")
        call.auth = identity
        return await call_next()

    return token_auth


def map_exceptions(
    mapping: Mapping[type[BaseException], int | Callable[[BaseException], GrpcError]],
) -> Middleware:
    """Turn exceptions a handler raises into statuses, e.g. `{KeyError: GrpcError.NOT_FOUND}`.

    The first matching class, in the order given, wins; its value is a status code (the
    message is the exception's text) or a function building the `GrpcError`. Unmatched
    exceptions stay INTERNAL, their text hidden from the client.
    """
    rules = tuple(mapping.items())
    for cls, _ in rules:
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(f"map_exceptions: {cls!r} is not an exception class")

    async def map_exceptions(call: CallContext, call_next: CallNext) -> Any:
        try:
            return await call_next()
        except GrpcError:
            raise
        except Exception as exc:
            for cls, target in rules:
                if isinstance(exc, cls):
                    error = target(exc) if callable(target) else GrpcError(target, _text(exc))
                    raise error from exc
            raise

    return map_exceptions


def _text(exc: BaseException) -> str:
    # KeyError("x") prints as "'x'"; its one argument reads better
    return str(exc.args[0]) if len(exc.args) == 1 else str(exc)
