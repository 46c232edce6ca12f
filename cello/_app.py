"""`App`: the framework object that owns a gRPC server and runs it until a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from ._config import GrpcConfig
from ._server import GrpcServer
from ._service import GrpcService

logger = logging.getLogger("cello")


class App:
    """A Cello application. `enable_grpc(config)`, `register_service(...)`, then `run()`."""

    def __init__(self) -> None:
        self.grpc_config: GrpcConfig | None = None
        self._services: list[GrpcService] = []
        self.grpc_server: GrpcServer | None = None

    def enable_grpc(self, config: GrpcConfig | None = None) -> None:
        """Serve gRPC with `config` (defaults to `GrpcConfig()`) when the app runs."""
        self.grpc_config = config or GrpcConfig()

    def register_service(self, service: GrpcService) -> None:
        """Add a service to serve; it is checked when the app starts."""
        self._services.append(service)

    def run(self) -> None:
        """Serve until SIGINT or SIGTERM, then drain in-flight calls and exit."""
        asyncio.run(self.serve())

    async def serve(
        self,
        *,
        stop: asyncio.Event | None = None,
        ready: Callable[[GrpcServer], object] | None = None,
    ) -> None:
        """The body of `run()`, for callers that own the event loop.

        Args:
            stop: ends serving when set; SIGINT and SIGTERM set it too.
            ready: called with the server once it serves (`cello serve` workers report in).
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
        server = GrpcServer(config=self.grpc_config)
        for service in self._services:
            server.register_service(service)
        self.grpc_server = server
        await server.start()
        print(f"cello: serving gRPC on {server.address}", flush=True)
        if server.web_port is not None:
            host = server.address.rsplit(":", 1)[0]
            print(f"cello: serving gRPC-Web on http://{host}:{server.web_port}", flush=True)
        if ready is not None:
            ready(server)
        try:
            await stop.wait()
        finally:
            logger.info("draining in-flight calls")
            await server.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass
