"""`serve_h2`: runs an ASGI app on one port with hypercorn, HTTP/2 and HTTP/1.1 together.

The `h2` transport's server: native gRPC needs HTTP/2 trailers and full-duplex streams,
which uvicorn lacks. hypercorn's own serving loop is replaced by a short one here, so the
socket is bound before serving (port 0 resolves, a port in use is a clear error), the
`SSLContext` is the `CertificateWatcher`'s (rotation), each request's scope carries the
ASGI `tls` extension (mTLS identity), and `stop(grace)` drains like grpc.aio's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from ._identity import tls_scope_extension
from ._webserver import bind

logger = logging.getLogger("cello.grpc")


class H2ServerHandle:
    """A running `serve_h2` server, stopped like a `grpc.aio.Server`."""

    def __init__(
        self,
        servers: list[asyncio.base_events.Server],
        context: Any,
        connections: set[asyncio.Task[None]],
        port: int,
    ) -> None:
        self._servers = servers
        self._context = context
        self._connections = connections
        self.port = port
        self._stopped = asyncio.Event()

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new connections and streams, let open calls finish for `grace` seconds,
        then cancel what is left (None: at once)."""
        if self._stopped.is_set():
            return
        # GOAWAY-like: open HTTP/2 connections refuse new streams, idle ones close
        await self._context.terminated.set()
        for server in self._servers:
            server.close()
        pending = {task for task in self._connections if not task.done()}
        if pending and grace:
            await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._stopped.set()

    async def wait_for_termination(self) -> None:
        """Block until the server stops."""
        await self._stopped.wait()


async def serve_h2(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl_context: ssl.SSLContext | None = None,
    idle_timeout: float = 10.0,
    reuse_port: bool = False,
    max_concurrent_streams: int = 100,
    trusted_headers: bool = False,
) -> H2ServerHandle:
    """Serve the ASGI `app` with hypercorn on `host:port` until `handle.stop()`.

    Plaintext connections speak HTTP/1.1 or HTTP/2 with prior knowledge (h2c); TLS ones
    negotiate `h2` or `http/1.1` by ALPN.

    Args:
        app: an ASGI 3 application.
        host: address to bind; "[::]" or "" for every interface.
        port: port to bind; 0 picks a free one (`handle.port`).
        ssl_context: serve TLS with this server context (offering ALPN h2 and http/1.1).
        idle_timeout: seconds a connection may stay without a request in progress
            (idle, or with a half-sent HTTP/1.1 request head) before it is closed.
        reuse_port: share the port with other processes (SO_REUSEPORT).
        max_concurrent_streams: HTTP/2 streams one connection may have open at once.
        trusted_headers: the app's response headers are valid by construction (Cello's
            own app), so h2 does not re-validate them.

    Raises:
        RuntimeError: the port cannot be bound, or hypercorn is not installed.
    """
    try:
        from hypercorn.app_wrappers import ASGIWrapper
        from hypercorn.asyncio.worker_context import WorkerContext
        from hypercorn.config import Config
    except ImportError as exc:
        raise RuntimeError(
            "GrpcConfig(transport='h2') serves with hypercorn, which is not installed: "
            "pip install 'cello[h2]'"
        ) from exc

    try:
        sock = bind(host, port, reuse_port=reuse_port)
    except OSError as exc:
        raise RuntimeError(
            f"cannot bind gRPC to {host}:{port}: {exc}; stop the other server, choose "
            "another port, or share the port on purpose with GrpcConfig(reuse_port=True)"
        ) from exc
    bound_port = sock.getsockname()[1]
    config = Config()
    config.include_server_header = False  # do not announce the server software
    config.include_date_header = False  # nothing in gRPC reads it; it costs per response
    config.keep_alive_timeout = idle_timeout
    # hypercorn closes a connection after 1,000 requests by default; gRPC channels are
    # long-lived and multiplexed, so that would be a GOAWAY and a reconnect every 1,000 calls
    config.keep_alive_max_requests = 2**62
    config.h2_max_concurrent_streams = max_concurrent_streams
    config.accesslog = None
    config.errorlog = logger
    loop = asyncio.get_running_loop()
    context = WorkerContext(None)
    connections: set[asyncio.Task[None]] = set()
    wrapper = type("CelloApp", (ASGIWrapper,), {"cello_trusted_headers": trusted_headers})
    plain_app = wrapper(app)
    connection_class = _connection_class()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        task.add_done_callback(connections.discard)
        extension = tls_scope_extension(writer.get_extra_info("ssl_object"))
        wrapped = plain_app if extension is None else wrapper(_with_tls(app, extension))
        with contextlib.suppress(asyncio.CancelledError):
            await connection_class(wrapped, loop, config, context, {}, reader, writer)

    server = await asyncio.start_server(
        connected,
        sock=sock,
        ssl=ssl_context,
        ssl_handshake_timeout=idle_timeout if ssl_context is not None else None,
    )
    return H2ServerHandle([server], context, connections, bound_port)


def _connection_class() -> type:
    """hypercorn's connection, with an idle timer that tolerates a connection closing.

    hypercorn re-arms the idle timer when a stream ends; if the connection's task group is
    already closing (a stream ending during a drain), `create_task` refuses and the timer's
    coroutine is left never awaited. The timer is moot then, so it is dropped quietly.
    """
    from hypercorn.asyncio.tcp_server import TCPServer
    from hypercorn.asyncio.worker_context import AsyncioSingleTask

    _tolerate_late_request_data()

    class IdleTimer(AsyncioSingleTask):
        async def restart(self, task_group: Any, action: Any) -> None:
            async with self._lock:
                if self._handle is not None:
                    self._handle.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._handle
                self._handle = None
                coro = action()
                try:
                    self._handle = task_group._task_group.create_task(coro)
                except RuntimeError:
                    coro.close()

    class Connection(TCPServer):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.idle_task = IdleTimer()

    return Connection


def _tolerate_late_request_data() -> None:
    """Make hypercorn's HTTP/2 protocol drop request DATA for a stream whose response ended,
    and refuse new streams while draining with REFUSED_STREAM.

    A call may end before its request does (a message over the size limit, a client
    stream the handler stopped reading): the client's DATA still in flight then reached a
    stream hypercorn had forgotten, and its KeyError closed the whole connection, every
    other call on it included. Such DATA is now acknowledged (flow control) and the
    stream reset with NO_ERROR, as grpc's own servers do. Installed once per process; it
    changes nothing else, for any hypercorn server.
    """
    import h2.errors
    import h2.events
    import h2.exceptions
    import h2.settings
    import hypercorn.protocol
    from h2.stream import StreamState
    from hypercorn.protocol.events import StreamClosed
    from hypercorn.protocol.h2 import H2Protocol

    if getattr(hypercorn.protocol, "H2Protocol", None) is not H2Protocol:  # done already
        return

    class TolerantH2Protocol(H2Protocol):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            if getattr(self.app, "cello_trusted_headers", False):
                # Cello's own response headers are valid by construction (metadata keys
                # and values are checked when set): skip h2's per-header re-validation,
                # a large share of each call's CPU. Request headers are still checked.
                self.connection.config.validate_outbound_headers = False
                self.connection.config.normalize_outbound_headers = False

        async def _handle_events(self, events: list[Any]) -> None:
            # one at a time: a stream may end while an earlier event is handled
            for event in events:
                if (
                    isinstance(event, h2.events.DataReceived)
                    and event.stream_id not in self.streams
                ):
                    self._discard(event)
                elif (
                    isinstance(event, h2.events.RequestReceived)
                    and self.context.terminated.is_set()
                ):
                    self._refuse(event.stream_id)
                else:
                    await super()._handle_events([event])
            await self._flush()

        def _discard(self, event: Any) -> None:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
            with contextlib.suppress(h2.exceptions.H2Error):
                self.connection.reset_stream(event.stream_id, h2.errors.ErrorCodes.NO_ERROR)

        async def stream_send(self, event: Any) -> None:
            reset = isinstance(event, StreamClosed) and self._end_request(event.stream_id)
            await super().stream_send(event)
            if reset:
                await self._flush()

        def _end_request(self, stream_id: int) -> bool:
            # The response ended before the request did (an error before the body was
            # read, a client stream the handler stopped reading): ask the client to stop
            # sending, without error, as grpc's servers do (RFC 9113 8.1).
            stream = self.connection.streams.get(stream_id)
            if stream is None or stream.state_machine.state != StreamState.HALF_CLOSED_LOCAL:
                return False
            with contextlib.suppress(h2.exceptions.H2Error):
                self.connection.reset_stream(stream_id, h2.errors.ErrorCodes.NO_ERROR)
            return True

        def _refuse(self, stream_id: int) -> None:
            # draining: REFUSED_STREAM tells the client the call never started, so it
            # retries it elsewhere (hypercorn's NO_ERROR reset surfaced as INTERNAL)
            self.connection.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
            settings: dict[Any, int] = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 0}
            self.connection.update_settings(settings)

    setattr(hypercorn.protocol, "H2Protocol", TolerantH2Protocol)  # noqa: B010


def _with_tls(app: Any, extension: dict[str, Any]) -> Any:
    """`app`, with the ASGI `tls` extension (the client certificate) in each scope."""

    async def tls_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["extensions"] = {**(scope.get("extensions") or {}), "tls": extension}
        await app(scope, receive, send)

    return tls_app
