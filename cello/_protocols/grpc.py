"""The gRPC protocol over ASGI on HTTP/2: all four call shapes, the status in trailers.

A request is a stream of 5-byte-framed messages (gzip-compressed with `grpc-encoding:
gzip`); a response is a header block, data frames, then HTTP/2 trailers carrying the
status, sent through the ASGI `http.response.trailers` extension. The request body is
read while the response is written, so client streams and bidi are full duplex.

Statuses decided here: malformed framing, `grpc-timeout` or `-bin` header:
INVALID_ARGUMENT; an unknown compression or method: UNIMPLEMENTED; a request message
over the size limit: RESOURCE_EXHAUSTED; a unary request body that does not arrive within
the body timeout: UNAVAILABLE (the deadline, if shorter: DEADLINE_EXCEEDED); a server
stopped past its grace period: UNAVAILABLE. A request that is not HTTP/2 with `te:
trailers` gets a plain HTTP error: its response could not carry a status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from .._call.endpoint import Endpoint
from .._errors import GrpcError
from .call import (
    FLAG_COMPRESSED,
    FRAME_HEADER,
    HttpCall,
    ResponseWriter,
    check_flags,
    gunzip,
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
    grpc_deadline,
    gzipped_request,
    method_path,
    peer,
    plain,
    status_headers,
)

logger = logging.getLogger("cello.grpc.h2")

CONTENT_TYPES = {"application/grpc": None, "application/grpc+proto": None}
"""The media types this protocol serves."""
REQUEST_HEADERS = ("content-type", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "te")
"""Request headers a browser would need CORS permission to send (browsers cannot send
gRPC: they cannot read trailers; listed for completeness)."""
EXPOSED_HEADERS = ("grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-encoding")
"""Response headers a browser script may always read."""

_TRAILERS = "http.response.trailers"
_HEADERS = [(b"content-type", b"application/grpc"), (b"grpc-accept-encoding", b"gzip")]
_GZIP_HEADERS = [*_HEADERS, (b"grpc-encoding", b"gzip")]
_NEEDS_H2 = (
    b"gRPC needs HTTP/2 with trailers (te: trailers): use h2c with prior knowledge, or "
    b"TLS with ALPN h2; HTTP/1.1 clients can call the same methods with gRPC-Web or Connect\n"
)
_END = {"type": "http.response.body", "body": b"", "more_body": False}


async def serve(request: Request, find: Callable[[str], Endpoint | None], limits: Limits) -> None:
    """Serve one gRPC call to its end (or until the client leaves): parse, run, write.

    Each step calls the shared helpers of `call.py` and `http.py` and returns here; nothing
    calls back into this module but the `Writer` the call writes its messages through.
    """
    # parse: HTTP/2 with trailers, the route, deadline and compression, then the request
    scope = request.scope
    if _TRAILERS not in (scope.get("extensions") or {}) or request.headers.get("te") != "trailers":
        await plain(request.send, 400, _NEEDS_H2)
        return
    writer = Writer(request.send, request.cors)
    reader: RequestStream | None = None
    try:
        ep, deadline, compressed = _prepare(request, find)
        metadata = request.headers.metadata()
        if ep.client_streaming:
            reader = RequestStream(ep, request.receive, limits.max_message_size, compressed)
            message: Any = reader.messages()
        else:
            raw = await within_body_timeout(
                _read_unary(request.receive, limits.max_message_size), limits, deadline
            )
            message = parse_message(ep, unframe_one(raw, limits.max_message_size, compressed, _bad))
    except Finished as fin:
        await writer.finish(fin.code, fin.message)
        return
    except Disconnected:
        return
    # run: the endpoint, supervised for the deadline and for a client that leaves
    accept = request.headers.get("grpc-accept-encoding") or ""
    call = HttpCall(
        ep.method,
        "grpc",
        deadline,
        metadata,
        peer(scope.get("client")),
        writer,
        limits.max_message_size,
        accepts_gzip="gzip" in accept,
        scope=scope,
    )
    if reader is None:
        call.request_size = len(raw) - 5
        call.request_compressed = bool(raw[0] & FLAG_COMPRESSED)
    else:
        reader.call = call
    call.compression = limits.compression
    gone = None if reader is None else reader.pump()
    status = await supervise(ep, message, call, request.receive, deadline, gone=gone)
    if status is None:  # the client left (RST_STREAM); nobody reads a status
        return
    # write: the status (and trailing metadata) in HTTP/2 trailers
    call.code = status.code
    try:
        await writer.finish(status.code, status.message, [*call.trailers, *status.trailers])
    except Exception:
        logger.debug("gRPC: could not send the status", exc_info=True)


def _prepare(
    request: Request, find: Callable[[str], Endpoint | None]
) -> tuple[Endpoint, float | None, bool]:
    """The endpoint, deadline and request compression, checked before the body."""
    headers = request.headers
    deadline = grpc_deadline(headers)
    gzipped = gzipped_request(headers)
    ep = find(method_path(request.scope))
    if ep is None:
        raise Finished(GrpcError.UNIMPLEMENTED, "Method not found!")
    return ep, deadline, gzipped


async def _read_unary(receive: Receive, limit: int) -> bytes:
    """The body of a unary request, refused once it holds more than one message's worth."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise Disconnected()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body  # the usual case: the whole body in one event
    buffer = bytearray(body)
    while True:
        if len(buffer) >= 5:
            flags, length = FRAME_HEADER.unpack_from(buffer)
            if length > limit:
                raise too_large(str(length), limit)
        if len(buffer) > limit + 5:
            raise too_large(f"more than {limit + 5} bytes", limit)
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected()
        buffer += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(buffer)


def _bad(problem: str) -> Finished:
    return Finished(GrpcError.INVALID_ARGUMENT, f"Malformed gRPC frame: {problem}")


class RequestStream:
    """The messages of a streaming request, parsed as their frames arrive.

    One task (`pump`) owns `receive`: it parses frames into a small queue the handler
    reads from (so a slow handler slows the client down through HTTP/2 flow control),
    then waits for the client to leave, which is how `supervise` learns of a RST_STREAM.
    """

    __slots__ = ("_ep", "_receive", "_limit", "_compressed", "_queue", "call")

    def __init__(self, ep: Endpoint, receive: Receive, limit: int, compressed: bool) -> None:
        self._ep = ep
        self._receive = receive
        self._limit = limit
        self._compressed = compressed
        # items: a message, a GrpcError ending the stream, or None for its end
        self._queue: asyncio.Queue[Any] = asyncio.Queue(16)
        self.call: HttpCall | None = None

    async def pump(self) -> None:
        """Read the body into the queue, then return when the client leaves."""
        buffer = bytearray()
        ended = False
        while True:
            event = await self._receive()
            if event["type"] == "http.disconnect":
                return
            if ended:
                continue
            buffer += event.get("body", b"")
            try:
                for message in self._frames(buffer):
                    await self._queue.put(message)
            except Finished as fin:
                ended = True
                await self._queue.put(GrpcError(fin.code, fin.message))
                continue
            if not event.get("more_body", False):
                ended = True
                if buffer:
                    await self._queue.put(
                        GrpcError(GrpcError.INVALID_ARGUMENT, "Malformed gRPC frame: truncated")
                    )
                else:
                    await self._queue.put(None)

    def _frames(self, buffer: bytearray) -> list[Any]:
        """Take the complete frames off the front of `buffer`, as parsed messages."""
        out = []
        while len(buffer) >= 5:
            flags, length = FRAME_HEADER.unpack_from(buffer)
            check_flags(flags, self._compressed, _bad)
            if length > self._limit:
                raise too_large(str(length), self._limit)
            if len(buffer) < 5 + length:
                break
            payload = bytes(buffer[5 : 5 + length])
            del buffer[: 5 + length]
            if flags & FLAG_COMPRESSED:
                payload = gunzip(payload, self._limit, _bad)
            if self.call is not None:
                self.call.request_size += length
                self.call.request_compressed = bool(flags & FLAG_COMPRESSED)
            out.append(parse_message(self._ep, payload))
        return out

    async def messages(self) -> AsyncIterator[Any]:
        """The request messages, in order; a malformed one raises its `GrpcError`."""
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, GrpcError):
                raise item
            yield item


class Writer(ResponseWriter):
    """Writes one gRPC response: headers, data frames, then the status in trailers."""

    __slots__ = ()

    def __init__(self, send: Send, cors: Sequence[Header]) -> None:
        super().__init__(send, cors)

    async def start(self, *, gzip: bool = False) -> None:
        """Send the response headers with the initial metadata, once."""
        if self.headers_sent:
            return
        self.headers_sent = True
        self._gzip = gzip
        headers = _GZIP_HEADERS if gzip else _HEADERS
        if self.initial or self._cors:
            headers = [*headers, *self._cors, *self.initial]
        await self._send(
            {"type": "http.response.start", "status": 200, "headers": headers, "trailers": True}
        )

    async def send_message(self, payload: bytes, *, gzip: bool = False) -> None:
        """Send one data frame (and the headers first, if still unsent)."""
        if not self.headers_sent:
            await self.start(gzip=gzip)
        flags = 0
        if self._gzip and gzip:  # the call compresses, and this message too
            payload, flags = gzip_payload(payload), FLAG_COMPRESSED
        frame = FRAME_HEADER.pack(flags, len(payload)) + payload
        await self._send({"type": "http.response.body", "body": frame, "more_body": True})

    async def _end(
        self, code: int, message: str, trailing: list[tuple[str, Any]], *, close: bool
    ) -> None:
        try:
            trailers = status_headers(code, message, trailing)
        except ValueError:
            logger.error("gRPC: invalid trailing metadata dropped", exc_info=True)
            trailers = status_headers(code, message, ())
        if not self.headers_sent:
            # not a one-frame trailers-only response (the ASGI interface has no way to say
            # one): headers, then the status in trailers, which every client accepts
            await self.start()
        await self._send(_END)
        await self._send({"type": _TRAILERS, "headers": trailers, "more_trailers": False})
