"""gRPC-Web support for Cello, as an ASGI 3 application.

:class:`GrpcWebApp` serves the very same ``grpc.GenericRpcHandler`` objects that
are handed to ``grpc.aio.Server.add_generic_rpc_handlers``: the behaviors
(``async def`` coroutines for unary-unary, async generators for unary-stream)
run unchanged, with a :class:`WebServicerContext` standing in for the
``grpc.aio.ServicerContext``.  :func:`serve_web` runs such an app on its own
HTTP port with uvicorn.

Why hand-written rather than a library
--------------------------------------
``sonora`` (0.2.3) is the only PyPI package that adapts ``grpc`` handlers to
ASGI, but its last release is from August 2023; it pins ``urllib3<2`` and pulls
in ``aiohttp``/``async-timeout``, it lets unexpected behavior exceptions escape
as HTTP 500s, enforces no message-size limit, has no deserialization-error
handling and no server-side CORS origin allow-list.  ``connectrpc`` (0.13) is
well maintained and speaks gRPC-Web, but it is built on its own protobuf
runtime (``protobuf-py``) and its own generated service stubs, so it can serve
neither ``grpc.GenericRpcHandler``s nor ``google.protobuf`` messages without
re-generating and re-wrapping every service.  The gRPC-Web wire protocol for
unary and server-streaming calls is small (5-byte framing, a trailer frame,
base64 for the -text variant), so owning one module (~900 lines with docs) costs less than
either adapter and keeps our dependency set to grpcio/protobuf (+ uvicorn for
:func:`serve_web`).  Uvicorn was preferred over hypercorn because it accepts
pre-bound sockets (port 0 → real port is known before serving), flushes each
``more_body`` chunk immediately, and shuts down cleanly via ``should_exit``;
hypercorn's extra HTTP/2 support is not needed for gRPC-Web.

Status code choices (checked against grpcio 1.85)
-------------------------------------------------
* unknown method → ``UNIMPLEMENTED`` "Method not found!" (same text as grpc).
* undecodable request protobuf → ``INTERNAL`` "Exception deserializing
  request!" (what the synchronous grpc server and the gRPC status-code spec
  use; grpc.aio reports ``UNKNOWN`` with the parser's exception text, which we
  deliberately do not leak).
* malformed framing / base64 / ``grpc-timeout`` → ``INVALID_ARGUMENT``.
* message larger than ``max_message_size`` → ``RESOURCE_EXHAUSTED`` with
  grpc's "Received/Sent message larger than max (N vs. M)" wording.
* deadline from ``grpc-timeout`` → handler task cancelled, ``DEADLINE_EXCEEDED``.
* any other exception raised by a behavior → ``INTERNAL`` "Unexpected server
  error", with the traceback logged on the server only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections.abc
import inspect
import logging
import re
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import grpc
import grpc.aio

__all__ = ["GrpcWebApp", "WebServicerContext", "WebServerHandle", "serve_web"]

_LOGGER = logging.getLogger(__name__)

_GRPC_WEB = "application/grpc-web"
_GRPC_WEB_TEXT = "application/grpc-web-text"
_RESPONSE_CONTENT_TYPE = {
    False: b"application/grpc-web+proto",
    True: b"application/grpc-web-text+proto",
}

_FLAG_DATA = 0x00
_FLAG_COMPRESSED = 0x01
_FLAG_TRAILER = 0x80
_HEADER = struct.Struct(">BI")

# Request headers that are HTTP/transport/browser plumbing, not gRPC metadata.
_NON_METADATA_HEADERS = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "content-length",
        "content-type",
        "transfer-encoding",
        "te",
        "upgrade",
        "accept",
        "accept-encoding",
        "accept-language",
        "origin",
        "referer",
        "pragma",
        "cache-control",
        "priority",
        "grpc-timeout",
        "grpc-encoding",
        "grpc-accept-encoding",
    }
)
_NON_METADATA_PREFIXES = ("sec-", "access-control-")

# Response header names a handler must not set through metadata.
_RESERVED_RESPONSE_KEYS = frozenset(
    {"grpc-status", "grpc-message", "content-type", "content-length", "transfer-encoding"}
)

_DEFAULT_ALLOWED_HEADERS = ("x-grpc-web", "content-type", "x-user-agent", "grpc-timeout")
_ALWAYS_EXPOSED = ("grpc-status", "grpc-message", "grpc-status-details-bin")

_TIMEOUT_RE = re.compile(r"^([0-9]{1,8})([HMSmun])$")
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_B64_SEGMENT_RE = re.compile(rb"[^=]+=*|=+")
_MD_KEY_RE = re.compile(r"^[0-9a-z_.\-]+$")
# grpc-message percent-encoding: everything outside printable ASCII, plus '%'.
_UNRESERVED_MESSAGE_BYTES = frozenset(range(0x20, 0x7F)) - {ord("%")}

_DEADLINE_DETAILS = "Deadline Exceeded"
_INTERNAL_DETAILS = "Unexpected server error"


class _RpcFinished(Exception):
    """Internal: a protocol-level error that ends the call with a status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _AbortError(grpc.aio.AbortError):
    """Raised by :meth:`WebServicerContext.abort`; caught by GrpcWebApp."""


class _HandlerCallDetails(grpc.HandlerCallDetails):
    def __init__(self, method: str, invocation_metadata: tuple) -> None:
        self.method = method
        self.invocation_metadata = invocation_metadata


def parse_grpc_timeout(value: str) -> float:
    """Parse a ``grpc-timeout`` header value ("100m", "5S", ...) into seconds."""
    match = _TIMEOUT_RE.match(value.strip())
    if not match:
        raise ValueError(f"invalid grpc-timeout {value!r}")
    return int(match.group(1)) * _TIMEOUT_UNITS[match.group(2)]


def encode_grpc_message(details: str) -> str:
    """Percent-encode a status message as the gRPC HTTP/2 spec requires."""
    out = []
    for byte in details.encode("utf-8"):
        if byte in _UNRESERVED_MESSAGE_BYTES:
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def decode_grpc_web_text(body: bytes) -> bytes:
    """Decode a grpc-web-text body: base64, possibly several padded chunks concatenated."""
    data = b"".join(body.split())  # tolerate whitespace / line breaks
    out = []
    for segment in _B64_SEGMENT_RE.findall(data):
        if len(segment) % 4:
            if b"=" in segment:
                raise ValueError("misaligned base64 padding")
            segment += b"=" * (-len(segment) % 4)  # lenient about a missing final padding
        out.append(base64.b64decode(segment, validate=True))
    return b"".join(out)


def _status_code_number(code: grpc.StatusCode) -> int:
    return code.value[0]


def _encode_md_value(key: str, value: Any) -> bytes:
    if key.endswith("-bin"):
        if isinstance(value, str):
            value = value.encode("utf-8")
        return base64.b64encode(bytes(value))
    if isinstance(value, bytes):
        value = value.decode("ascii")
    value = str(value)
    if any(not (0x20 <= ord(ch) <= 0x7E) for ch in value):
        raise ValueError(f"metadata value for {key!r} must be printable ASCII")
    return value.encode("ascii")


def _normalize_metadata(metadata: Iterable[tuple] | None) -> list[tuple[bytes, bytes]]:
    """Validate and encode outgoing (key, value) metadata pairs as header bytes."""
    result = []
    for key, value in metadata or ():
        if isinstance(key, bytes):
            key = key.decode("ascii")
        key = str(key).lower()
        if not _MD_KEY_RE.match(key) or key in _RESERVED_RESPONSE_KEYS:
            raise ValueError(f"invalid metadata key {key!r}")
        result.append((key.encode("ascii"), _encode_md_value(key, value)))
    return result


class _ResponseWriter:
    """Writes one gRPC-Web response: headers, data frames, trailer frame."""

    def __init__(
        self, send: Callable[[dict], Awaitable[None]], text: bool, cors_headers: list
    ) -> None:
        self._send = send
        self._text = text
        self._cors_headers = cors_headers
        self.headers_sent = False
        self.finished = False
        self.messages_sent = 0

    def _encode(self, chunk: bytes) -> bytes:
        return base64.b64encode(chunk) if self._text else chunk

    def _expose(self, names: Iterable[bytes]) -> list:
        if not self._cors_headers:
            return []
        exposed = list(_ALWAYS_EXPOSED)
        for name in names:
            n = name.decode("ascii")
            if n not in exposed:
                exposed.append(n)
        return [(b"access-control-expose-headers", ", ".join(exposed).encode("ascii"))]

    async def start(self, initial_metadata: list) -> None:
        if self.headers_sent:
            return
        self.headers_sent = True
        headers = [(b"content-type", _RESPONSE_CONTENT_TYPE[self._text])]
        headers += self._cors_headers
        headers += self._expose(k for k, _ in initial_metadata)
        headers += initial_metadata
        await self._send({"type": "http.response.start", "status": 200, "headers": headers})

    async def send_message(self, payload: bytes, initial_metadata: list) -> None:
        await self.start(initial_metadata)
        self.messages_sent += 1
        frame = _HEADER.pack(_FLAG_DATA, len(payload)) + payload
        await self._send(
            {"type": "http.response.body", "body": self._encode(frame), "more_body": True}
        )

    async def finish(
        self, code: grpc.StatusCode, details: str, trailing: list, initial_metadata: list
    ) -> None:
        if self.finished:
            return
        self.finished = True
        status = [(b"grpc-status", str(_status_code_number(code)).encode("ascii"))]
        if details:
            status.append((b"grpc-message", encode_grpc_message(details).encode("ascii")))
        if not self.headers_sent:
            # Trailers-only response: the status travels in the HTTP headers.
            self.headers_sent = True
            md = initial_metadata + trailing
            headers = [(b"content-type", _RESPONSE_CONTENT_TYPE[self._text])]
            headers += self._cors_headers
            headers += self._expose([k for k, _ in md])
            headers += status + md + [(b"content-length", b"0")]
            await self._send({"type": "http.response.start", "status": 200, "headers": headers})
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        block = b"".join(k + b": " + v + b"\r\n" for k, v in status + trailing)
        frame = _HEADER.pack(_FLAG_TRAILER, len(block)) + block
        await self._send(
            {"type": "http.response.body", "body": self._encode(frame), "more_body": False}
        )


class WebServicerContext(grpc.aio.ServicerContext):
    """The ``grpc.aio.ServicerContext`` stand-in handed to behaviors under gRPC-Web."""

    def __init__(
        self,
        *,
        metadata: tuple,
        peer: str,
        deadline: float | None,
        writer: _ResponseWriter,
        serializer: Callable[[Any], bytes] | None,
        max_message_size: int,
    ) -> None:
        self._metadata = metadata
        self._peer = peer
        self._deadline = deadline  # in loop.time() units
        self._writer = writer
        self._serializer = serializer
        self._max_message_size = max_message_size
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._initial_metadata: list = []
        self._trailing_metadata: list = []
        self._raw_trailing: tuple = ()
        self._aborted = False
        self._cancelled = False
        self._done = False
        self._callbacks: list = []

    # -- metadata and peer ------------------------------------------------
    def invocation_metadata(self):
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def peer_identities(self):
        return None

    def peer_identity_key(self):
        return None

    def auth_context(self):
        return {}

    async def send_initial_metadata(self, initial_metadata) -> None:
        if self._writer.headers_sent:
            raise grpc.aio.UsageError("Send initial metadata failed: already sent")
        self._initial_metadata = _normalize_metadata(initial_metadata)
        await self._writer.start(self._initial_metadata)

    def set_trailing_metadata(self, trailing_metadata) -> None:
        self._trailing_metadata = _normalize_metadata(trailing_metadata)
        self._raw_trailing = tuple(trailing_metadata)

    def trailing_metadata(self):
        return self._raw_trailing

    # -- status ---------------------------------------------------------
    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata=()) -> None:
        if self._aborted:
            raise grpc.aio.UsageError("Abort already called!")
        self._aborted = True
        if code == grpc.StatusCode.OK:
            _LOGGER.error("abort() called with StatusCode.OK; returning UNKNOWN")
            code = grpc.StatusCode.UNKNOWN
        self._code = code
        self._details = details
        if trailing_metadata:
            self.set_trailing_metadata(trailing_metadata)
        raise _AbortError(details)

    async def abort_with_status(self, status) -> None:
        await self.abort(status.code, status.details, getattr(status, "trailing_metadata", ()))

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self):
        return self._code

    def details(self):
        return self._details

    # -- lifecycle --------------------------------------------------------
    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    def cancelled(self) -> bool:
        return self._cancelled

    def done(self) -> bool:
        return self._done

    def cancel(self) -> bool:
        return False

    def add_done_callback(self, callback) -> None:
        self._callbacks.append(callback)

    def add_callback(self, callback) -> bool:
        self._callbacks.append(lambda _ctx: callback())
        return True

    def is_active(self) -> bool:
        return not self._done

    def _mark_done(self, cancelled: bool = False) -> None:
        if self._done:
            return
        self._cancelled = self._cancelled or cancelled
        self._done = True
        for callback in self._callbacks:
            try:
                callback(self)
            except Exception:  # pragma: no cover - callback bugs are the user's
                _LOGGER.exception("gRPC-Web done callback failed")

    # -- compression: identity only ----------------------------------------
    def set_compression(self, compression) -> None:
        pass

    def disable_next_message_compression(self) -> None:
        pass

    # -- write/read style API -------------------------------------------
    async def write(self, message) -> None:
        if self._serializer is None:
            raise grpc.aio.UsageError("write() is only available for server-streaming calls")
        await self._send_response(message)

    async def read(self):
        raise grpc.aio.UsageError("read() is not available: gRPC-Web serves unary requests only")

    async def _send_response(self, message) -> None:
        payload = self._serializer(message)
        if len(payload) > self._max_message_size:
            raise _RpcFinished(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Sent message larger than max ({len(payload)} vs. {self._max_message_size})",
            )
        await self._writer.send_message(payload, self._initial_metadata)


class GrpcWebApp:
    """ASGI 3 application serving unary and server-streaming gRPC handlers over gRPC-Web.

    ``handlers`` are ``grpc.GenericRpcHandler`` objects as passed to
    ``grpc.aio.Server.add_generic_rpc_handlers``.  ``allowed_origins`` is the
    CORS allow-list (``"*"`` allows any origin; an empty sequence disables CORS
    headers entirely).  ``max_message_size`` bounds both request and response
    messages, in bytes.
    """

    def __init__(
        self,
        handlers: Sequence[grpc.GenericRpcHandler],
        *,
        max_message_size: int = 4_194_304,
        allowed_origins: Sequence[str] = ("*",),
    ) -> None:
        self._handlers = list(handlers)
        self._max_message_size = int(max_message_size)
        self._allowed_origins = tuple(allowed_origins)
        self._any_origin = "*" in self._allowed_origins
        # Request bodies beyond this are drained and discarded, never buffered.
        self._max_body = 2 * (self._max_message_size + 5) + 65536

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._handlers.extend(handlers)

    # -- ASGI entry point -------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":  # websockets etc.
            raise RuntimeError(f"GrpcWebApp cannot serve ASGI scope type {kind!r}")
        headers = _Headers(scope.get("headers") or ())
        method = scope["method"]
        if method == "OPTIONS":
            await self._preflight(headers, send)
        elif method != "POST":
            await self._plain(
                send, 405, b"gRPC-Web requires POST\n", [(b"allow", b"POST, OPTIONS")]
            )
        else:
            await self._rpc(scope, headers, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- CORS ---------------------------------------------------------------
    def _allow_origin(self, origin: str | None) -> list | None:
        """CORS response headers for this origin, [] when no CORS applies, None if refused."""
        if not self._allowed_origins or origin is None:
            return []
        if self._any_origin:
            return [(b"access-control-allow-origin", b"*")]
        if origin in self._allowed_origins:
            return [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"vary", b"Origin"),
            ]
        return None

    async def _preflight(self, headers: _Headers, send) -> None:
        cors = self._allow_origin(headers.get("origin"))
        if not cors:
            await self._plain(send, 403 if cors is None else 204, b"", [])
            return
        allowed = list(_DEFAULT_ALLOWED_HEADERS)
        for name in (headers.get("access-control-request-headers") or "").split(","):
            name = name.strip().lower()
            if name and name not in allowed:
                allowed.append(name)
        extra = cors + [
            (b"access-control-allow-methods", b"POST, OPTIONS"),
            (b"access-control-allow-headers", ", ".join(allowed).encode("latin-1")),
            (b"access-control-expose-headers", ", ".join(_ALWAYS_EXPOSED).encode("ascii")),
            (b"access-control-max-age", b"86400"),
        ]
        await self._plain(send, 204, b"", extra)

    @staticmethod
    async def _plain(send, status: int, body: bytes, extra_headers: list) -> None:
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send(
            {"type": "http.response.start", "status": status, "headers": headers + extra_headers}
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})

    # -- RPC --------------------------------------------------------------
    def _lookup(self, path: str, metadata: tuple):
        details = _HandlerCallDetails(path, metadata)
        for handler in self._handlers:
            method_handler = handler.service(details)
            if method_handler is not None:
                return method_handler
        return None

    async def _rpc(self, scope, headers: _Headers, receive, send) -> None:
        content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type in (_GRPC_WEB, _GRPC_WEB + "+proto"):
            text = False
        elif content_type in (_GRPC_WEB_TEXT, _GRPC_WEB_TEXT + "+proto"):
            text = True
        else:
            await self._plain(send, 415, b"Unsupported content type for gRPC-Web\n", [])
            return

        cors = self._allow_origin(headers.get("origin")) or []
        writer = _ResponseWriter(send, text, cors)
        loop = asyncio.get_running_loop()
        path = scope.get("path") or "/"

        async def fail(code: grpc.StatusCode, details: str) -> None:
            await _drain(receive)
            await writer.finish(code, details, [], [])

        try:
            metadata = headers.metadata()
        except ValueError as exc:
            await fail(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            return
        deadline = None
        timeout_header = headers.get("grpc-timeout")
        if timeout_header is not None:
            try:
                deadline = loop.time() + parse_grpc_timeout(timeout_header)
            except ValueError:
                await fail(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Invalid grpc-timeout header {timeout_header!r}",
                )
                return
        encoding = (headers.get("grpc-encoding") or "identity").strip().lower()
        if encoding != "identity":
            await fail(grpc.StatusCode.UNIMPLEMENTED, f"Compression {encoding!r} is not supported")
            return

        method_handler = self._lookup(path, metadata)
        if method_handler is None:
            await fail(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
            return
        if method_handler.request_streaming:
            await fail(
                grpc.StatusCode.UNIMPLEMENTED,
                "gRPC-Web does not support client-streaming or bidi methods",
            )
            return

        # Read and decode the single request message.
        try:
            payload = await self._read_request(receive, text)
            deserialize = method_handler.request_deserializer
            try:
                request = deserialize(payload) if deserialize else payload
            except Exception:
                _LOGGER.warning("gRPC-Web %s: could not deserialize request", path, exc_info=True)
                raise _RpcFinished(
                    grpc.StatusCode.INTERNAL, "Exception deserializing request!"
                ) from None
        except _RpcFinished as err:
            await writer.finish(err.code, err.details, [], [])
            return
        except _Disconnected:
            return

        streaming = method_handler.response_streaming
        context = WebServicerContext(
            metadata=metadata,
            peer=_format_peer(scope.get("client")),
            deadline=deadline,
            writer=writer,
            serializer=method_handler.response_serializer or _identity,
            max_message_size=self._max_message_size,
        )
        if streaming:
            behavior = method_handler.unary_stream
            invoke = self._invoke_stream(behavior, request, context)
        else:
            behavior = method_handler.unary_unary
            invoke = self._invoke_unary(behavior, request, context)

        task = asyncio.ensure_future(invoke)
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait(
                {task, watcher}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                code, details = task.result()
            elif watcher in done:
                # Client went away: cancel the handler, nobody reads a status.
                context._cancelled = True
                await _cancel(task)
                context._mark_done(cancelled=True)
                return
            elif task.done():  # finished in the same instant the deadline fired
                code, details = task.result()
            else:
                context._cancelled = True
                await _cancel(task)
                code, details = grpc.StatusCode.DEADLINE_EXCEEDED, _DEADLINE_DETAILS
        except asyncio.CancelledError:
            await _cancel(task)
            context._mark_done(cancelled=True)
            raise
        finally:
            watcher.cancel()

        trailing = context._trailing_metadata
        try:
            await writer.finish(code, details, trailing, context._initial_metadata)
        except Exception:  # the connection broke while writing the status
            _LOGGER.debug("gRPC-Web %s: failed to send status", path, exc_info=True)
        context._mark_done(cancelled=code == grpc.StatusCode.DEADLINE_EXCEEDED)

    async def _read_request(self, receive, text: bool) -> bytes:
        chunks = []
        size = 0
        overflow = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected()
            body = message.get("body", b"")
            if not overflow:
                size += len(body)
                if size > self._max_body:
                    overflow, chunks = True, []
                else:
                    chunks.append(body)
            if not message.get("more_body", False):
                break
        if overflow:
            raise _RpcFinished(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Received message larger than max (more than {self._max_message_size} bytes)",
            )
        body = b"".join(chunks)
        if text:
            try:
                body = decode_grpc_web_text(body)
            except (ValueError, binascii.Error) as exc:
                raise _RpcFinished(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Malformed grpc-web-text body: invalid base64 ({exc})",
                ) from None
        return self._unframe_single(body)

    def _unframe_single(self, body: bytes) -> bytes:
        messages = []
        pos = 0
        while pos < len(body):
            if len(body) - pos < 5:
                raise _RpcFinished(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "Malformed gRPC-Web frame: truncated frame header",
                )
            flags, length = _HEADER.unpack_from(body, pos)
            pos += 5
            if flags & _FLAG_TRAILER:
                raise _RpcFinished(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "Malformed gRPC-Web frame: trailer frame in request",
                )
            if flags & _FLAG_COMPRESSED:
                raise _RpcFinished(
                    grpc.StatusCode.UNIMPLEMENTED, "Compressed request messages are not supported"
                )
            if flags != _FLAG_DATA:
                raise _RpcFinished(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Malformed gRPC-Web frame: unknown flags 0x{flags:02x}",
                )
            if length > self._max_message_size:
                raise _RpcFinished(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"Received message larger than max ({length} vs. {self._max_message_size})",
                )
            if len(body) - pos < length:
                raise _RpcFinished(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Malformed gRPC-Web frame: declared length {length} "
                    f"but only {len(body) - pos} bytes follow",
                )
            messages.append(body[pos : pos + length])
            pos += length
        if len(messages) != 1:
            raise _RpcFinished(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Expected exactly one request message for a unary request, got {len(messages)}",
            )
        return messages[0]

    # -- invoking behaviors ---------------------------------------------
    async def _invoke_unary(self, behavior, request, context: WebServicerContext):
        try:
            response = behavior(request, context)
            if inspect.isawaitable(response):
                response = await response
            if context._code not in (None, grpc.StatusCode.OK):
                return context._code, context._details or ""
            if response is None:
                _LOGGER.error("gRPC-Web: unary behavior %r returned None", behavior)
                return grpc.StatusCode.INTERNAL, _INTERNAL_DETAILS
            await context._send_response(response)
            return grpc.StatusCode.OK, context._details or ""
        except BaseException as exc:
            return _status_for_exception(exc, context, behavior)

    async def _invoke_stream(self, behavior, request, context: WebServicerContext):
        try:
            result = behavior(request, context)
            if inspect.isasyncgen(result) or isinstance(result, collections.abc.AsyncIterator):
                try:
                    async for response in result:
                        await context._send_response(response)
                finally:
                    aclose = getattr(result, "aclose", None)
                    if aclose is not None:
                        await aclose()
            elif inspect.isawaitable(result):  # write()-style behavior
                await result
            else:  # a plain (sync) iterator
                for response in result:
                    await context._send_response(response)
            code = context._code or grpc.StatusCode.OK
            return code, context._details or ""
        except BaseException as exc:
            return _status_for_exception(exc, context, behavior)


def _status_for_exception(exc: BaseException, context: WebServicerContext, behavior):
    if isinstance(exc, asyncio.CancelledError):
        raise exc
    if isinstance(exc, _AbortError):
        return context._code, context._details or ""
    if isinstance(exc, _RpcFinished):
        return exc.code, exc.details
    if not isinstance(exc, Exception):
        raise exc
    _LOGGER.error(
        "gRPC-Web: unexpected exception in behavior %s",
        getattr(behavior, "__qualname__", behavior),
        exc_info=exc,
    )
    return grpc.StatusCode.INTERNAL, _INTERNAL_DETAILS


class _Disconnected(Exception):
    pass


def _identity(x):
    return x


async def _drain(receive) -> None:
    """Consume the rest of the request body so the connection can be reused."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _wait_disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _cancel(task: asyncio.Future) -> None:
    if task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:  # pragma: no cover - logged by the invoke wrappers already
        _LOGGER.debug("gRPC-Web: handler failed while being cancelled", exc_info=True)


def _format_peer(client) -> str:
    if not client:
        return "unknown"
    host, port = client[0], client[1]
    if ":" in host:
        return f"ipv6:[{host}]:{port}"
    return f"ipv4:{host}:{port}"


class _Headers:
    """Lower-cased view of ASGI request headers."""

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self._items = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]

    def get(self, name: str) -> str | None:
        for key, value in self._items:
            if key == name:
                return value
        return None

    def metadata(self) -> tuple:
        md = []
        for key, value in self._items:
            if (
                key in _NON_METADATA_HEADERS
                or key.startswith(_NON_METADATA_PREFIXES)
                or key.startswith(":")
            ):
                continue
            if key.endswith("-bin"):
                try:
                    padded = value.strip() + "=" * (-len(value.strip()) % 4)
                    md.append((key, base64.b64decode(padded, validate=True)))
                except (binascii.Error, ValueError):
                    raise ValueError(f"Invalid base64 in binary metadata header {key!r}") from None
            else:
                md.append((key, value))
        return tuple(md)


# ---------------------------------------------------------------------------
# Running the app on its own port
# ---------------------------------------------------------------------------


class WebServerHandle:
    """A running :func:`serve_web` server; ``await handle.stop()`` shuts it down."""

    def __init__(self, server, task: asyncio.Task, host: str, port: int) -> None:
        self._server = server
        self._task = task
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting connections and shut down.

        In-flight calls get ``grace`` seconds to finish (None: they are cancelled at once).
        """
        if self._task.done():
            return
        # uvicorn closes idle keep-alive connections at once and cancels the
        # still-running calls when the (small, for None) grace period runs out.
        self._server.config.timeout_graceful_shutdown = 0.1 if grace is None else max(grace, 0.1)
        self._server.should_exit = True
        await asyncio.shield(self._task)

    async def wait(self) -> None:
        await asyncio.shield(self._task)


async def serve_web(
    app, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning", **uvicorn_options
) -> WebServerHandle:
    """Serve an ASGI app (normally a :class:`GrpcWebApp`) with uvicorn on ``host:port``.

    ``port=0`` binds an ephemeral port; the bound one is ``handle.port``.
    uvicorn's own signal handling is disabled: the embedding program owns
    SIGINT/SIGTERM and should call ``await handle.stop()``.
    """
    import contextlib

    import uvicorn

    class _Server(uvicorn.Server):
        def capture_signals(self):
            return contextlib.nullcontext()

    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, socktype, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]

    options = {"lifespan": "on", "log_level": log_level, "access_log": False}
    options.update(uvicorn_options)
    server = _Server(uvicorn.Config(app, **options))
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"cello-grpc-web:{bound_port}")
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # re-raise the startup error
            raise RuntimeError("gRPC-Web server exited during startup")
        await asyncio.sleep(0.01)
    return WebServerHandle(server, task, host, bound_port)
