"""`GrpcServer`: serves registered `GrpcService` instances on grpc.aio."""

from __future__ import annotations

import asyncio
import logging
import os
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from ._binding import ServiceBinding
from ._config import GrpcConfig
from ._dispatch import service_handler
from ._errors import DefinitionError
from ._reflection import Health, add_reflection
from ._service import GrpcService
from ._stubs import load_bindings

if TYPE_CHECKING:
    from ._web import GrpcWebApp

logger = logging.getLogger("cello.grpc")
HEALTH_SERVICE = "grpc.health.v1.Health"

# A started server serves until stopped, even if the caller drops its last reference
# (grpc.aio shuts a server down when it is garbage collected).
_running: set[GrpcServer] = set()


def server_options(config: GrpcConfig) -> list[tuple[str, Any]]:
    """grpcio channel arguments for `config`: message size, keepalive, port sharing."""
    keepalive_ms = config.keepalive_secs * 1000
    return [
        # grpcio shares ports by default, so a second server would start silently and
        # take half the connections; share only when asked (workers, reuse_port=True)
        ("grpc.so_reuseport", 1 if config.reuse_port else 0),
        ("grpc.max_send_message_length", config.max_message_size),
        ("grpc.max_receive_message_length", config.max_message_size),
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.keepalive_timeout_ms", min(20_000, keepalive_ms)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # accept client pings sent at up to twice our own rate, rather than GOAWAY them
        ("grpc.http2.min_recv_ping_interval_without_data_ms", keepalive_ms // 2),
        ("grpc.http2.min_ping_interval_without_data_ms", keepalive_ms // 2),
    ]


class GrpcServer:
    """Hosts services over gRPC (and gRPC-Web when `config.enable_web`).

    Args:
        host: address to bind, e.g. "localhost", "127.0.0.1" or "[::]".
        port: port to bind; 0 picks a free one (see `port` after `start()`).
        config: server settings; defaults to `GrpcConfig()`.
        stubs_dir: a `cello-gen build --out` directory to serve from; without it,
            stubs are generated on the fly into a cache.
        package: the protobuf package for services that set none.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        config: GrpcConfig | None = None,
        *,
        stubs_dir: str | os.PathLike[str] | None = None,
        package: str | None = None,
    ) -> None:
        self.config = config or GrpcConfig()
        self.host = host if host is not None else self.config.host
        self.port = port if port is not None else self.config.port
        self.stubs_dir = stubs_dir
        self.package = package
        self._services: dict[str, GrpcService] = {}
        self._server: grpc.aio.Server | None = None
        self._health: Health | None = None
        self._bindings: dict[str, ServiceBinding] = {}
        self._handlers: list[grpc.GenericRpcHandler] | None = None
        self._web_app: GrpcWebApp | None = None
        self._web: Any = None
        self.web_port: int | None = None

    def register_service(self, service: GrpcService) -> None:
        """Add a service instance; its `name` must be unique on this server.

        Raises:
            DefinitionError: not a `GrpcService` instance, a duplicate name, or the server
                is already running.
        """
        if isinstance(service, type):
            raise DefinitionError(
                f"register_service() takes an instance; use {service.__name__}() instead of "
                f"{service.__name__}"
            )
        if not isinstance(service, GrpcService):
            raise DefinitionError(f"{service!r} is not a GrpcService instance")
        if self._server is not None or self._handlers is not None:
            raise DefinitionError("register services before start() and web_app()")
        if service.name in self._services:
            raise DefinitionError(f"a service named {service.name!r} is already registered")
        self._services[service.name] = service

    def get_services(self) -> dict[str, GrpcService]:
        """Registered services by name."""
        return dict(self._services)

    @property
    def bindings(self) -> dict[str, ServiceBinding]:
        """The generated bindings served, keyed by full service name (after `start()`)."""
        return dict(self._bindings)

    @property
    def address(self) -> str:
        """`host:port` to connect to (the bound port after `start()`)."""
        host = "127.0.0.1" if self.host in ("[::]", "0.0.0.0", "") else self.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Generate or load stubs, bind the port and start serving.

        Raises:
            DefinitionError, GenerationError: the services cannot be served.
            RuntimeError: the port cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("server already started")
        handlers = self._load_handlers()
        server = grpc.aio.server(
            options=server_options(self.config),
            maximum_concurrent_rpcs=self.config.concurrency_limit,
        )
        server.add_generic_rpc_handlers(tuple(handlers))
        names = sorted(self._bindings)
        if self.config.health:
            self._health = Health(server)
        if self.config.reflection:
            add_reflection(server, [*names, *([HEALTH_SERVICE] if self._health else [])])
        try:
            bound = server.add_insecure_port(f"{self.host}:{self.port}")
        except RuntimeError:  # grpcio's message only says "Failed to bind"
            bound = 0
        if bound == 0:
            raise RuntimeError(
                f"cannot bind gRPC to {self.host}:{self.port}: the port is in use (or the "
                "address is not local); stop the other server, choose another port, or "
                "share the port on purpose with GrpcConfig(reuse_port=True)"
            )
        self.port = bound
        await server.start()
        self._server = server
        _running.add(self)
        if self._health is not None:
            await self._health.set_all(names, serving=True)
        if self.config.enable_web:
            from ._webserver import serve_web

            try:
                self._web = await serve_web(
                    self.web_app(),
                    self.host,
                    self.config.web_port,
                    reuse_port=self.config.reuse_port,
                )
            except BaseException:
                await self.stop(0)
                raise
            self.web_port = self._web.port
            logger.info("serving gRPC-Web on %s", self._web.url)
        logger.info("serving %s on %s", ", ".join(names), self.address)

    def web_app(self) -> GrpcWebApp:
        """The gRPC-Web ASGI app for the registered services, to mount in an ASGI server.

        It calls the same handlers as the gRPC port, with this server's `max_message_size`,
        `concurrency_limit` and `web_origins`. `start()` is not needed to use it; with
        `enable_web`, `start()` also serves it on `web_port`. Register services first.

        Raises:
            DefinitionError, GenerationError: the services cannot be served.
        """
        if self._web_app is None:
            from ._web import GrpcWebApp

            self._web_app = GrpcWebApp(
                self._load_handlers(),
                max_message_size=self.config.max_message_size,
                allowed_origins=self.config.web_origins,
                max_concurrent_rpcs=self.config.concurrency_limit,
            )
        return self._web_app

    def _load_handlers(self) -> list[grpc.GenericRpcHandler]:
        """Generate or load the stubs and build one grpc handler per service, once."""
        if self._handlers is not None:
            return self._handlers
        if not self._services:
            raise DefinitionError("no services registered; call register_service() first")
        instances = list(self._services.values())
        bindings = load_bindings(
            [type(s) for s in instances], stubs_dir=self.stubs_dir, package=self.package
        )
        by_class = {b.python_class: b for b in bindings.values()}
        handlers = []
        for instance in instances:
            binding = by_class[f"{type(instance).__module__}:{type(instance).__qualname__}"]
            handlers.append(service_handler(binding, instance))
            self._bindings[binding.full_name] = binding
        self._handlers = handlers
        return handlers

    async def stop(self, grace: float | None = None, *, drain_delay: float | None = None) -> None:
        """Stop serving: report NOT_SERVING, keep serving for `drain_delay` seconds, then
        refuse new calls and let in-flight ones finish for `grace` seconds.

        Args:
            grace: defaults to `config.shutdown_grace_secs`.
            drain_delay: defaults to `config.drain_delay_secs`.
        """
        server, self._server = self._server, None
        if server is None:
            return
        _running.discard(self)
        if self._health is not None:
            await self._health.set_all(sorted(self._bindings), serving=False)
        drain_delay = self.config.drain_delay_secs if drain_delay is None else drain_delay
        if drain_delay > 0:
            # new calls, health checks included, are still served: probes and load
            # balancers see NOT_SERVING and move traffic away before anything is refused
            logger.info("reporting NOT_SERVING for %ss before draining", drain_delay)
            await asyncio.sleep(drain_delay)
        grace = self.config.shutdown_grace_secs if grace is None else grace
        web, self._web = self._web, None
        if web is None:
            await server.stop(grace)
        else:  # both ports drain at once, within one grace period
            await asyncio.gather(server.stop(grace), web.stop(grace))

    async def wait_for_termination(self) -> None:
        """Block until the server stops."""
        if self._server is not None:
            await self._server.wait_for_termination()

    async def __aenter__(self) -> GrpcServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
