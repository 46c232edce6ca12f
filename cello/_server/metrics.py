"""The metrics port: `GET /metrics` in the Prometheus text format, beside the gRPC port.

It is prometheus_client's own small HTTP server on a thread: plain HTTP, outside the
gRPC port's middleware, auth and TLS, so a scraper needs no credentials (bind it to a
private address; the default is this machine only).

With `cello serve --workers N` the supervisor serves it, over the files every worker
writes to `$PROMETHEUS_MULTIPROC_DIR` (prometheus_client's multiprocess mode): the sum of
the workers, those replaced included. It tells the workers so with `$CELLO_METRICS_BY=`
`supervisor`, and they record without serving.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._call.telemetry import Prometheus

SERVED_BY = "CELLO_METRICS_BY"  # "supervisor": a worker records, its supervisor serves


class MetricsServer:
    """A running metrics port; `port` is the bound port."""

    def __init__(self, httpd: Any, thread: Any) -> None:
        self._httpd = httpd
        self._thread = thread
        self.port: int = httpd.server_port

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def exposition_registry(prometheus: Prometheus | None) -> Any:
    """What the port exposes: this process's registry with the process metrics, or in
    multiprocess mode every process's files summed (and this process's own metrics)."""
    import prometheus_client as pc

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = pc.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        pc.ProcessCollector(registry=registry)
        pc.PlatformCollector(registry=registry)
        return registry
    if prometheus is None:
        raise ValueError("no metrics to serve")
    return prometheus.registry


def start_metrics(prometheus: Prometheus | None, host: str, port: int) -> MetricsServer:
    """Serve `/metrics` on `host:port` (0 picks a free port) until `stop()`.

    Raises:
        RuntimeError: the port cannot be bound.
    """
    import prometheus_client as pc

    bare = host.removeprefix("[").removesuffix("]") or "::"
    try:
        httpd, thread = pc.start_http_server(port, bare, exposition_registry(prometheus))
    except OSError as exc:
        raise RuntimeError(
            f"GrpcConfig.metrics_port: cannot bind the metrics port {host}:{port} ({exc}); "
            "pick a free port, or 0 for any"
        ) from exc
    return MetricsServer(httpd, thread)
