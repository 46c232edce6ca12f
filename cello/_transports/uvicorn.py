"""`serve_web`: runs an ASGI app (normally a `GrpcWebApp`) on its own port with uvicorn.

uvicorn: it accepts a pre-bound socket (so port 0 is resolved before
serving), flushes each `more_body` chunk at once (server streams reach the browser as
they are produced), and shuts down on `should_exit`. The `h2` transport hands its
HTTP/1.1 connections to the same uvicorn protocol (`cello/_h2server.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from typing import Any

from .._security.identity import tls_scope_extension


class WebServerHandle:
    """A running `serve_web` server; `await handle.stop()` shuts it down."""

    def __init__(
        self, server: Any, task: asyncio.Task[None], host: str, port: int, *, tls: bool = False
    ) -> None:
        self._server = server
        self._task = task
        self.host = host
        self.port = port
        self.tls = tls

    @property
    def url(self) -> str:
        """`http(s)://host:port`, with a wildcard host replaced by the loopback address."""
        host = self.host.removeprefix("[").removesuffix("]")
        if host in ("", "0.0.0.0", "::"):  # "::" binds dual-stack, so IPv4 loopback answers
            host = "127.0.0.1"
        scheme = "https" if self.tls else "http"
        return (
            f"{scheme}://[{host}]:{self.port}" if ":" in host else f"{scheme}://{host}:{self.port}"
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting connections and shut down.

        Args:
            grace: seconds in-flight calls may take to finish; None cancels them at once.
        """
        if self._task.done():
            return
        # uvicorn closes idle keep-alive connections at once and cancels the calls
        # still running when the (small, for None) grace period runs out.
        self._server.config.timeout_graceful_shutdown = 0.1 if grace is None else max(grace, 0.1)
        self._server.should_exit = True
        await asyncio.shield(self._task)

    async def wait(self) -> None:
        """Block until the server stops."""
        await asyncio.shield(self._task)


def bind_error(what: str, host: str, port: int, reason: str, option: str) -> RuntimeError:
    """The error of a port that cannot be bound: which server, the address, why (`reason`),
    and the fixes, `option` being the setting that chooses the port."""
    return RuntimeError(
        f"cannot bind {what} to {host}:{port}: {reason}; stop the other server, choose "
        f"another {option}, or share the port on purpose with GrpcConfig(reuse_port=True)"
    )


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening, non-blocking TCP socket on `host:port`.

    "[::]" binds IPv6 and IPv4 (IPv4 only where the machine has no IPv6). With
    `reuse_port`, other processes of this user may listen on the same port (SO_REUSEPORT).

    Raises:
        OSError: the address cannot be resolved or bound.
    """
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    candidates = [host or None] + (["0.0.0.0"] if host in ("::", "") else [])
    error: OSError | None = None
    for candidate in candidates:
        try:
            infos = socket.getaddrinfo(
                candidate, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        except OSError as exc:
            error = exc
            continue
        for family, socktype, proto, _, sockaddr in infos:
            try:
                return _listen(socket.socket(family, socktype, proto), sockaddr, reuse_port)
            except OSError as exc:
                error = exc
    assert error is not None
    raise error


def _listen(sock: socket.socket, sockaddr: Any, reuse_port: bool) -> socket.socket:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _guarded_protocol(head_timeout: float) -> type:
    """uvicorn's h11 protocol, closing connections whose request head is not complete
    `head_timeout` seconds after they open or after their last response (idle or
    half-sent: uvicorn alone keeps them forever)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _waiting_after: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._waiting_after = self.cycle
            self._head_timer = self.loop.call_later(head_timeout, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._head_timer is not None and self.cycle is not self._waiting_after:
                self._disarm()  # a request head arrived in full

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.cycle is self._waiting_after and not self.transport.is_closing():
                self.transport.close()

    return GuardedH11Protocol


async def serve_web(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log_level: str = "warning",
    ssl_context: ssl.SSLContext | None = None,
    head_timeout: float = 10.0,
    reuse_port: bool = False,
    **uvicorn_options: Any,
) -> WebServerHandle:
    """Serve the ASGI `app` with uvicorn on `host:port` until `handle.stop()`.

    uvicorn's own signal handling is off: the embedding program owns SIGINT/SIGTERM.
    The `server` header is not sent.

    Args:
        app: an ASGI 3 application.
        host: address to bind; "[::]" or "" for every interface.
        port: port to bind; 0 picks a free one (`handle.port`).
        log_level: uvicorn's log level.
        ssl_context: serve HTTPS with this server context (plaintext is then refused); each
            request's scope carries the ASGI `tls` extension with the client certificate.
        head_timeout: seconds a connection may stay open without sending a complete
            request head (idle, or half-sent), before it is closed.
        reuse_port: share the port with other processes (SO_REUSEPORT).
        uvicorn_options: more `uvicorn.Config` settings.

    Returns:
        The running server's handle.

    Raises:
        RuntimeError: the port cannot be bound, or uvicorn fails to start.
    """
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the embedding program owns the signals

    try:
        sock = bind(host, port, reuse_port=reuse_port)
    except OSError as exc:
        raise bind_error("gRPC-Web", host, port, str(exc), "web_port") from exc
    bound_port = sock.getsockname()[1]
    options: dict[str, Any] = {
        "lifespan": "on",
        "log_level": log_level,
        "access_log": False,
        "server_header": False,  # do not announce the server software
        "http": _guarded_protocol(head_timeout),
    }
    options.update(uvicorn_options)
    config = uvicorn.Config(app, **options)
    config.load()
    if ssl_context is not None:  # set after load(), which only builds one from file names
        config.ssl = ssl_context
        config.http_protocol_class = _with_tls_scope(config.http_protocol_class)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"cello-grpc-web:{bound_port}")
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # re-raise the startup error
            raise RuntimeError("the gRPC-Web server exited during startup")
        await asyncio.sleep(0.01)
    return WebServerHandle(server, task, host, bound_port, tls=ssl_context is not None)


def _with_tls_scope(protocol: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, adding the ASGI `tls` extension (client certificate) to scopes.

    uvicorn does not expose the TLS connection to the app, so each connection wraps the
    app it calls (uvicorn's h11 and httptools protocols call `self.app`) with its own.
    """

    class TlsScopeProtocol(protocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            extension = tls_scope_extension(transport.get_extra_info("ssl_object"))
            inner: Any = getattr(self, "app")  # noqa: B009  # set by uvicorn's protocols

            async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
                if extension is not None:
                    scope = {
                        **scope,
                        "extensions": {**(scope.get("extensions") or {}), "tls": extension},
                    }
                await inner(scope, receive, send)

            setattr(self, "app", app)  # noqa: B010
            super().connection_made(transport)

    return TlsScopeProtocol
