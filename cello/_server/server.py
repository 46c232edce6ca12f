"""`GrpcServer`: serves registered `GrpcService` instances on the configured transport.

The class is the lifecycle (register, start, stop, drain) and the composition root: it
builds the endpoints once and hands them to the transport. Binding each transport's ports
lives in `ports.py`, the ASGI app with its health endpoints in `web.py`, certificate
reloading in `cello._security.certwatch`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc.aio

from .._call.dispatch import service_endpoints
from .._call.endpoint import Endpoint, Limiter, Middleware
from .._call.sync_handlers import HandlerThreads
from .._definitions.config import ONE_PORT, GrpcConfig
from .._definitions.service import GrpcService, warn_unserved_methods
from .._errors import DefinitionError
from . import ports, web
from .collector import paused
from .metrics import SERVED_BY, start_metrics

if TYPE_CHECKING:
    from .._call.telemetry import Telemetry
    from .._protocols import GrpcWebApp
    from .._security.certwatch import CertificateWatcher
    from .._wire.binding import ServiceBinding
    from .._wire.stubs import SchemaSource
    from .reflection import Health

logger = logging.getLogger("cello.grpc")

# A started server serves until stopped, even if the caller drops its last reference
# (grpc.aio shuts a server down when it is garbage collected).
_running: set[GrpcServer] = set()


class GrpcServer:
    """Hosts services over gRPC (and gRPC-Web when `config.enable_web`).

    Args:
        host: address to bind, e.g. "localhost", "127.0.0.1" or "[::]".
        port: port to bind; 0 picks a free one (see `port` after `start()`).
        config: server settings; defaults to `GrpcConfig()`.
        stubs_dir: a `cello-gen build --out` directory to serve from; without it,
            `$CELLO_STUBS_DIR`, then the project's `[tool.cello] out` build, else stubs
            generated on the fly into a cache (see docs/schema-location.md).
        package: the protobuf package for services that set none.
        middleware: `async def mw(call, call_next)` functions run around every rpc of the
            registered services, on every port, in the order given (the first is outermost).
        interceptors: `grpc.aio.ServerInterceptor`s, passed to grpc.aio; they see the gRPC
            port only (use middleware for behaviour shared with gRPC-Web). Transport
            "aio" only.

    After `start()` (or `web_app()`), `schema_source` says which schema is served. The
    schema and the ports served are logged on `cello.grpc` at INFO, unless an `App` runs the
    server: it prints those lines on stdout instead.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        config: GrpcConfig | None = None,
        *,
        stubs_dir: str | os.PathLike[str] | None = None,
        package: str | None = None,
        middleware: Sequence[Middleware] = (),
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self.config = config or GrpcConfig()
        self.host = host if host is not None else self.config.host
        self.port = port if port is not None else self.config.port
        self.stubs_dir = stubs_dir
        self.package = package
        self._services: dict[str, GrpcService] = {}
        self._server: Any = None  # a grpc.aio.Server, or an H2ServerHandle / EnvoyHandle
        self._health: Health | None = None
        self._bindings: dict[str, ServiceBinding] = {}
        self.middleware: list[Middleware] = list(middleware)
        self._interceptors = list(interceptors)
        if self._interceptors and self.config.transport != "aio":
            raise DefinitionError(
                f"interceptors= are grpc.aio interceptors, which transport="
                f"{self.config.transport!r} cannot run: use middleware= (it runs on every "
                "transport and port), or GrpcConfig(transport='aio')"
            )
        self._endpoints: list[Endpoint] | None = None
        self._by_class: dict[str, ServiceBinding] | None = None
        # Health and reflection are grpc servicers outside this limit, so probes still
        # answer when the server is busy.
        self._limiter = Limiter(
            self.config.concurrency_limit,
            per_connection=self.config.calls_per_connection,
            stream_idle_timeout=self.config.stream_idle_timeout,
            threaded=self.config.transport == "threads",
        )
        self._threads = HandlerThreads(self.config.handler_threads)
        self._telemetry = _telemetry(self.config)
        if self._telemetry is not None:
            self._limiter.refused = self._telemetry.refused
        self._metrics: Any = None  # the metrics port's MetricsServer
        self.metrics_port: int | None = None
        self._web_app: GrpcWebApp | None = None
        self._web: Any = None
        self._certs: CertificateWatcher | None = None
        self.web_port: int | None = None
        self.schema_source: SchemaSource | None = None  # known once the stubs are loaded
        # the "serving ..." lines are logged, unless an owner prints them instead (App, on
        # stdout): each is shown once
        self._log_serving = True

    def register_service(self, service: GrpcService) -> None:
        """Add a service instance; its `name` must be unique on this server.

        A public `async def` of the service without `@grpc_method` is not served; it gets a
        `CelloWarning` unless it is `_private` or marked `@not_rpc`.

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
        if self._server is not None or self._endpoints is not None:
            raise DefinitionError("register services before start() and web_app()")
        if service.name in self._services:
            raise DefinitionError(f"a service named {service.name!r} is already registered")
        self._services[service.name] = service
        warn_unserved_methods(type(service), stacklevel=2)

    def get_services(self) -> dict[str, GrpcService]:
        """Registered services by name."""
        return dict(self._services)

    @property
    def bindings(self) -> dict[str, ServiceBinding]:
        """The generated bindings served, keyed by full service name (after `start()`)."""
        return dict(self._bindings)

    @property
    def address(self) -> str:
        """`host:port` to connect to (the bound port after `start()`).

        A wildcard bind address is answered on the loopback, so this is "127.0.0.1:port";
        `bind_address` is the address actually bound.
        """
        host = "127.0.0.1" if self.host in ("[::]", "::", "0.0.0.0", "") else self.host
        return f"{host}:{self.port}"

    @property
    def bind_address(self) -> str:
        """The `host:port` the gRPC port is bound to, e.g. "127.0.0.1:50051" or "[::]:50051"."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host or '[::]'}:{self.port}"

    @property
    def listeners(self) -> list[str]:
        """One line per port served: the real bind address, TLS or not, and who can reach it.

        e.g. ``"gRPC (plaintext, this machine only) on 127.0.0.1:50051"``; the address
        comes last, so a script can take the last word of the startup line.
        """
        return ports.listener_lines(
            self.config,
            self.host,
            self.bind_address,
            self.web_port,
            envoy_version=getattr(self._server, "version", None),
        )

    def reload_tls(self) -> bool:
        """Re-read the TLS certificate, key and client CA files now (as SIGHUP does).

        Returns:
            True when a new certificate is served to new connections from now on; False if
            the files are unchanged, or fail the checks (logged; the old one stays).
        """
        return self._certs.reload() if self._certs is not None else False

    async def start(self) -> None:
        """Generate or load stubs, bind the port and start serving.

        Raises:
            DefinitionError, GenerationError: the services cannot be served.
            RuntimeError: the port cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("server already started")
        if self.config.tls is not None and self._certs is None:
            from .._security.certwatch import CertificateWatcher  # TLS loads only for TLS servers

            self._certs = CertificateWatcher(self.config.tls)
        if self.config.transport in ONE_PORT:
            with paused():  # see `paused`
                app = self.web_app()  # the endpoints, health and reflection included
            start = ports.start_h2 if self.config.transport == "h2" else ports.start_envoy
            self._server = await start(app, self.config, self.host, self.port, self._certs)
            self.port = self._server.port
            if self.config.enable_web:  # served on every h2 port; reported where asked for
                self.web_port = self.port
        else:
            server, self._health = ports.grpcio_server(
                self.config,
                lambda threads: self.endpoints() if threads is None else self._build(threads),
                interceptors=self._interceptors,
                names=lambda: sorted(self._bindings),
            )
            self.port = ports.bind_grpcio(server, self.host, self.port, self._certs)
            await server.start()
            self._server = server
        _running.add(self)
        if self._certs is not None:
            self._certs.start()
        names = sorted(self._bindings)
        if self._health is not None:
            await self._health.set_all(names, serving=True)
        if self.config.enable_web and self.config.transport not in ONE_PORT:
            try:
                self._web = await ports.start_web(
                    self.web_app(), self.config, self.host, self._certs
                )
            except BaseException:
                await self.stop(0)
                raise
            self.web_port = self._web.port
        self._observe_ports()
        port = self.config.metrics_port
        if port is not None and os.environ.get(SERVED_BY) != "supervisor":
            try:
                prometheus = self._telemetry.prometheus if self._telemetry else None
                self._metrics = start_metrics(prometheus, self.config.metrics_host, port)
            except BaseException:
                await self.stop(0)
                raise
            self.metrics_port = self._metrics.port
        if self._log_serving:
            logger.info("serving %s: %s", ", ".join(names), "; ".join(self.listeners))

    def _observe_ports(self) -> None:
        """Tell the spans which port each protocol came in on."""
        telemetry = self._telemetry
        if telemetry is None:
            return
        telemetry.ports["grpc"] = self.port
        if self.web_port is not None:
            telemetry.ports["grpc-web"] = telemetry.ports["connect"] = self.web_port

    def web_app(self) -> GrpcWebApp:
        """The gRPC-Web ASGI app for the registered services, to mount in an ASGI server.

        It calls the same endpoints as the gRPC port (middleware and `concurrency_limit`
        shared), with this server's `max_message_size`, `web_origins`,
        `web_allowed_headers` and `web_body_timeout`. `start()` is not needed to use it; with
        `enable_web`, `start()` also serves it on `web_port`. Register services first.

        Raises:
            DefinitionError, GenerationError: the services cannot be served.
        """
        if self._web_app is None:
            endpoints = self.endpoints()
            if self.config.transport in ONE_PORT:
                extra, self._health = web.h2_services(self.config, sorted(self._bindings))
            else:
                extra = web.web_health(
                    self.config, self._bindings.__contains__, lambda: self._health
                )
            openapi = None
            if self.config.openapi:
                from .._wire.stubs import openapi_json

                services = [type(s) for s in self._services.values()]
                openapi = openapi_json(services, package=self.package)
            self._web_app = web.build_web_app(self.config, endpoints, extra, openapi=openapi)
        return self._web_app

    def add_middleware(self, middleware: Middleware) -> None:
        """Append a middleware (innermost so far); before `start()` and `web_app()`.

        Raises:
            DefinitionError: the endpoints were already built.
        """
        if self._endpoints is not None:
            raise DefinitionError("add middleware before start() and web_app()")
        self.middleware.append(middleware)

    def endpoints(self) -> list[Endpoint]:
        """Generate or load the stubs and build one endpoint per rpc, once.

        Raises:
            DefinitionError, GenerationError: the services cannot be served.
        """
        if self._endpoints is None:
            self._endpoints = self._build(self._threads)
        return self._endpoints

    def _build(self, threads: HandlerThreads) -> list[Endpoint]:
        """One endpoint per rpc, with sync handlers run as `threads` says."""
        if not self._services:
            raise DefinitionError("no services registered; call register_service() first")
        instances = list(self._services.values())
        by_class = self._by_class
        if by_class is None:
            from .._wire.stubs import load_schema  # with protobuf's descriptors: at start

            bindings, self.schema_source = load_schema(
                [type(s) for s in instances], stubs_dir=self.stubs_dir, package=self.package
            )
            if self._log_serving:
                logger.info("serving %s", self.schema_source.describe())
            by_class = self._by_class = {b.python_class: b for b in bindings.values()}
        middleware = list(self.middleware)
        if self.config.access_log:
            from .._call.middleware import access_log

            middleware.insert(0, access_log())
        endpoints = []
        for instance in instances:
            binding = by_class[f"{type(instance).__module__}:{type(instance).__qualname__}"]
            endpoints += service_endpoints(
                binding,
                instance,
                middleware=middleware,
                limiter=self._limiter,
                threads=threads,
                telemetry=self._telemetry,
            )
            self._bindings[binding.full_name] = binding
        return endpoints

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
        metrics, self._metrics = self._metrics, None
        if metrics is not None:
            metrics.stop()
        if self._certs is not None:
            await self._certs.stop()
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
        self._threads.shutdown()

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


def _telemetry(config: GrpcConfig) -> Telemetry | None:
    """The server's traces and metrics, or None when all are off (calls then pay nothing)."""
    prometheus = config.metrics_port is not None
    if not (config.tracing or config.metrics or prometheus):
        return None
    from .._call.telemetry import Telemetry

    return Telemetry(
        tracing=config.tracing, metrics=config.metrics, prometheus=prometheus, host=config.host
    )
