"""`serve_h2`: runs an ASGI app on one port, HTTP/2 on our own thin server, HTTP/1.1 on uvicorn's.

The `h2` transport's server: native gRPC needs HTTP/2 trailers and full-duplex streams,
which uvicorn lacks. Each connection is an `H2Protocol` (`connection.py`) on the `h2`
library; connections that do not open with the HTTP/2 preface (or negotiate `http/1.1`
by ALPN) are handed to uvicorn's h11 protocol. The socket is bound before serving (port
0 resolves, a port in use is a clear error), the `SSLContext` is the
`CertificateWatcher`'s (rotation), each request's scope carries the ASGI `tls` extension
(mTLS identity), and `stop(grace)` drains like grpc.aio's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from typing import TYPE_CHECKING, Any

from ..uvicorn import _guarded_protocol, _with_tls_scope, bind, bind_error

if TYPE_CHECKING:
    from .connection import Shared

logger = logging.getLogger("cello.grpc")


class H2ServerHandle:
    """A running `serve_h2` server, stopped like a `grpc.aio.Server`."""

    def __init__(
        self, server: asyncio.base_events.Server, shared: Shared, h11: Any, port: int
    ) -> None:
        self._server = server
        self._shared = shared
        self._h11 = h11  # uvicorn's ServerState: the HTTP/1.1 connections and their tasks
        self.port = port
        self._stopped = asyncio.Event()

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new connections and streams, let open calls finish for `grace` seconds,
        then cancel what is left (None: at once)."""
        if self._stopped.is_set():
            return
        shared = self._shared
        shared.draining = True
        self._server.close()
        connections = list(shared.connections)
        for connection in connections:
            connection.goaway()  # GOAWAY; new streams get REFUSED_STREAM
        for h11 in list(self._h11.connections):
            h11.shutdown()  # idle keep-alive connections close, busy ones after the response
        tasks = {t for c in connections for t in c.tasks} | set(self._h11.tasks)
        if tasks and grace:
            await asyncio.wait(tasks, timeout=grace)
        tasks = {t for c in connections for t in c.tasks} | set(self._h11.tasks)
        for task in tasks:
            task.cancel()  # the app answers UNAVAILABLE ("Server shutting down")
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await asyncio.sleep(0)  # let the last responses' writes go out
        for connection in list(shared.connections):
            connection.close()
        for h11 in list(self._h11.connections):
            h11.transport.close()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
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
    sock: socket.socket | None = None,
    rate_limits: bool = True,
) -> H2ServerHandle:
    """Serve the ASGI `app` on `host:port` until `handle.stop()`.

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
        sock: serve this listening socket instead of binding `host:port` (the `envoy`
            transport's private Unix socket).
        rate_limits: close a connection over its control-frame or reset budget (GOAWAY
            ENHANCE_YOUR_CALM); off only where a proxy that limits per client multiplexes
            all clients onto our connections.

    Raises:
        RuntimeError: the port cannot be bound, or h2 is not installed.
    """
    try:
        from .connection import H2Protocol, Shared
    except ImportError as exc:
        raise RuntimeError(
            "GrpcConfig(transport='h2') serves HTTP/2 with the h2 library, which is not "
            "installed: pip install 'cello-grpc[h2]'"
        ) from exc
    import uvicorn
    from uvicorn.server import ServerState

    if sock is None:
        try:
            sock = bind(host, port, reuse_port=reuse_port)
        except OSError as exc:
            raise bind_error("gRPC", host, port, str(exc), "port") from exc
    name = sock.getsockname()
    bound_port = name[1] if isinstance(name, tuple) else 0
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,  # do not announce the server software
        date_header=False,  # nothing in gRPC reads it; it costs per response
        proxy_headers=False,  # as on HTTP/2: the peer is the socket's
        timeout_keep_alive=int(max(idle_timeout, 1)),
    )
    config.load()
    h11_class = _guarded_protocol(idle_timeout)
    if ssl_context is not None:
        h11_class = _with_tls_scope(h11_class)
    state = ServerState()
    app_state: dict[str, Any] = {}
    shared = Shared(
        app,
        idle_timeout=idle_timeout,
        max_concurrent_streams=max_concurrent_streams,
        trusted_headers=trusted_headers,
        h11=lambda: h11_class(config=config, server_state=state, app_state=app_state),
        rate_limits=rate_limits,
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: H2Protocol(shared),
        sock=sock,
        ssl=ssl_context,
        ssl_handshake_timeout=idle_timeout if ssl_context is not None else None,
    )
    return H2ServerHandle(server, shared, state, bound_port)
