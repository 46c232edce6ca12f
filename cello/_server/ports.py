"""Binding the ports of each transport, and the words that describe them at startup.

`GrpcServer.start` asks this module for a running server: `start_grpcio` (the `aio` and
`threads` transports, plus the web port when `enable_web`) or `start_h2` and
`start_envoy` (one port for every protocol). Each returns a handle with `port`, `stop(grace)` and
`wait_for_termination()`; health and reflection are attached here because grpcio wants
its own servicers added before the port is bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from .._call.endpoint import Endpoint
from .._call.sync_handlers import HandlerThreads
from .._definitions.config import GrpcConfig
from .._transports.grpc_aio import generic_handlers
from .._transports.grpc_servicer import COMPRESSION
from .collector import paused

if TYPE_CHECKING:
    from .._protocols import GrpcWebApp
    from .._security.certwatch import CertificateWatcher
    from .reflection import Health

HEALTH_SERVICE = "grpc.health.v1.Health"


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
        # Against hostile clients (docs/security.md). Streams one connection may have
        # allocated: C-core counts a stream until it is freed, not only while open in
        # HTTP/2 terms (`grpc.http.overload_protection`, on by default), so streams reset
        # as fast as they are opened (rapid reset) are refused past it. Far above
        # `max_calls_per_connection`: a burst of calls on one channel can briefly hold
        # more streams than the client sees open, and those would be refused too.
        ("grpc.max_concurrent_streams", max(1000, 10 * config.concurrency_limit)),
        # request headers (grpc's soft and hard limits): 8 KiB, as the h2 transport's 16 KiB
        ("grpc.max_metadata_size", 8192),
        ("grpc.absolute_max_metadata_size", 16384),
        # pings faster than the permitted interval: GOAWAY after 2 strikes (grpc's default)
        ("grpc.http2.max_ping_strikes", 2),
        # streams opened and cancelled before the handler asked for them (rapid reset):
        # an accepted stream left unrequested this long is cancelled (grpc's default: 30)
        ("grpc.server_max_unrequested_time_in_server", 10),
        # a connection not answering our keepalive ping, or idle past 2 keepalive periods
        ("grpc.max_connection_idle_ms", 2 * keepalive_ms),
    ]


def grpcio_server(
    config: GrpcConfig,
    endpoints: Callable[[HandlerThreads | None], list[Endpoint]],
    *,
    interceptors: list[grpc.aio.ServerInterceptor],
    names: Callable[[], list[str]],
) -> tuple[Any, Health | None]:
    """A grpcio server (`aio` or `threads`) with the endpoints, health and reflection added,
    not yet bound.

    `endpoints(threads)` builds the endpoints with sync handlers run as `threads` says (None:
    the server's own pool); it loads the stubs, so `names()` is read after it.
    """
    threads = config.transport == "threads"
    server: Any
    with paused():  # see `paused`: no collection finds garbage in what start builds
        if threads:
            from .._transports.grpc_threads import PROBE_THREADS, ThreadServer

            # sync handlers run on the call's own worker thread: no hop to another pool
            inline = HandlerThreads(config.handler_threads, inline=True)
            server = ThreadServer(
                endpoints(inline),
                threads=config.handler_threads,
                options=server_options(config),
                compression=COMPRESSION[config.compression],
                # bounds the calls queued for a worker thread; the probes' threads on top
                maximum_concurrent_rpcs=config.concurrency_limit + PROBE_THREADS,
            )
        else:
            server = grpc.aio.server(
                options=server_options(config),
                interceptors=interceptors or None,
                compression=COMPRESSION[config.compression],
            )
            server.add_generic_rpc_handlers(tuple(generic_handlers(endpoints(None))))
    health = None
    if config.health or config.reflection:
        # grpc_health and grpc_reflection load only when a server needs them
        from .reflection import Health, add_reflection
    if config.health:
        health = Health(server, sync=threads)
    if config.reflection:
        add_reflection(server, [*names(), *([HEALTH_SERVICE] if health else [])], sync=threads)
    return server, health


def bind_grpcio(server: Any, host: str, port: int, certs: CertificateWatcher | None) -> int:
    """Bind the gRPC port of a grpcio server; the bound port.

    Raises:
        CelloError: the port cannot be bound (`bind_error` names the fix).
    """
    try:
        if certs is None:
            bound = server.add_insecure_port(f"{host}:{port}")
        else:
            bound = server.add_secure_port(f"{host}:{port}", certs.grpc_credentials())
    except RuntimeError:  # grpcio's message only says "Failed to bind"
        bound = 0
    if bound == 0:
        from .._transports.uvicorn import bind_error  # only on failure

        reason = "the port is in use (or the address is not local)"
        raise bind_error("gRPC", host, port, reason, "port")
    return int(bound)


async def start_web(
    app: GrpcWebApp, config: GrpcConfig, host: str, certs: CertificateWatcher | None
) -> Any:
    """Serve `app` on the web port with uvicorn (`enable_web` on `aio`/`threads`)."""
    from .._transports.uvicorn import serve_web

    return await serve_web(
        app,
        host,
        config.web_port,
        ssl_context=certs.ssl_context() if certs is not None else None,
        head_timeout=config.web_body_timeout,
        reuse_port=config.reuse_port,
    )


async def start_h2(
    app: GrpcWebApp, config: GrpcConfig, host: str, port: int, certs: CertificateWatcher | None
) -> Any:
    """Serve `app` (every protocol) on one port with the `h2` transport."""
    from .._transports.h2.server import serve_h2

    return await serve_h2(
        app,
        host,
        port,
        ssl_context=certs.ssl_context(alpn=("h2", "http/1.1")) if certs else None,
        idle_timeout=config.web_body_timeout,
        reuse_port=config.reuse_port,
        trusted_headers=True,
    )


async def start_envoy(
    app: GrpcWebApp, config: GrpcConfig, host: str, port: int, certs: CertificateWatcher | None
) -> Any:
    """Serve `app` (every protocol) on one port with Envoy in front (`envoy` transport)."""
    from .._transports.envoy.server import serve_envoy

    return await serve_envoy(
        app, config, host, port, certs=certs, overrides=envoy_overrides(config)
    )


def envoy_version() -> str:
    """The version of the Envoy transport "envoy" would run (for `cello serve`'s line)."""
    from .._transports.envoy.server import envoy_version as installed

    return installed()


def envoy_overrides(config: GrpcConfig) -> dict[str, Any] | None:
    """`config.envoy_overrides` as a mapping (read from its file when it is a path).

    Raises:
        DefinitionError: the file cannot be read or holds no mapping.
    """
    overrides = config.envoy_overrides
    if overrides is None or not isinstance(overrides, str):
        return dict(overrides) if overrides is not None else None
    import yaml  # JSON is YAML too

    from .._errors import DefinitionError

    try:
        with open(overrides, encoding="utf-8") as file:
            loaded = yaml.safe_load(file)
    except (OSError, yaml.YAMLError) as exc:
        raise DefinitionError(
            f"GrpcConfig.envoy_overrides: cannot read {overrides!r}: {exc}; give the path of "
            "a JSON or YAML file holding Envoy bootstrap fields"
        ) from exc
    if not isinstance(loaded, dict):
        raise DefinitionError(
            f"GrpcConfig.envoy_overrides: {overrides!r} holds {type(loaded).__name__}, not a "
            "mapping; write Envoy bootstrap fields at the top level (static_resources: ...)"
        )
    return loaded


def listener_lines(
    config: GrpcConfig,
    host: str,
    bind_address: str,
    web_port: int | None,
    envoy_version: str | None = None,
) -> list[str]:
    """One line per port served: the real bind address, TLS or not, and who can reach it."""
    reach = _reach(host)
    tls = config.tls
    mode = "plaintext" if tls is None else "mTLS" if tls.require_client_cert else "TLS"
    served = f"{mode}, {reach}"
    if envoy_version is not None:  # which Envoy answers is part of what is served
        served += f", transport envoy {envoy_version}"
    lines = [f"gRPC ({served}) on {bind_address}"]
    if web_port is not None:
        scheme = "http" if tls is None else "https"
        web_host = bind_address.rsplit(":", 1)[0]
        lines.append(f"gRPC-Web ({mode}, {reach}) on {scheme}://{web_host}:{web_port}")
    return lines


def _reach(host: str) -> str:
    """Who can connect to a server bound to `host`, in words for the startup line."""
    bare = host.removeprefix("[").removesuffix("]")
    if bare in ("", "::", "0.0.0.0"):
        return "all interfaces"
    if bare in ("localhost", "::1") or bare.startswith("127."):
        return "this machine only"
    return f"interface {bare}"
