"""`GrpcConfig`: the server's settings, validated when constructed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GrpcConfig:
    """Settings of a Cello gRPC server.

    Args:
        port: the gRPC port (0 picks a free one).
        max_message_size: the largest message, in bytes, received or sent.
        reflection: serve `grpc.reflection.v1` and `v1alpha`, so tools can discover services.
        enable_web: also serve gRPC-Web for browsers, on `web_port`.
        keepalive_secs: interval of HTTP/2 keepalive pings.
        concurrency_limit: the most rpcs served at once; more get RESOURCE_EXHAUSTED.
        host: the address to bind.
        health: serve `grpc.health.v1.Health`.
        web_port: the gRPC-Web HTTP port (0 picks a free one).
        web_origins: origins allowed to call gRPC-Web from a browser (CORS).
        shutdown_grace_secs: how long in-flight calls may finish when the server stops.
        drain_delay_secs: on stop, how long health reports NOT_SERVING while every call is
            still served, before new calls are refused (so load balancers and readiness
            probes see the drain first); 0 stops at once, Kubernetes wants a few seconds.
        reuse_port: share the ports with other processes (SO_REUSEPORT), as `cello serve
            --workers` does; off, a port already in use is an error.
        access_log: log one line per call.
    """

    port: int = 50051
    max_message_size: int = 4_194_304
    reflection: bool = False
    enable_web: bool = False
    keepalive_secs: int = 60
    concurrency_limit: int = 100
    host: str = "[::]"
    health: bool = True
    web_port: int = 8080
    web_origins: tuple[str, ...] = ("*",)
    shutdown_grace_secs: float = 5.0
    drain_delay_secs: float = 0.0
    reuse_port: bool = False
    access_log: bool = False

    def __post_init__(self) -> None:
        _check_int("port", self.port, 0, 65535)
        _check_int("web_port", self.web_port, 0, 65535)
        _check_int("max_message_size", self.max_message_size, 1, 2**31 - 1)
        _check_int("keepalive_secs", self.keepalive_secs, 1, 24 * 3600)
        _check_int("concurrency_limit", self.concurrency_limit, 1, 1_000_000)
        if self.shutdown_grace_secs < 0:
            raise ValueError(f"shutdown_grace_secs must be >= 0, got {self.shutdown_grace_secs}")
        if self.drain_delay_secs < 0:
            raise ValueError(f"drain_delay_secs must be >= 0, got {self.drain_delay_secs}")
        if isinstance(self.web_origins, str):
            object.__setattr__(self, "web_origins", (self.web_origins,))


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"GrpcConfig.{name} must be an int, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"GrpcConfig.{name} must be between {low} and {high}, got {value}")
