"""The gRPC-Web protocol over ASGI: binary and text (base64) modes, unary and server streaming.

A request is one 5-byte-framed message (base64 in text mode), optionally gzip-compressed;
a response is a header block, data frames, then a trailer frame (flag 0x80) carrying the
status, or a trailers-only header block when no message was sent.

Statuses decided here: malformed framing, base64, `grpc-timeout` or `-bin` header:
INVALID_ARGUMENT; a client-streaming method or an unknown compression: UNIMPLEMENTED; a
message over the size limit, seen from its frame header or Content-Length before it is
read: RESOURCE_EXHAUSTED; a body that does not arrive within the body timeout: UNAVAILABLE
(the deadline, if shorter: DEADLINE_EXCEEDED); a server stopped past its grace period:
UNAVAILABLE.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from .._call.context import Pairs
from .._call.endpoint import Endpoint
from .._errors import GrpcError
from .call import (
    FLAG_COMPRESSED,
    FLAG_DATA,
    FLAG_TRAILER,
    FRAME_HEADER,
    HttpCall,
    ResponseWriter,
    gzip_payload,
    parse_message,
    supervise,
    too_large,
    unframe_one,
    within_body_timeout,
)
from .http import (
    Disconnected,
    Finished,
    Header,
    Limits,
    Receive,
    Request,
    Send,
    encode_grpc_message,
    encode_metadata,
    expose_headers,
    grpc_deadline,
    gzipped_request,
    method_path,
    peer,
)

logger = logging.getLogger("cello.grpc.web")

CONTENT_TYPES = {
    "application/grpc-web": False,
    "application/grpc-web+proto": False,
    "application/grpc-web-text": True,
    "application/grpc-web-text+proto": True,
}
"""The media types this protocol serves, and whether each is text (base64) mode."""
REQUEST_HEADERS = ("x-grpc-web", "content-type", "x-user-agent", "grpc-timeout", "grpc-encoding")
"""Request headers a browser needs CORS permission to send."""
EXPOSED_HEADERS = ("grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-encoding")
"""Response headers a browser script may always read."""

_RESPONSE_TYPE = {False: b"application/grpc-web+proto", True: b"application/grpc-web-text+proto"}
_B64_SEGMENT_RE = re.compile(rb"[^=]+=*|=+")


async def serve(request: Request, find: Callable[[str], Endpoint | None], limits: Limits) -> None:
    """Serve one gRPC-Web call to its end (or until the client leaves)."""
    headers = request.headers
    text = CONTENT_TYPES[headers.media_type]
    writer = Writer(request.send, text=text, cors=request.cors)
    try:
        ep, deadline, metadata, compressed = _prepare(request, find, limits, text)
        raw = await _read_body(request.receive, limits, text, compressed, deadline)
        message = parse_message(ep, raw)
    except Finished as fin:
        await writer.finish(fin.code, fin.message, close=fin.close)
        return
    except Disconnected:
        return
    accept = (headers.get("grpc-accept-encoding") or "").lower()
    call = HttpCall(
        ep.method,
        "grpc-web",
        deadline,
        metadata,
        peer(request.scope.get("client")),
        writer,
        limits.max_message_size,
        accepts_gzip="gzip" in accept,
        scope=request.scope,
    )
    call.request_size = len(raw)
    call.compression = limits.compression
    status = await supervise(ep, message, call, request.receive, deadline)
    if status is None:  # the client left; nobody reads a status
        return
    call.code = status.code
    try:
        await writer.finish(status.code, status.message, [*call.trailers, *status.trailers])
    except Exception:
        logger.debug("gRPC-Web: could not send the status", exc_info=True)


def _prepare(
    request: Request, find: Callable[[str], Endpoint | None], limits: Limits, text: bool
) -> tuple[Endpoint, float | None, Pairs, bool]:
    """The endpoint, deadline, metadata and request compression, checked before the body."""
    headers = request.headers
    metadata = headers.metadata()
    deadline = grpc_deadline(headers)
    gzipped = gzipped_request(headers)
    ep = find(method_path(request.scope))
    if ep is None:
        raise Finished(GrpcError.UNIMPLEMENTED, "Method not found!")
    if ep.client_streaming:
        raise Finished(
            GrpcError.UNIMPLEMENTED, "gRPC-Web does not support client-streaming or bidi methods"
        )
    declared = headers.get("content-length") or ""
    if declared.isdigit() and int(declared) > _body_cap(limits, text):
        # refused before any byte of the body is read; in binary mode a one-message body
        # is its 5-byte frame header plus the message
        what = f"a {declared}-byte body" if text else str(int(declared) - 5)
        raise too_large(what, limits.max_message_size, close=True)
    return ep, deadline, metadata, gzipped


def _body_cap(limits: Limits, text: bool) -> int:
    """The largest body one message of the size limit can take (base64 in text mode)."""
    frame = 5 + limits.max_message_size
    return 4 * -(-frame // 3) + 1024 if text else frame


async def _read_body(
    receive: Receive,
    limits: Limits,
    text: bool,
    compressed: bool,
    deadline: float | None,
) -> bytes:
    """The request body's one message, read within the body timeout and the deadline."""
    body = await within_body_timeout(_read_capped(receive, limits, text), limits, deadline)
    if text:
        try:
            body = decode_text(body)
        except (ValueError, binascii.Error) as exc:
            raise Finished(
                GrpcError.INVALID_ARGUMENT,
                f"Malformed grpc-web-text body: invalid base64 ({exc})",
            ) from None
    return unframe_one(body, limits.max_message_size, compressed, _malformed)


async def _read_capped(receive: Receive, limits: Limits, text: bool) -> bytes:
    """The raw body, refused as soon as its first frame header declares more than the
    size limit; never buffered beyond one message's worth."""
    cap = _body_cap(limits, text)
    buffer = bytearray()
    checked = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected()
        buffer += message.get("body", b"")
        if not checked:
            checked = _check_first_header(buffer, limits.max_message_size, text)
        if len(buffer) > cap:
            raise too_large(f"more than {cap} bytes", limits.max_message_size, close=True)
        if not message.get("more_body", False):
            return bytes(buffer)


def _check_first_header(buffer: bytearray, limit: int, text: bool) -> bool:
    """Refuse an oversize first frame from its header alone; True once it was checked."""
    if text:
        head = bytes(buffer[:8])
        if len(head) < 8:
            return False
        if b"=" in head:
            return True  # a padded first chunk: checked once the body is complete
        try:
            head = base64.b64decode(head, validate=True)
        except (ValueError, binascii.Error):
            return True  # reported once the body is complete
    else:
        head = bytes(buffer[:5])
    if len(head) < 5:
        return False
    flags, length = FRAME_HEADER.unpack_from(head)
    if length > limit and not flags & FLAG_TRAILER:
        raise too_large(str(length), limit, close=True)
    return True


def decode_text(body: bytes) -> bytes:
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


def _malformed(problem: str) -> Finished:
    return Finished(GrpcError.INVALID_ARGUMENT, f"Malformed gRPC-Web frame: {problem}")


class Writer(ResponseWriter):
    """Writes one gRPC-Web response: headers, data frames, then the trailer frame."""

    __slots__ = ("_text",)

    def __init__(self, send: Send, *, text: bool, cors: Sequence[Header]) -> None:
        super().__init__(send, cors)
        self._text = text

    def _headers(self, metadata: Sequence[Header]) -> list[Header]:
        names = (k for k, _ in metadata)
        return [
            (b"content-type", _RESPONSE_TYPE[self._text]),
            *self._cors,
            *expose_headers(self._cors, EXPOSED_HEADERS, names),
        ]

    async def _body(self, frame: bytes, more: bool) -> None:
        body = base64.b64encode(frame) if self._text else frame
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    async def start(self, *, gzip: bool = False) -> None:
        """Send the response headers with the initial metadata, once."""
        if self.headers_sent:
            return
        self.headers_sent = True
        self._gzip = gzip
        headers = self._headers(self.initial) + self.initial
        if gzip:
            headers.append((b"grpc-encoding", b"gzip"))
        await self._send({"type": "http.response.start", "status": 200, "headers": headers})

    async def send_message(self, payload: bytes, *, gzip: bool = False) -> None:
        """Send one data frame (and the headers first, if still unsent)."""
        await self.start(gzip=gzip)
        flags = FLAG_DATA
        if self._gzip and gzip:  # the call compresses, and this message too
            payload, flags = gzip_payload(payload), FLAG_COMPRESSED
        await self._body(FRAME_HEADER.pack(flags, len(payload)) + payload, True)

    async def _end(
        self, code: int, message: str, trailing: list[tuple[str, Any]], *, close: bool
    ) -> None:
        # the status goes in a trailer frame, or in trailers-only headers
        status = [(b"grpc-status", str(code).encode("ascii"))]
        if message:
            status.append((b"grpc-message", encode_grpc_message(message).encode("ascii")))
        try:
            trailers = encode_metadata(trailing)
        except ValueError:
            logger.error("gRPC-Web: invalid trailing metadata dropped", exc_info=True)
            trailers = []
        if not self.headers_sent:
            self.headers_sent = True
            metadata = [*self.initial, *trailers]
            headers = self._headers(metadata) + status + metadata + [(b"content-length", b"0")]
            if close:
                headers.append((b"connection", b"close"))
            await self._send({"type": "http.response.start", "status": 200, "headers": headers})
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        block = b"".join(k + b": " + v + b"\r\n" for k, v in [*status, *trailers])
        await self._body(FRAME_HEADER.pack(FLAG_TRAILER, len(block)) + block, False)
