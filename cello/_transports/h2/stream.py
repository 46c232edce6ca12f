"""`Stream`: one HTTP/2 stream of the `h2` server as its ASGI app task sees it.

`receive` hands over request DATA as it arrives (acknowledging flow control as it is
consumed); `send` queues response bodies so the connection frames one loop iteration's
messages as one DATA frame, and waits for the client's window when too much is queued.
The connection (`connection.H2Protocol`) owns the h2 state machine and the socket.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING, Any

import h2.exceptions

if TYPE_CHECKING:
    from .connection import H2Protocol

logger = logging.getLogger("cello.grpc")

_QUEUE_LIMIT = 65536
"""Response bytes a stream may queue before its sender waits for them to be framed."""
_DISCONNECT = {"type": "http.disconnect"}
TRAILERS = "http.response.trailers"


class Stream:
    """One request/response exchange: the ASGI `receive` and `send` of its app task."""

    __slots__ = (
        "id",
        "_proto",
        "chunks",
        "ended",
        "closed",
        "delivered_end",
        "waiter",
        "window",
        "trailers",
        "pending_trailers",
        "responded",
        "out",
        "queued",
    )

    def __init__(self, stream_id: int, proto: H2Protocol, ended: bool) -> None:
        self.id = stream_id
        self._proto = proto
        self.chunks: collections.deque[tuple[bytes, int]] = collections.deque()
        self.ended = ended  # the request body is complete
        self.closed = False  # reset, connection lost, or the response ended
        self.delivered_end = False
        self.waiter: asyncio.Future[None] | None = None  # receive() waiting for data
        self.window: asyncio.Future[None] | None = None  # send() waiting for flow control
        self.trailers = False
        self.pending_trailers: list[tuple[bytes, bytes]] = []
        self.responded = False  # the response ended (END_STREAM sent)
        self.out: list[bytes] = []  # response body queued, not yet framed
        self.queued = 0

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def wake_sender(self) -> None:
        if self.window is not None and not self.window.done():
            self.window.set_result(None)

    async def receive(self) -> dict[str, Any]:
        while True:
            if self.chunks:
                proto = self._proto
                if self.ended and len(self.chunks) > 1:  # whole body here: one event
                    body = b"".join(chunk for chunk, _ in self.chunks)
                    flow = sum(size for _, size in self.chunks)
                    self.chunks.clear()
                else:
                    body, flow = self.chunks.popleft()
                if flow and not self.closed:
                    # consumed: the client may send more (bounded buffering per stream)
                    proto.acknowledge(self.id, flow)
                more = bool(self.chunks) or not self.ended
                self.delivered_end = not more
                return {"type": "http.request", "body": body, "more_body": more}
            if self.ended and not self.delivered_end:
                self.delivered_end = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.closed:
                return _DISCONNECT
            self.waiter = self._proto.loop.create_future()
            await self.waiter
            self.waiter = None

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            # the client left, or the response ended: nothing more to say; yield to the
            # loop, so that a handler streaming to a client that left is cancelled soon
            # (the protocol's disconnect watcher) rather than spin through its messages
            await asyncio.sleep(0)
            return
        kind = message["type"]
        proto = self._proto
        try:
            if kind == "http.response.body":
                if proto._write_paused:
                    await proto.writable()  # the socket is full: the client reads slowly
                    if self.closed:
                        return
                body = message.get("body", b"")
                if body:
                    # queued, not framed: the stream's messages of one loop iteration go
                    # out as one DATA frame (`H2Protocol.push`), as few h2 calls as can be
                    self.out.append(body)
                    self.queued += len(body)
                    proto.pending[self] = None
                if not message.get("more_body", False):
                    end = not self.trailers
                    await self._drain(end)
                    if end:
                        proto.responded(self)
                elif self.queued >= _QUEUE_LIMIT:
                    await self._drain(False)  # back-pressure: wait for the client's window
                    # ... and for the socket: a client granting huge windows and never
                    # reading would otherwise have us buffer whatever the handler yields
                    proto.flush_now()
                    if proto._write_paused:
                        await proto.writable()
            elif kind == "http.response.start":
                self.trailers = bool(message.get("trailers", False))
                status = str(message["status"]).encode()
                headers = [(b":status", status), *message.get("headers", ())]
                proto.conn.send_headers(self.id, headers)
            elif kind == TRAILERS:
                self.pending_trailers += message.get("headers", ())
                if not message.get("more_trailers", False):
                    await self._drain(False)
                    if not self.closed:
                        proto.conn.send_headers(self.id, self.pending_trailers, end_stream=True)
                        proto.responded(self)
            else:
                raise RuntimeError(f"h2 server: unexpected ASGI message type {kind!r}")
        except h2.exceptions.ProtocolError:
            logger.debug("h2 server: stream %d closed while sending", self.id, exc_info=True)
            self.closed = True
        proto.schedule_flush()

    async def _drain(self, end: bool) -> None:
        """Frame everything queued (ending the stream with it if `end`), waiting for
        flow-control window as needed: only this stream waits, for its client to read."""
        proto = self._proto
        while True:
            if self.closed:
                self.out.clear()
                return
            if proto.push(self, end):
                return
            self.window = proto.loop.create_future()
            proto.schedule_flush()
            await self.window
            self.window = None
