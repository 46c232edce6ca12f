"""One gRPC-Web call: request headers and body, the response writer, the servicer context."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import struct
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any, NoReturn

import grpc
import grpc.aio

logger = logging.getLogger("cello.grpc.web")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Header = tuple[bytes, bytes]
Metadata = tuple[tuple[str, str | bytes], ...]

CONTENT_TYPE = {False: b"application/grpc-web+proto", True: b"application/grpc-web-text+proto"}
ALWAYS_EXPOSED = ("grpc-status", "grpc-message", "grpc-status-details-bin")
FLAG_DATA, FLAG_COMPRESSED, FLAG_TRAILER = 0x00, 0x01, 0x80
FRAME_HEADER = struct.Struct(">BI")

# Request headers that are HTTP, transport or browser plumbing, not gRPC metadata.
_NOT_METADATA = frozenset(
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
_NOT_METADATA_PREFIXES = (":", "sec-", "access-control-")
# Response header names a handler must not set through metadata.
_RESERVED_KEYS = frozenset(
    {"grpc-status", "grpc-message", "content-type", "content-length", "transfer-encoding"}
)
_TIMEOUT_RE = re.compile(r"^([0-9]{1,8})([HMSmun])$")
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_B64_SEGMENT_RE = re.compile(rb"[^=]+=*|=+")
_KEY_RE = re.compile(r"^[0-9a-z_.\-]+$")
# grpc-message percent-encoding keeps printable ASCII except '%'.
_PLAIN_MESSAGE_BYTES = frozenset(range(0x20, 0x7F)) - {ord("%")}


class RpcFinished(Exception):
    """A protocol-level problem that ends the call with `code` and `details`."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class Disconnected(Exception):
    """The client went away before the request was read."""


class WebAbortError(grpc.aio.AbortError):
    """Raised by `WebServicerContext.abort`, as grpc.aio raises `AbortError`."""


def parse_grpc_timeout(value: str) -> float:
    """A `grpc-timeout` header value ("100m", "5S", ...) in seconds.

    Raises:
        ValueError: not `1-8 digits` followed by one of `HMSmun`.
    """
    match = _TIMEOUT_RE.match(value.strip())
    if not match:
        raise ValueError(f"invalid grpc-timeout {value!r}")
    return int(match.group(1)) * _TIMEOUT_UNITS[match.group(2)]


def encode_grpc_message(details: str) -> str:
    """Percent-encode a status message as the gRPC over HTTP/2 spec requires."""
    return "".join(
        chr(byte) if byte in _PLAIN_MESSAGE_BYTES else f"%{byte:02X}"
        for byte in details.encode("utf-8")
    )


def decode_grpc_web_text(body: bytes) -> bytes:
    """A grpc-web-text body decoded: base64, possibly several padded chunks concatenated.

    Raises:
        ValueError: the body is not base64.
    """
    data = b"".join(body.split())
    out = []
    for segment in _B64_SEGMENT_RE.findall(data):
        if len(segment) % 4:
            if b"=" in segment:
                raise ValueError("misaligned base64 padding")
            segment += b"=" * (-len(segment) % 4)  # a missing final padding is harmless
        out.append(base64.b64decode(segment, validate=True))
    return b"".join(out)


def encode_metadata(metadata: Iterable[tuple[Any, Any]] | None) -> list[Header]:
    """Outgoing metadata pairs as header bytes (`-bin` values base64-encoded).

    Raises:
        ValueError: a key that is not a valid, unreserved header name, or a text value that is
            not printable ASCII.
    """
    result = []
    for raw_key, value in metadata or ():
        key = (raw_key.decode("ascii") if isinstance(raw_key, bytes) else str(raw_key)).lower()
        if not _KEY_RE.match(key) or key in _RESERVED_KEYS:
            raise ValueError(f"invalid metadata key {key!r}")
        result.append((key.encode("ascii"), _encode_value(key, value)))
    return result


def _encode_value(key: str, value: Any) -> bytes:
    if key.endswith("-bin"):
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw)
    text = value.decode("ascii") if isinstance(value, bytes) else str(value)
    if any(not 0x20 <= ord(ch) <= 0x7E for ch in text):
        raise ValueError(f"metadata value for {key!r} must be printable ASCII, got {text!r}")
    return text.encode("ascii")


class RequestHeaders:
    """A lower-cased view of ASGI request headers."""

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self._items = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]

    def get(self, name: str) -> str | None:
        """The first value of header `name`, or None."""
        return next((value for key, value in self._items if key == name), None)

    def metadata(self) -> Metadata:
        """The gRPC metadata the headers carry (`-bin` values decoded), in order.

        Raises:
            RpcFinished: INVALID_ARGUMENT, a `-bin` header is not base64.
        """
        md: list[tuple[str, str | bytes]] = []
        for key, value in self._items:
            if key in _NOT_METADATA or key.startswith(_NOT_METADATA_PREFIXES):
                continue
            if key.endswith("-bin"):
                text = value.strip()
                try:
                    md.append((key, base64.b64decode(text + "=" * (-len(text) % 4), validate=True)))
                except (binascii.Error, ValueError):
                    raise RpcFinished(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"Invalid base64 in binary metadata header {key!r}",
                    ) from None
            else:
                md.append((key, value))
        return tuple(md)


async def read_request(receive: Receive, *, text: bool, max_message_size: int) -> bytes:
    """The one request message of a unary-request call, unframed.

    A body far beyond `max_message_size` is drained, never buffered.

    Raises:
        RpcFinished: too large (RESOURCE_EXHAUSTED), or malformed base64 or framing.
        Disconnected: the client went away first.
    """
    limit = 2 * (max_message_size + 5) + 65536
    chunks: list[bytes] = []
    size, overflow = 0, False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected()
        body = message.get("body", b"")
        size += len(body)
        overflow = overflow or size > limit
        if not overflow:
            chunks.append(body)
        if not message.get("more_body", False):
            break
    if overflow:
        raise RpcFinished(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"Received message larger than max (more than {max_message_size} bytes)",
        )
    data = b"".join(chunks)
    if text:
        try:
            data = decode_grpc_web_text(data)
        except (ValueError, binascii.Error) as exc:
            raise RpcFinished(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Malformed grpc-web-text body: invalid base64 ({exc})",
            ) from None
    return unframe_one(data, max_message_size)


def unframe_one(body: bytes, max_message_size: int) -> bytes:
    """The payload of the single data frame `body` must hold.

    Raises:
        RpcFinished: the framing is malformed, compressed, or holds more or less than one message.
    """
    messages, pos = [], 0
    while pos < len(body):
        if len(body) - pos < 5:
            raise _malformed("truncated frame header")
        flags, length = FRAME_HEADER.unpack_from(body, pos)
        pos += 5
        if flags & FLAG_TRAILER:
            raise _malformed("trailer frame in request")
        if flags & FLAG_COMPRESSED:
            raise RpcFinished(
                grpc.StatusCode.UNIMPLEMENTED, "Compressed request messages are not supported"
            )
        if flags != FLAG_DATA:
            raise _malformed(f"unknown flags 0x{flags:02x}")
        if length > max_message_size:
            raise RpcFinished(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Received message larger than max ({length} vs. {max_message_size})",
            )
        if len(body) - pos < length:
            raise _malformed(f"declared length {length} but only {len(body) - pos} bytes follow")
        messages.append(body[pos : pos + length])
        pos += length
    if len(messages) != 1:
        raise RpcFinished(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"Expected exactly one request message for a unary request, got {len(messages)}",
        )
    return messages[0]


def _malformed(problem: str) -> RpcFinished:
    return RpcFinished(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed gRPC-Web frame: {problem}")


class ResponseWriter:
    """Writes one gRPC-Web response: headers, data frames, then the trailer frame."""

    def __init__(self, send: Send, *, text: bool, cors: Sequence[Header]) -> None:
        self._send = send
        self._text = text
        self._cors = list(cors)
        self.headers_sent = False
        self.finished = False

    def _headers(self, metadata: Sequence[Header]) -> list[Header]:
        headers = [(b"content-type", CONTENT_TYPE[self._text]), *self._cors]
        if self._cors:
            exposed = dict.fromkeys([*ALWAYS_EXPOSED, *(k.decode("ascii") for k, _ in metadata)])
            headers.append((b"access-control-expose-headers", ", ".join(exposed).encode("ascii")))
        return headers

    async def _body(self, frame: bytes, more: bool) -> None:
        body = base64.b64encode(frame) if self._text else frame
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    async def start(self, initial_metadata: Sequence[Header]) -> None:
        """Send the response headers with `initial_metadata`, once."""
        if self.headers_sent:
            return
        self.headers_sent = True
        headers = self._headers(initial_metadata) + list(initial_metadata)
        await self._send({"type": "http.response.start", "status": 200, "headers": headers})

    async def send_message(self, payload: bytes, initial_metadata: Sequence[Header]) -> None:
        """Send one data frame (and the headers first, if still unsent)."""
        await self.start(initial_metadata)
        await self._body(FRAME_HEADER.pack(FLAG_DATA, len(payload)) + payload, True)

    async def finish(
        self,
        code: grpc.StatusCode,
        details: str,
        trailing: Sequence[Header] = (),
        initial_metadata: Sequence[Header] = (),
    ) -> None:
        """End the response with the status: a trailer frame, or trailers-only headers."""
        if self.finished:
            return
        self.finished = True
        status = [(b"grpc-status", str(code.value[0]).encode("ascii"))]
        if details:
            status.append((b"grpc-message", encode_grpc_message(details).encode("ascii")))
        if not self.headers_sent:
            self.headers_sent = True
            metadata = [*initial_metadata, *trailing]
            headers = self._headers(metadata) + status + metadata + [(b"content-length", b"0")]
            await self._send({"type": "http.response.start", "status": 200, "headers": headers})
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        block = b"".join(k + b": " + v + b"\r\n" for k, v in [*status, *trailing])
        await self._body(FRAME_HEADER.pack(FLAG_TRAILER, len(block)) + block, False)


class WebServicerContext(grpc.aio.ServicerContext[Any, Any]):
    """The `grpc.aio.ServicerContext` stand-in handed to handlers called over gRPC-Web."""

    def __init__(
        self,
        *,
        metadata: Metadata,
        peer: str,
        deadline: float | None,
        writer: ResponseWriter,
        serializer: Callable[[Any], bytes],
        streaming: bool,
        max_message_size: int,
    ) -> None:
        self._metadata = metadata
        self._peer = peer
        self._deadline = deadline  # in loop.time() units
        self._writer = writer
        self._serializer = serializer
        self._streaming = streaming
        self._max_message_size = max_message_size
        self.status_code: grpc.StatusCode | None = None
        self.status_details: str | None = None
        self.initial_metadata: list[Header] = []
        self.trailing: list[Header] = []
        self._raw_trailing: Metadata = ()
        self._aborted = False
        self._cancelled = False
        self._done = False
        self._callbacks: list[Callable[[Any], object]] = []

    def invocation_metadata(self) -> grpc.aio.Metadata:
        return grpc.aio.Metadata(*self._metadata)

    def peer(self) -> str:
        return self._peer

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    def auth_context(self) -> dict[str, Any]:
        return {}

    async def send_initial_metadata(self, initial_metadata: Iterable[tuple[Any, Any]]) -> None:
        if self._writer.headers_sent:
            raise grpc.aio.UsageError("Send initial metadata failed: already sent")
        self.initial_metadata = encode_metadata(initial_metadata)
        await self._writer.start(self.initial_metadata)

    def set_trailing_metadata(self, trailing_metadata: Iterable[tuple[Any, Any]]) -> None:
        pairs = tuple(trailing_metadata or ())
        self.trailing = encode_metadata(pairs)
        self._raw_trailing = pairs

    def trailing_metadata(self) -> grpc.aio.Metadata:
        return grpc.aio.Metadata(*self._raw_trailing)

    async def abort(
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: Iterable[tuple[Any, Any]] = (),
    ) -> NoReturn:
        if self._aborted:
            raise grpc.aio.UsageError("Abort already called!")
        self._aborted = True
        if code == grpc.StatusCode.OK:
            logger.error("abort() called with StatusCode.OK; returning UNKNOWN")
            code = grpc.StatusCode.UNKNOWN
        self.status_code, self.status_details = code, details
        if trailing_metadata:
            self.set_trailing_metadata(trailing_metadata)
        raise WebAbortError(details)

    async def abort_with_status(self, status: Any) -> NoReturn:
        await self.abort(status.code, status.details, getattr(status, "trailing_metadata", ()))

    def set_code(self, code: grpc.StatusCode) -> None:
        self.status_code = code

    def set_details(self, details: str) -> None:
        self.status_details = details

    def code(self) -> grpc.StatusCode:
        return self.status_code or grpc.StatusCode.OK  # as grpc.aio: OK until one is set

    def details(self) -> str:
        return self.status_details or ""

    # grpc.aio returns None too when the client set no deadline, though its stub says float
    def time_remaining(self) -> float | None:  # type: ignore[override]
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    def cancelled(self) -> bool:
        return self._cancelled

    def done(self) -> bool:
        return self._done

    def cancel(self) -> bool:
        return False

    def set_cancelled(self) -> None:
        """Record that the client left or the deadline passed (before the handler is cancelled)."""
        self._cancelled = True

    def add_done_callback(self, callback: Callable[[Any], object]) -> None:
        self._callbacks.append(callback)

    def set_compression(self, compression: Any) -> None:
        pass  # responses are never compressed

    def disable_next_message_compression(self) -> None:
        pass

    async def write(self, message: Any) -> None:
        if not self._streaming:
            raise grpc.aio.UsageError("write() is only available for server-streaming calls")
        await self.send_response(message)

    async def read(self) -> Any:
        raise grpc.aio.UsageError("read() is not available: gRPC-Web serves unary requests only")

    async def send_response(self, message: Any) -> None:
        """Serialize and send one response message, within the size limit.

        Raises:
            RpcFinished: RESOURCE_EXHAUSTED, the message is larger than `max_message_size`.
        """
        payload = self._serializer(message)
        if len(payload) > self._max_message_size:
            raise RpcFinished(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Sent message larger than max ({len(payload)} vs. {self._max_message_size})",
            )
        await self._writer.send_message(payload, self.initial_metadata)

    def mark_done(self, *, cancelled: bool = False) -> None:
        """End the call: record cancellation and run the done callbacks, once."""
        if self._done:
            return
        self._cancelled = self._cancelled or cancelled
        self._done = True
        for callback in self._callbacks:
            try:
                callback(self)
            except Exception:
                logger.exception("gRPC-Web done callback failed")
