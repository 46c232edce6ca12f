"""`GrpcWebApp`: serves grpc method handlers to browsers over gRPC-Web, as an ASGI 3 app.

It calls the very `grpc.GenericRpcHandler` objects that `GrpcServer` gives grpc.aio: the
behaviors run unchanged, with a `WebServicerContext` in place of the grpc.aio context, so
status codes, metadata, deadlines and size limits match the native port. Unary and
server-streaming calls are served (all that gRPC-Web clients make); binary
(`application/grpc-web[+proto]`) and text (`application/grpc-web-text[+proto]`) modes.

Why not a library (checked against grpcio 1.85 and protobuf 7):

- `sonora` 0.2.3 (last release 2023) adapts grpc handlers to ASGI, but it always calls
  `request_deserializer`, which Cello's handlers do not have (they parse bytes themselves so
  a malformed request is INVALID_ARGUMENT); it pins `urllib3<2` and pulls in aiohttp,
  reflects any `Origin` (no allow-list) and enforces no message-size limit.
- `connectrpc` 0.13 speaks gRPC-Web but not its base64 text mode, serves its own generated
  service classes with its own request context (not grpc handlers), and brings the
  `protobuf-py` runtime and the native `pyqwest` client as dependencies.

The wire protocol for these two call kinds is small (5-byte frames, one trailer frame,
base64 for text mode), so owning it costs less than adapting either.

Statuses the app itself decides:

- unknown method: UNIMPLEMENTED "Method not found!" (grpc's text).
- malformed framing, base64, `grpc-timeout` or `-bin` header: INVALID_ARGUMENT.
- client-streaming method or compressed request: UNIMPLEMENTED.
- a message over `max_message_size`: RESOURCE_EXHAUSTED, in grpc's wording.
- more than `max_concurrent_rpcs` calls at once: RESOURCE_EXHAUSTED.
- `grpc-timeout` passed: the handler is cancelled, DEADLINE_EXCEEDED.
- an exception escaping a handler: INTERNAL "Unexpected server error", logged here only.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable, MutableMapping, Sequence
from typing import Any

import grpc
import grpc.aio

from ._webcall import (
    ALWAYS_EXPOSED,
    Disconnected,
    Header,
    Metadata,
    Receive,
    RequestHeaders,
    ResponseWriter,
    RpcFinished,
    Send,
    WebAbortError,
    WebServicerContext,
    parse_grpc_timeout,
    read_request,
)
from ._webserver import WebServerHandle, serve_web

__all__ = ["GrpcWebApp", "WebServerHandle", "WebServicerContext", "serve_web"]

logger = logging.getLogger("cello.grpc.web")

Scope = MutableMapping[str, Any]
Outcome = tuple[grpc.StatusCode, str]

_CONTENT_TYPES = {
    "application/grpc-web": False,
    "application/grpc-web+proto": False,
    "application/grpc-web-text": True,
    "application/grpc-web-text+proto": True,
}
_ALLOWED_HEADERS = ("x-grpc-web", "content-type", "x-user-agent", "grpc-timeout")
_DEADLINE_DETAILS = "Deadline Exceeded"
_INTERNAL_DETAILS = "Unexpected server error"


class _CallDetails(grpc.HandlerCallDetails):
    def __init__(self, method: str, invocation_metadata: Metadata) -> None:
        self.method = method
        self.invocation_metadata = invocation_metadata


class GrpcWebApp:
    """An ASGI 3 app serving unary and server-streaming rpcs of grpc handlers over gRPC-Web.

    Get one for your services from `GrpcServer.web_app()`; build one directly only from
    hand-written grpc handlers. Mount it at any path: the path it is mounted at
    (`root_path`) is stripped before the method is looked up.

    Args:
        handlers: `grpc.GenericRpcHandler`s, as given to `grpc.aio.Server`. Handlers without
            (de)serializers take and return bytes.
        max_message_size: the largest request or response message, in bytes.
        allowed_origins: origins browsers may call from (CORS); `"*"` allows any, an empty
            sequence sends no CORS headers at all.
        max_concurrent_rpcs: calls served at once; more get RESOURCE_EXHAUSTED. None: no limit.
    """

    def __init__(
        self,
        handlers: Sequence[grpc.GenericRpcHandler],
        *,
        max_message_size: int = 4_194_304,
        allowed_origins: Sequence[str] = ("*",),
        max_concurrent_rpcs: int | None = None,
    ) -> None:
        self._handlers = list(handlers)
        self._max_message_size = int(max_message_size)
        self._allowed_origins = (
            (allowed_origins,) if isinstance(allowed_origins, str) else tuple(allowed_origins)
        )
        self._max_concurrent = max_concurrent_rpcs
        self._active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"GrpcWebApp cannot serve ASGI scope type {scope['type']!r}")
        headers = RequestHeaders(scope.get("headers") or ())
        if scope["method"] == "OPTIONS":
            await self._preflight(headers, send)
        elif scope["method"] != "POST":
            await _plain(send, 405, b"gRPC-Web requires POST\n", [(b"allow", b"POST, OPTIONS")])
        elif (text := _CONTENT_TYPES.get(_media_type(headers))) is None:
            await _plain(send, 415, b"Unsupported content type for gRPC-Web\n", [])
        elif self._max_concurrent is not None and self._active >= self._max_concurrent:
            writer = ResponseWriter(send, text=text, cors=self._cors(headers) or [])
            await _drain(receive)
            await writer.finish(
                grpc.StatusCode.RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!"
            )
        else:
            self._active += 1
            try:
                await self._rpc(scope, headers, text, receive, send)
            finally:
                self._active -= 1

    def _cors(self, headers: RequestHeaders) -> list[Header] | None:
        """CORS headers for the request's origin: [] when CORS does not apply, None if refused."""
        origin = headers.get("origin")
        if not self._allowed_origins or origin is None:
            return []
        if "*" in self._allowed_origins:
            return [(b"access-control-allow-origin", b"*")]
        if origin in self._allowed_origins:
            return [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"vary", b"Origin"),
            ]
        return None

    async def _preflight(self, headers: RequestHeaders, send: Send) -> None:
        cors = self._cors(headers)
        if not cors:
            await _plain(send, 403 if cors is None else 204, b"", [])
            return
        requested = (headers.get("access-control-request-headers") or "").split(",")
        allowed = dict.fromkeys([*_ALLOWED_HEADERS, *(h.strip().lower() for h in requested)])
        allowed.pop("", None)
        await _plain(
            send,
            204,
            b"",
            [
                *cors,
                (b"access-control-allow-methods", b"POST, OPTIONS"),
                (b"access-control-allow-headers", ", ".join(allowed).encode("latin-1")),
                (b"access-control-expose-headers", ", ".join(ALWAYS_EXPOSED).encode("ascii")),
                (b"access-control-max-age", b"86400"),
            ],
        )

    def _lookup(self, path: str, metadata: Metadata) -> grpc.RpcMethodHandler[Any, Any] | None:
        details = _CallDetails(path, metadata)
        for handler in self._handlers:
            method_handler = handler.service(details)
            if method_handler is not None:
                return method_handler
        return None

    async def _rpc(
        self, scope: Scope, headers: RequestHeaders, text: bool, receive: Receive, send: Send
    ) -> None:
        writer = ResponseWriter(send, text=text, cors=self._cors(headers) or [])
        loop = asyncio.get_running_loop()
        try:
            metadata = headers.metadata()
            deadline = _deadline(headers, loop.time())
            handler = self._method(_method_path(scope), headers, metadata)
        except RpcFinished as err:
            await _drain(receive)
            await writer.finish(err.code, err.details)
            return
        try:
            request = await read_request(
                receive, text=text, max_message_size=self._max_message_size
            )
        except RpcFinished as err:
            await writer.finish(err.code, err.details)
            return
        except Disconnected:
            return
        deserialize = handler.request_deserializer or _identity
        context = WebServicerContext(
            metadata=metadata,
            peer=_peer(scope.get("client")),
            deadline=deadline,
            writer=writer,
            serializer=handler.response_serializer or _identity,
            streaming=handler.response_streaming,
            max_message_size=self._max_message_size,
        )
        if handler.unary_stream is not None:
            call = _call_stream(handler.unary_stream, deserialize, request, context)
        else:
            assert handler.unary_unary is not None  # `_method` let only unary requests in
            call = _call_unary(handler.unary_unary, deserialize, request, context)
        outcome = await _supervise(call, context, receive, deadline)
        if outcome is None:  # the client left; nobody reads a status
            return
        try:
            await writer.finish(*outcome, context.trailing, context.initial_metadata)
        except Exception:
            logger.debug("gRPC-Web: could not send the status", exc_info=True)
        context.mark_done(cancelled=outcome[0] == grpc.StatusCode.DEADLINE_EXCEEDED)

    def _method(
        self, path: str, headers: RequestHeaders, metadata: Metadata
    ) -> grpc.RpcMethodHandler[Any, Any]:
        encoding = (headers.get("grpc-encoding") or "identity").strip().lower()
        if encoding != "identity":
            raise RpcFinished(
                grpc.StatusCode.UNIMPLEMENTED, f"Compression {encoding!r} is not supported"
            )
        handler = self._lookup(path, metadata)
        if handler is None:
            raise RpcFinished(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        if handler.request_streaming:
            raise RpcFinished(
                grpc.StatusCode.UNIMPLEMENTED,
                "gRPC-Web does not support client-streaming or bidi methods",
            )
        return handler


def _media_type(headers: RequestHeaders) -> str:
    return (headers.get("content-type") or "").split(";")[0].strip().lower()


def _method_path(scope: Scope) -> str:
    """`/package.Service/Method`, without the prefix the app is mounted at."""
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root) :]
    return path if path.startswith("/") else "/" + path


def _deadline(headers: RequestHeaders, now: float) -> float | None:
    value = headers.get("grpc-timeout")
    if value is None:
        return None
    try:
        return now + parse_grpc_timeout(value)
    except ValueError:
        raise RpcFinished(
            grpc.StatusCode.INVALID_ARGUMENT, f"Invalid grpc-timeout header {value!r}"
        ) from None


async def _supervise(
    call: Any, context: WebServicerContext, receive: Receive, deadline: float | None
) -> Outcome | None:
    """Run the call until it ends, the deadline passes or the client leaves (→ None)."""
    loop = asyncio.get_running_loop()
    task: asyncio.Future[Any] = asyncio.ensure_future(call)
    watcher: asyncio.Future[Any] = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        timeout = None if deadline is None else max(0.0, deadline - loop.time())
        await asyncio.wait({task, watcher}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            outcome: Outcome = task.result()
            return outcome
        context.set_cancelled()
        await _cancel(task)
        if watcher.done():
            context.mark_done(cancelled=True)
            return None
        return grpc.StatusCode.DEADLINE_EXCEEDED, _DEADLINE_DETAILS
    except asyncio.CancelledError:
        await _cancel(task)
        context.mark_done(cancelled=True)
        raise
    finally:
        watcher.cancel()


async def _call_unary(
    behavior: Callable[..., Any],
    deserialize: Callable[[bytes], Any],
    raw: bytes,
    context: WebServicerContext,
) -> Outcome:
    try:
        response = behavior(_deserialized(deserialize, raw), context)
        if inspect.isawaitable(response):
            response = await response
        if context.status_code not in (None, grpc.StatusCode.OK):
            return context.status_code, context.status_details or ""
        if response is None:
            logger.error("gRPC-Web: unary behavior %r returned None", behavior)
            return grpc.StatusCode.INTERNAL, _INTERNAL_DETAILS
        await context.send_response(response)
        return grpc.StatusCode.OK, context.status_details or ""
    except BaseException as exc:
        return _outcome(exc, context, behavior)


async def _call_stream(
    behavior: Callable[..., Any],
    deserialize: Callable[[bytes], Any],
    raw: bytes,
    context: WebServicerContext,
) -> Outcome:
    try:
        result = behavior(_deserialized(deserialize, raw), context)
        if hasattr(result, "__aiter__"):
            stream: AsyncIterator[Any] = result
            try:
                async for response in stream:
                    await context.send_response(response)
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        elif inspect.isawaitable(result):  # a write()-style behavior
            await result
        else:
            for response in result:
                await context.send_response(response)
        return context.status_code or grpc.StatusCode.OK, context.status_details or ""
    except BaseException as exc:
        return _outcome(exc, context, behavior)


def _deserialized(deserialize: Callable[[bytes], Any], raw: bytes) -> Any:
    try:
        return deserialize(raw)
    except Exception:
        logger.warning("gRPC-Web: could not deserialize a request", exc_info=True)
        raise RpcFinished(grpc.StatusCode.INTERNAL, "Exception deserializing request!") from None


def _outcome(exc: BaseException, context: WebServicerContext, behavior: object) -> Outcome:
    """The status for an exception out of a behavior; cancellation propagates."""
    if isinstance(exc, WebAbortError):
        return context.status_code or grpc.StatusCode.UNKNOWN, context.status_details or ""
    if isinstance(exc, RpcFinished):
        return exc.code, exc.details
    if not isinstance(exc, Exception):
        raise exc
    name = getattr(behavior, "__qualname__", behavior)
    logger.error("gRPC-Web: unexpected exception in %s", name, exc_info=exc)
    return grpc.StatusCode.INTERNAL, _INTERNAL_DETAILS


def _identity(value: Any) -> Any:
    return value


def _peer(client: Sequence[Any] | None) -> str:
    """The client address in grpc's notation, e.g. `ipv4:127.0.0.1:5555`."""
    if not client:
        return "unknown"
    host, port = client[0], client[1]
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _plain(send: Send, status: int, body: bytes, extra: list[Header]) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _drain(receive: Receive) -> None:
    """Consume the rest of the request body so the connection can be reused."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _cancel(task: asyncio.Future[Any]) -> None:
    if task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:  # already logged by the call wrappers
        logger.debug("gRPC-Web: handler failed while being cancelled", exc_info=True)
