"""What every ASGI protocol shares about running a call: `HttpCall`, supervision, bodies."""

from __future__ import annotations

import asyncio
import gzip
import logging
import struct
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from .._call.context import CallContext, Metadata, Pairs, pairs
from .._call.endpoint import Endpoint, Status, status_of
from .._errors import GrpcError
from .._security.identity import (
    PeerIdentity,
    auth_context_from_asgi_scope,
    peer_identity_from_auth_context,
)
from .http import (
    Finished,
    Header,
    Limits,
    Receive,
    Scope,
    Send,
    encode_metadata,
    wait_disconnect,
)

logger = logging.getLogger("cello.grpc.web")

DEADLINE = Status(GrpcError.DEADLINE_EXCEEDED, "Deadline Exceeded")
SHUTDOWN = Status(GrpcError.UNAVAILABLE, "Server shutting down")
OK = Status(GrpcError.OK, "")

# gRPC's length-prefixed message framing, shared by gRPC and gRPC-Web
FLAG_DATA, FLAG_COMPRESSED, FLAG_TRAILER = 0x00, 0x01, 0x80
FRAME_HEADER = struct.Struct(">BI")


class Writer(Protocol):
    """How a protocol writes a response; `HttpCall` only needs this much of it."""

    initial: list[Header]
    headers_sent: bool

    async def start(self, *, gzip: bool = False) -> None: ...

    async def send_message(self, payload: bytes, *, gzip: bool = False) -> None: ...


class ResponseWriter:
    """What the protocols' writers share: the ASGI `send`, CORS headers, the initial
    metadata, whether the headers went out, and a response finished once."""

    __slots__ = ("_send", "_cors", "initial", "headers_sent", "finished", "_gzip")

    def __init__(self, send: Send, cors: Sequence[Header]) -> None:
        self._send = send
        self._cors = list(cors)
        self.initial: list[Header] = []
        self.headers_sent = False
        self.finished = False
        self._gzip = False

    async def finish(
        self,
        code: int,
        message: str,
        trailing: Iterable[tuple[str, Any]] = (),
        *,
        close: bool = False,
    ) -> None:
        """End the response with the status, once; later calls do nothing."""
        if self.finished:
            return
        self.finished = True
        await self._end(code, message, list(trailing), close=close)

    async def _end(
        self, code: int, message: str, trailing: list[tuple[str, Any]], *, close: bool
    ) -> None:
        raise NotImplementedError


class HeldResponse(ResponseWriter):
    """A unary response held until its status is known, since the status decides the HTTP
    status (Connect, REST): the headers are committed at once, the one message is kept, and
    the subclass's `_end` writes both."""

    __slots__ = ("_media", "_payload")

    def __init__(self, send: Send, media: bytes, cors: Sequence[Header]) -> None:
        super().__init__(send, cors)
        self._media = media
        self._payload: bytes | None = None

    async def start(self, *, gzip: bool = False) -> None:
        """Commit the headers (they go out with the response, once the status is known)."""
        self.headers_sent = True
        self._gzip = gzip

    async def send_message(self, payload: bytes, *, gzip: bool = False) -> None:
        """Keep the one response message."""
        await self.start(gzip=gzip)
        self._payload = payload

    async def _respond(
        self, status: int, media: bytes, body: bytes, headers: Iterable[Header], *, close: bool
    ) -> None:
        """Send the whole response at once: its headers (type, length, CORS, then
        `headers`), then its body."""
        head = [
            (b"content-type", media),
            (b"content-length", str(len(body)).encode("ascii")),
            *self._cors,
            *headers,
        ]
        if close:
            head.append((b"connection", b"close"))
        await self._send({"type": "http.response.start", "status": status, "headers": head})
        await self._send({"type": "http.response.body", "body": body, "more_body": False})


def binary(message: Any) -> bytes:
    """A `_pb2` message in the protobuf binary encoding."""
    return message.SerializeToString()  # type: ignore[no-any-return]


class HttpCall(CallContext):
    """A `CallContext` over one HTTP exchange, whatever the protocol's framing."""

    def __init__(
        self,
        method: str,
        protocol: str,
        deadline: float | None,
        metadata: Pairs,
        peer: str,
        writer: Writer,
        max_message_size: int,
        *,
        accepts_gzip: bool,
        scope: Scope,
        serialize: Callable[[Any], bytes] = binary,
    ) -> None:
        CallContext.__init__(self, method, protocol, deadline)
        self._scope = scope
        self._pairs = metadata
        self._metadata: Metadata | None = None
        self._peer = peer
        self._writer = writer
        self._cancelled = False
        self._limit = max_message_size
        self._gzip = accepts_gzip
        self._serialize = serialize

    @property
    def metadata(self) -> Metadata:
        if self._metadata is None:
            self._metadata = Metadata(self._pairs)
        return self._metadata

    @property
    def peer(self) -> str:
        return self._peer

    @property
    def peer_identity(self) -> PeerIdentity | None:
        return peer_identity_from_auth_context(auth_context_from_asgi_scope(self._scope))

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def headers_sent(self) -> bool:
        return self._writer.headers_sent

    @property
    def gzip(self) -> bool:
        """True when the response messages go out gzip-compressed."""
        return self._gzip and self.compression == "gzip"

    def mark_cancelled(self) -> None:
        """Record that the client left, the deadline passed or the server stopped."""
        self._cancelled = True

    async def send_headers(
        self, metadata: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()
    ) -> None:
        if self._writer.headers_sent:
            raise RuntimeError(f"{self.method}: send_headers() after the headers were sent")
        self._writer.initial = encode_metadata(pairs(metadata))
        await self._writer.start(gzip=self.gzip)

    async def _write(self, message: Any) -> None:
        payload = self._serialize(message)
        if len(payload) > self._limit:
            raise GrpcError(
                GrpcError.RESOURCE_EXHAUSTED,
                f"Sent message larger than max ({len(payload)} vs. {self._limit})",
            )
        self.response_size += len(payload)
        gzip = self.gzip
        if self._skip_compression:
            self._skip_compression, gzip = False, False
            if not self._writer.headers_sent:  # the headers still declare the call's choice
                await self._writer.start(gzip=self.gzip)
        await self._writer.send_message(payload, gzip=gzip)


async def supervise(
    ep: Endpoint,
    message: Any,
    call: HttpCall,
    receive: Receive,
    deadline: float | None,
    *,
    gone: Awaitable[None] | None = None,
) -> Status | None:
    """Run the call until it ends, the deadline passes or the client leaves (→ None).

    `gone` returns when the client left; by default, `http.disconnect` on `receive` (for a
    request read in full). A protocol reading a request stream passes its reader instead.
    """
    task = asyncio.ensure_future(_run(ep, message, call))
    watcher = asyncio.ensure_future(wait_disconnect(receive) if gone is None else gone)
    try:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        await asyncio.wait({task, watcher}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        call.mark_cancelled()
        await _cancel(task)
        return None if watcher.done() else DEADLINE
    except asyncio.CancelledError:
        # The server stopped and its grace period ran out: end the call with a status,
        # as the native port does, rather than an HTTP 500.
        call.mark_cancelled()
        await _cancel(task)
        return SHUTDOWN
    finally:
        watcher.cancel()


async def _run(ep: Endpoint, message: Any, call: HttpCall) -> Status:
    try:
        ep.enter(message, call)
        try:
            response = await ep.run(message, call)
        finally:
            ep.leave(call)
        if not ep.server_streaming:
            await call._write(response)
        return OK
    except Exception as exc:
        return status_of(exc, ep.method)


async def _cancel(task: asyncio.Future[Any]) -> None:
    if task.done():
        return
    task.cancel()
    try:
        await task
    except BaseException:
        logger.debug("web call: handler ended while being cancelled", exc_info=True)


async def within_body_timeout(
    read: Awaitable[bytes], limits: Limits, deadline: float | None
) -> bytes:
    """Await `read` (the request body) within the body timeout and the call's deadline.

    Raises:
        Finished: UNAVAILABLE after the body timeout, DEADLINE_EXCEEDED after the deadline.
    """
    budget, by_deadline = limits.body_timeout, False
    if deadline is not None and deadline - time.monotonic() < budget:
        budget, by_deadline = max(0.0, deadline - time.monotonic()), True
    try:
        async with asyncio.timeout(budget):
            return await read
    except TimeoutError:
        if by_deadline:
            raise Finished(DEADLINE.code, DEADLINE.message, close=True) from None
        raise Finished(
            GrpcError.UNAVAILABLE,
            f"Request body not received within {budget:g}s",
            close=True,
        ) from None


def too_large(what: str, limit: int, *, close: bool = False) -> Finished:
    """RESOURCE_EXHAUSTED for a request message over the size limit."""
    return Finished(
        GrpcError.RESOURCE_EXHAUSTED,
        f"Received message larger than max ({what} vs. {limit})",
        close=close,
    )


def gunzip(payload: bytes, limit: int, malformed: Callable[[str], Finished]) -> bytes:
    """Decompress at most `limit` bytes; a larger message is refused, never inflated."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(payload, limit + 1)
    except zlib.error:
        raise malformed("invalid gzip data") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large("more after decompression", limit)
    return out


def gzip_payload(payload: bytes) -> bytes:
    """A response message, gzip-compressed."""
    return gzip.compress(payload, compresslevel=6, mtime=0)


def parse_message(ep: Endpoint, raw: bytes) -> Any:
    """The request message `raw` encodes.

    Raises:
        Finished: INVALID_ARGUMENT, `raw` is not a valid message of the request type.
    """
    try:
        return ep.request_type.FromString(raw)
    except Exception:
        name = ep.request_type.DESCRIPTOR.full_name
        raise Finished(
            GrpcError.INVALID_ARGUMENT, f"request is not a valid {name} message"
        ) from None


def unframe_one(
    body: bytes, max_message_size: int, compressed: bool, malformed: Callable[[str], Finished]
) -> bytes:
    """The payload of the single data frame `body` must hold, decompressed.

    Raises:
        Finished: the framing is malformed (`malformed(problem)`), or holds more or less
            than one message, or the message is larger than `max_message_size`.
    """
    messages, pos = [], 0
    while pos < len(body):
        if len(body) - pos < 5:
            raise malformed("truncated frame header")
        flags, length = FRAME_HEADER.unpack_from(body, pos)
        pos += 5
        check_flags(flags, compressed, malformed)
        if length > max_message_size:
            raise too_large(str(length), max_message_size)
        if len(body) - pos < length:
            raise malformed(f"declared length {length} but only {len(body) - pos} bytes follow")
        payload = body[pos : pos + length]
        messages.append(gunzip(payload, max_message_size, malformed) if flags else payload)
        pos += length
    if len(messages) != 1:
        raise Finished(
            GrpcError.INVALID_ARGUMENT,
            f"Expected exactly one request message for a unary request, got {len(messages)}",
        )
    return messages[0]


def check_flags(flags: int, compressed: bool, malformed: Callable[[str], Finished]) -> None:
    """Refuse a request frame's flags byte that is not a (possibly compressed) message.

    Raises:
        Finished: a trailer or unknown flag (`malformed`); a compressed message without a
            supported `grpc-encoding` (UNIMPLEMENTED).
    """
    if flags & FLAG_TRAILER:
        raise malformed("trailer frame in request")
    if flags & ~FLAG_COMPRESSED:
        raise malformed(f"unknown flags 0x{flags:02x}")
    if flags & FLAG_COMPRESSED and not compressed:
        raise Finished(
            GrpcError.UNIMPLEMENTED,
            "Compressed request message without a supported grpc-encoding header",
        )
