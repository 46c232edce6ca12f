"""`H2Protocol`: one connection of the `h2` transport's server, HTTP/2 on the `h2` library.

A thin `asyncio.Protocol` around h2's state machine: bytes in are parsed and handled at
once in `data_received`, each stream runs the ASGI app as one task, and the frames those
produce are written once per loop iteration (a unary response's headers, message and
trailers leave in one syscall). HTTP/1.1 connections on the same port are handed to
uvicorn's h11 protocol.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame

from ..._security.identity import tls_scope_extension
from .stream import TRAILERS, Stream

logger = logging.getLogger("cello.grpc")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_HEADER_LIST_SIZE = 16384
"""Bytes of request headers one stream may send (grpc's servers allow 8-16 KiB)."""
_CONNECTION_WINDOW = 1 << 20
"""Inbound connection window: streams' own 64 KiB windows bound what is buffered, so the
connection's should not make one slow stream hold up the others' uploads."""
CONTROL_FRAMES_PER_SECOND = 500
"""PING, SETTINGS, PRIORITY and empty DATA frames one connection may send per second;
beyond, GOAWAY ENHANCE_YOUR_CALM: each costs us work (an ack, a wake-up) and none moves a
call forward, so a flood of them starves everyone else (grpc's BDP pings stay far below)."""
RESETS_PER_SECOND = 200
"""Streams one connection may reset per second (rapid reset, CVE-2023-44487); beyond,
GOAWAY ENHANCE_YOUR_CALM. A client cancelling calls legitimately stays far below."""
MAX_UNDECODED_HEADERS = 2 * MAX_HEADER_LIST_SIZE
"""Bytes of an unfinished header block (HEADERS + CONTINUATION) one connection may hold;
h2 alone would buffer 64 frames (1 MiB) before its own check."""
_SLICE = 16384
_MCS = h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS
_MHLS = h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE


class Shared:
    """What every connection of one server shares: the app, the limits, the drain state."""

    def __init__(
        self,
        app: Any,
        *,
        idle_timeout: float,
        max_concurrent_streams: int,
        trusted_headers: bool,
        h11: Any,
        rate_limits: bool = True,
    ) -> None:
        self.app = app
        # per-connection frame budgets; off behind Envoy, which multiplexes every client's
        # streams onto a few connections and applies the same limits per client itself
        inf = float("inf")
        self.control_budget = CONTROL_FRAMES_PER_SECOND if rate_limits else inf
        self.reset_budget = RESETS_PER_SECOND if rate_limits else inf
        self.loop = asyncio.get_running_loop()
        self.idle_timeout = idle_timeout
        self.max_streams = max_concurrent_streams
        self.config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            # Cello's own response headers are valid by construction (metadata keys and
            # values are checked when set): h2's per-header re-validation is a large share
            # of a call's CPU. Request headers are always validated.
            validate_outbound_headers=not trusted_headers,
            normalize_outbound_headers=not trusted_headers,
        )
        self.h11 = h11  # () -> a fresh uvicorn h11 protocol, for HTTP/1.1 connections
        self.connections: set[H2Protocol] = set()
        self.draining = False


class H2Protocol(asyncio.Protocol):
    """One client connection: HTTP/2, or handed to uvicorn for HTTP/1.1.

    Longer than our ~250-line aim, kept whole on purpose: its methods are the arms of one
    state machine over one `h2.connection.H2Connection` (events in from `data_received`,
    frames out from `_flush`, read pausing from both), and split across classes every arm
    would reach back into the same connection, socket and pending-stream state. What could
    stand alone did: a stream's ASGI side is `stream.Stream`, listening is `server.py`.
    """

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.loop = shared.loop
        # None until connection_made; a cast rather than `type: ignore`, which mypy calls
        # unused where h2 < 4.2 ships no types
        self.conn: h2.connection.H2Connection = cast("h2.connection.H2Connection", None)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.streams: dict[int, Stream] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.pending: dict[Stream, None] = {}  # streams with response body queued
        self._sniffed = b""
        self._flush_pending = False
        self._base: dict[str, Any] = {}
        self._idle_since = self.loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._writable: asyncio.Future[None] | None = None  # senders waiting on the socket
        self._read_paused = False
        self._closing = False
        self._starting: list[tuple[Stream, dict[str, Any]]] = []  # streams of this read
        self._budget_until = self.loop.time() + 1.0  # end of the current rate window
        self._control = 0  # control frames in that window
        self._resets = 0  # streams the client reset in it

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.shared.connections.add(self)
        ssl_object = transport.get_extra_info("ssl_object")
        extensions: dict[str, Any] = {TRAILERS: {}}
        tls = tls_scope_extension(ssl_object)
        if tls is not None:
            extensions["tls"] = tls
        self._base = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "2",
            "scheme": "https" if ssl_object is not None else "http",
            "server": _address(transport.get_extra_info("sockname")),
            "client": _address(transport.get_extra_info("peername")),
            "root_path": "",
            "extensions": extensions,
        }
        self._idle_timer = self.loop.call_later(self.shared.idle_timeout, self._idle_check)
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn == "h2":
            self._start_h2()
        elif alpn is not None:
            self._hand_off(b"")

    def data_received(self, data: bytes) -> None:
        if self.conn is None:
            data = self._sniffed + data
            if len(data) < len(PREFACE) and PREFACE.startswith(data):
                self._sniffed = data  # wait for the rest of the preface
                return
            if not data.startswith(PREFACE):
                self._hand_off(data)
                return
            self._start_h2()
        # Fed to h2 a slice at a time, so that a read packed with tiny frames (a flood)
        # is cut off by the rate limits after one slice's work, not a whole read's.
        for pos in range(0, len(data), _SLICE):
            if not self._receive(data[pos : pos + _SLICE] if len(data) > _SLICE else data):
                self._starting.clear()  # closed: those streams never start
                return
        if self._starting:
            # started only now, so streams opened and reset in one read (rapid reset)
            # never cost a task
            for stream, scope in self._starting:
                if not stream.closed:
                    self._start(stream, scope)
            self._starting.clear()
            self._update_reading()
        self._flush()

    def _receive(self, data: bytes) -> bool:
        """Handle one slice of input; False once the connection is closed for it."""
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # this connection broke the protocol: GOAWAY (queued by h2) and close it,
            # the server and other connections go on
            logger.debug("h2: closing a connection: %s", exc)
            self._flush()
            self.close()
            return False
        for event in events:
            kind = type(event)
            if kind in _CONTROL or (kind is _Data and _empty(event)):
                self._control += 1
                if self._control > self.shared.control_budget and self._over_budget():
                    return False
            handler = _HANDLERS.get(kind)
            if handler is not None:
                handler(self, event)
        if self._resets > self.shared.reset_budget and self._over_budget():
            return False
        held = getattr(self.conn.incoming_buffer, "_headers_buffer", None)
        if held and sum(len(f.data) for f in held) > MAX_UNDECODED_HEADERS:
            logger.debug("h2: closing a connection holding an oversized header block")
            self.close(ErrorCodes.ENHANCE_YOUR_CALM)
            return False
        return True

    def _over_budget(self) -> bool:
        """Whether this connection exceeded a rate limit in the current second (then it is
        closed with GOAWAY ENHANCE_YOUR_CALM); a new window starts otherwise."""
        now = self.loop.time()
        if now >= self._budget_until:
            self._budget_until = now + 1.0
            self._control = self._resets = 0
            return False
        logger.debug("h2: closing a connection over its frame rate (flood or rapid reset)")
        self.close(ErrorCodes.ENHANCE_YOUR_CALM)
        return True

    async def writable(self) -> None:
        """Return once the socket's write buffer is below its high-water mark: response
        bodies wait for the socket, not only for HTTP/2 flow control, so a client granting
        huge windows and never reading cannot make us buffer without bound."""
        while self._write_paused and not self._closing:
            if self._writable is None:
                self._writable = self.loop.create_future()
            await self._writable

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.shared.connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        for stream in self.streams.values():
            stream.closed = True
            stream.wake()
            stream.wake_sender()
        self.streams.clear()
        self.pending.clear()
        self._wake_writers()

    def pause_writing(self) -> None:
        self._write_paused = True  # the client reads slowly: read nothing more from it
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writers()
        self._update_reading()

    def _wake_writers(self) -> None:
        if self._writable is not None:
            if not self._writable.done():
                self._writable.set_result(None)
            self._writable = None

    # -- events

    def _request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        if self.shared.draining or len(self.streams) >= self.shared.max_streams:
            # REFUSED_STREAM: the call never started, the client may retry it
            self.conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        method = path = authority = b""
        headers = []
        for name, value in event.headers or ():
            if name[:1] == b":":
                if name == b":method":
                    method = value
                elif name == b":path":
                    path = value
                elif name == b":authority":
                    authority = value
            else:
                headers.append((name, value))
        if authority:
            headers.append((b"host", authority))
        raw_path, _, query = path.partition(b"?")
        scope = {
            **self._base,
            "method": method.decode("ascii", "replace"),
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": query,
            "headers": headers,
        }
        stream = Stream(stream_id, self, event.stream_ended is not None)
        self.streams[stream_id] = stream
        self._starting.append((stream, scope))

    def _start(self, stream: Stream, scope: dict[str, Any]) -> None:
        task = self.loop.create_task(self._run(stream, scope))
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _data(self, event: h2.events.DataReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is None or stream.closed:
            # DATA for a stream whose response ended: acknowledge it (flow control) and
            # ask the client to stop, without error, as grpc's servers do
            self.acknowledge(event.stream_id, event.flow_controlled_length)
            self._reset(event.stream_id, ErrorCodes.NO_ERROR)
            return
        stream.chunks.append((event.data, event.flow_controlled_length))
        if event.stream_ended is not None:
            stream.ended = True
        stream.wake()

    def _ended(self, event: h2.events.StreamEnded) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.ended = True
            stream.wake()

    def _reset_received(self, event: h2.events.StreamReset) -> None:
        self._resets += 1
        stream = self.streams.pop(event.stream_id, None)
        if stream is not None:
            stream.closed = True  # receive() says http.disconnect: the call is cancelled
            stream.wake()
            stream.wake_sender()
            self._stream_gone()

    def _window(self, event: Any) -> None:
        stream_id = getattr(event, "stream_id", 0)
        streams = self.streams.values()  # the connection window, or all initial ones
        if stream_id:
            one = self.streams.get(stream_id)
            streams = () if one is None else (one,)  # type: ignore[assignment]
        for stream in streams:
            stream.wake_sender()
            if stream.out:
                self.pending[stream] = None
        self.schedule_flush()

    def _goaway(self, event: h2.events.ConnectionTerminated) -> None:
        if not self.streams:
            self.close()

    # -- streams

    async def _run(self, stream: Stream, scope: dict[str, Any]) -> None:
        try:
            await self.shared.app(scope, stream.receive, stream.send)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("h2 server: the ASGI app failed on %s", scope.get("path"))
        if not stream.closed and not self._closing:
            # the app ended without finishing its response
            self._reset(stream.id, ErrorCodes.INTERNAL_ERROR)
            self.responded(stream)
            self.schedule_flush()

    def responded(self, stream: Stream) -> None:
        """The response ended (END_STREAM sent): the stream leaves the connection."""
        stream.closed = True
        stream.responded = True
        if not stream.ended:
            # the response ended before the request did (an error before the body was
            # read, a client stream the handler stopped reading): ask the client to stop
            # sending, without error, as grpc's servers do (RFC 9113 8.1)
            self._reset(stream.id, ErrorCodes.NO_ERROR)
        stream.wake()
        if self.streams.pop(stream.id, None) is not None:
            self._stream_gone()

    def _stream_gone(self) -> None:
        if not self.streams:
            self._idle_since = self.loop.time()
            if self.shared.draining:
                self.schedule_flush()
                self.loop.call_soon(self.close)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self._update_reading()

    def _update_reading(self) -> None:
        # A client resetting streams as fast as it opens them (rapid reset) or not
        # reading its responses must not make us buffer without bound: stop reading
        # from it until its tasks and our write buffer catch up.
        if self._closing:
            return
        busy = self._write_paused or len(self.tasks) > 2 * self.shared.max_streams
        if busy and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()
        elif not busy and self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()

    # -- writing

    def acknowledge(self, stream_id: int, size: int) -> None:
        try:
            self.conn.acknowledge_received_data(size, stream_id)
        except h2.exceptions.ProtocolError:
            pass
        self.schedule_flush()

    def _reset(self, stream_id: int, code: ErrorCodes) -> None:
        try:
            self.conn.reset_stream(stream_id, code)
        except h2.exceptions.ProtocolError:
            pass  # closed already

    def schedule_flush(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self._flush)

    def push(self, stream: Stream, end: bool = False) -> bool:
        """Frame as much of `stream`'s queued body as its window allows, in as few DATA
        frames as can be; True when all of it went (and the stream ended, with `end`)."""
        conn = self.conn
        out = stream.out
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        stream.queued = 0
        size = len(data)
        if not size:
            if end:
                conn.end_stream(stream.id)
            return True
        window = conn.local_flow_control_window(stream.id)
        limit = conn.max_outbound_frame_size
        if size <= window and size <= limit:  # the usual case: one frame
            conn.send_data(stream.id, data, end_stream=end)
            return True
        view = memoryview(data)
        pos = 0
        while pos < size and window > 0:
            chunk = min(size - pos, window, limit)
            last = pos + chunk == size
            conn.send_data(stream.id, view[pos : pos + chunk].tobytes(), end_stream=end and last)
            pos += chunk
            window -= chunk
        if pos < size:
            out.append(view[pos:].tobytes())
            stream.queued = size - pos
            return False
        return True

    def flush_now(self) -> None:
        """Write what is framed at once, rather than at the end of this loop iteration."""
        self._flush()

    def _flush(self) -> None:
        self._flush_pending = False
        if self.pending:
            for stream in self.pending:
                if stream.out and not stream.closed:
                    try:
                        self.push(stream)  # what is left waits for a window update
                    except h2.exceptions.ProtocolError:
                        stream.closed = True
                        stream.out.clear()
            self.pending.clear()
        data = self.conn.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    # -- connection life

    def _start_h2(self) -> None:
        shared = self.shared
        conn = h2.connection.H2Connection(shared.config)
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={_MCS: shared.max_streams, _MHLS: MAX_HEADER_LIST_SIZE},
        )
        conn.decoder.max_header_list_size = MAX_HEADER_LIST_SIZE
        conn.initiate_connection()
        # h2 treats a HEADERS beyond the advertised stream limit as a connection error;
        # `_request` refuses those streams alone (REFUSED_STREAM), so h2's own limit
        # becomes a hard cap well above it, against a client ignoring REFUSED_STREAM
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={_MCS: 4 * shared.max_streams, _MHLS: MAX_HEADER_LIST_SIZE},
        )
        conn.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        self.conn = conn
        if shared.draining:
            self.goaway()
        self._flush()

    def _hand_off(self, data: bytes) -> None:
        """Give the connection to uvicorn's HTTP/1.1 protocol, with the bytes read so far."""
        self.shared.connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()  # uvicorn's protocol keeps its own timers
        protocol = self.shared.h11()
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        if data:
            protocol.data_received(data)

    def goaway(self) -> None:
        """Draining: tell the client no new stream will be served; open ones go on."""
        if self.conn is None:
            self.close()
            return
        if not self.streams:
            self.close()
            return
        # h2's own GOAWAY would close its state machine, and the open streams with it
        frame = GoAwayFrame(0)
        frame.last_stream_id = self.conn.highest_inbound_stream_id
        frame.error_code = ErrorCodes.NO_ERROR
        self._flush()
        self.transport.write(frame.serialize())

    def close(self, code: ErrorCodes = ErrorCodes.NO_ERROR) -> None:
        if self._closing:
            return
        self._closing = True
        self._wake_writers()
        if self.conn is not None:
            try:
                self.conn.close_connection(code)
            except h2.exceptions.ProtocolError:
                pass
            self._flush()
        self.transport.close()

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self._closing or self.transport.is_closing():
            return
        if self.conn is None or not self.streams:
            idle = self.loop.time() - self._idle_since
            if idle >= self.shared.idle_timeout:
                self.close()
                return
            delay = self.shared.idle_timeout - idle
        else:
            delay = self.shared.idle_timeout
        self._idle_timer = self.loop.call_later(delay, self._idle_check)


def _address(address: Any) -> tuple[str, int] | None:
    if isinstance(address, tuple) and len(address) >= 2:
        return (str(address[0]), int(address[1]))
    return None


_Data = h2.events.DataReceived


def _empty(event: Any) -> bool:
    """An empty DATA frame that does not end its stream: a control frame in all but name."""
    return not event.data and event.stream_ended is None


_CONTROL = frozenset(
    (h2.events.PingReceived, h2.events.RemoteSettingsChanged, h2.events.PriorityUpdated)
)
_HANDLERS: dict[type, Any] = {
    h2.events.RequestReceived: H2Protocol._request,
    h2.events.DataReceived: H2Protocol._data,
    h2.events.StreamEnded: H2Protocol._ended,
    h2.events.StreamReset: H2Protocol._reset_received,
    h2.events.WindowUpdated: H2Protocol._window,
    h2.events.RemoteSettingsChanged: H2Protocol._window,
    h2.events.ConnectionTerminated: H2Protocol._goaway,
}
