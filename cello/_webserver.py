"""`serve_web`: runs an ASGI app (normally a `GrpcWebApp`) on its own port with uvicorn.

uvicorn rather than hypercorn: it accepts a pre-bound socket (so port 0 is resolved before
serving), flushes each `more_body` chunk at once (server streams reach the browser as
they are produced), and shuts down on `should_exit`. gRPC-Web is HTTP/1.1-friendly, so
hypercorn's HTTP/2 brings nothing here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any


class WebServerHandle:
    """A running `serve_web` server; `await handle.stop()` shuts it down."""

    def __init__(self, server: Any, task: asyncio.Task[None], host: str, port: int) -> None:
        self._server = server
        self._task = task
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """`http://host:port`, with a wildcard host replaced by the loopback address."""
        host = self.host.removeprefix("[").removesuffix("]")
        if host in ("", "0.0.0.0", "::"):  # "::" binds dual-stack, so IPv4 loopback answers
            host = "127.0.0.1"
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

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


async def serve_web(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log_level: str = "warning",
    reuse_port: bool = False,
    **uvicorn_options: Any,
) -> WebServerHandle:
    """Serve the ASGI `app` with uvicorn on `host:port` until `handle.stop()`.

    uvicorn's own signal handling is off: the embedding program owns SIGINT/SIGTERM.

    Args:
        app: an ASGI 3 application.
        host: address to bind; "[::]" or "" for every interface.
        port: port to bind; 0 picks a free one (`handle.port`).
        log_level: uvicorn's log level.
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
        raise RuntimeError(
            f"cannot bind gRPC-Web to {host}:{port}: {exc}; stop the other server, choose "
            "another web_port, or share the port on purpose with GrpcConfig(reuse_port=True)"
        ) from exc
    bound_port = sock.getsockname()[1]
    options: dict[str, Any] = {"lifespan": "on", "log_level": log_level, "access_log": False}
    options.update(uvicorn_options)
    server = _Server(uvicorn.Config(app, **options))
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"cello-grpc-web:{bound_port}")
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # re-raise the startup error
            raise RuntimeError("the gRPC-Web server exited during startup")
        await asyncio.sleep(0.01)
    return WebServerHandle(server, task, host, bound_port)
