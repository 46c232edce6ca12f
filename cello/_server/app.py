"""`App`: the framework object that owns a gRPC server and runs it until a signal."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

from .._call.endpoint import Middleware
from .._definitions.config import GrpcConfig
from .._definitions.service import GrpcService
from .server import GrpcServer

logger = logging.getLogger("cello")


class App:
    """A Cello application. `enable_grpc(config)`, `register_service(...)`, then `run()`.

    Args:
        stubs_dir: a `cello-gen build --out` directory to serve from (see `GrpcServer`).
    """

    def __init__(self, *, stubs_dir: str | os.PathLike[str] | None = None) -> None:
        self.stubs_dir = stubs_dir
        self.grpc_config: GrpcConfig | None = None
        self._services: list[GrpcService] = []
        self.grpc_server: GrpcServer | None = None
        self._middleware: list[Middleware] = []

    def enable_grpc(self, config: GrpcConfig | None = None) -> None:
        """Serve gRPC with `config` (defaults to `GrpcConfig()`) when the app runs."""
        self.grpc_config = config or GrpcConfig()

    def register_service(self, service: GrpcService) -> None:
        """Add a service to serve; it is checked when the app starts."""
        self._services.append(service)

    def add_middleware(self, middleware: Middleware) -> None:
        """Run `middleware` (`async def mw(call, call_next)`) around every rpc, on every port.

        Middleware runs in the order added, the first outermost.
        """
        self._middleware.append(middleware)

    def run(self) -> None:
        """Serve until SIGINT or SIGTERM, then drain in-flight calls and exit.

        SIGHUP reloads the TLS certificate files (`GrpcConfig(tls=...)`) without a restart.
        """
        asyncio.run(self.serve())

    async def serve(
        self,
        *,
        stop: asyncio.Event | None = None,
        ready: Callable[[GrpcServer], object] | None = None,
        announce: bool = True,
    ) -> None:
        """The body of `run()`, for callers that own the event loop.

        Args:
            stop: ends serving when set; SIGINT and SIGTERM set it too.
            ready: called with the server once it serves (`cello serve` workers report in).
            announce: print the `cello: serving ...` lines (ports, then schema) on stdout.
                `cello serve --workers` turns it off: its supervisor prints them once for
                every worker.
        """
        if self.grpc_config is None:
            raise RuntimeError("call app.enable_grpc(GrpcConfig(...)) before running")
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        server = GrpcServer(
            config=self.grpc_config, stubs_dir=self.stubs_dir, middleware=self._middleware
        )
        for service in self._services:
            server.register_service(service)
        server._log_serving = False  # printed below, or by the caller: once either way
        self.grpc_server = server
        await server.start()
        if announce:
            for line in server.listeners:  # the real bind address, and whether TLS is on
                print(f"cello: serving {line}", flush=True)
            if server.metrics_port is not None:
                host = self.grpc_config.metrics_host
                print(
                    f"cello: serving metrics on http://{host}:{server.metrics_port}/metrics",
                    flush=True,
                )
        reload_on_hup = self.grpc_config.tls is not None and hasattr(signal, "SIGHUP")
        if reload_on_hup:
            try:
                loop.add_signal_handler(signal.SIGHUP, server.reload_tls)
            except (NotImplementedError, RuntimeError):  # not the main thread
                reload_on_hup = False
        if announce and server.schema_source is not None:
            print(f"cello: serving {server.schema_source.describe()}", flush=True)
        if ready is not None:
            ready(server)
        try:
            await stop.wait()
        finally:
            logger.info("draining in-flight calls")
            await server.stop()
            signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if reload_on_hup else [])
            for sig in signals:
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass
