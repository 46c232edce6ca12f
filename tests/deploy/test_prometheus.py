"""`cello serve --metrics-port` scraped by a real Prometheus server (Debian's `prometheus`),
whose query API must count the calls made: one process, and two workers with one killed
and restarted between the calls (its counts must stay in the totals)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc.aio
import httpx
import pytest

from .conftest import APP, OWN_CONNECTION, Served, pid_of, whoami

pytestmark = pytest.mark.peer

Serve = Callable[..., Awaitable[Served]]
Prometheus = tuple[Path, int]
METRICS_LINE = r"serving metrics on http://127\.0\.0\.1:(\d+)/metrics$"
QUERY = 'sum(grpc_server_handled_total{grpc_method="Whoami",grpc_code="OK",grpc_type="unary"})'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    """Where to write the scrape config, and the port Prometheus will answer on; the
    server is started by `_start_prometheus` once Cello's metrics port is known."""
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed; run .ci/install-peers.sh")
    yield tmp_path, _free_port()


async def _calls(address: str, count: int) -> None:
    for _ in range(count):  # a new connection each: the calls spread over the workers
        async with grpc.aio.insecure_channel(address, options=OWN_CONNECTION) as channel:
            await whoami(channel)(None, timeout=10)


async def _scraped_total(served: Served, prometheus: Prometheus, want: int) -> float:
    """Start Prometheus scraping `served`'s metrics port; poll its query API until the
    count of OK Whoami calls is `want` (or 60 s passed); return the last value seen."""
    metrics_port = int((await served.wait_for(METRICS_LINE)).group(1))
    directory, port = prometheus
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: cello\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{metrics_port}']\n"
    )
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    value = -1.0
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(120):
                await asyncio.sleep(0.5)
                try:
                    response = await client.get(
                        f"http://127.0.0.1:{port}/api/v1/query", params={"query": QUERY}
                    )
                except httpx.TransportError:
                    continue  # still starting
                result = response.json()["data"]["result"]
                if result:
                    value = float(result[0]["value"][1])
                    if value == want:
                        break
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return value


async def test_prometheus_counts_the_calls_of_one_process(
    serve: Serve, prometheus: Prometheus
) -> None:
    served = await serve(APP, "--metrics-port", "0")
    port = int((await served.wait_for(r"serving gRPC \(.*\) on 127\.0\.0\.1:(\d+)$")).group(1))
    await _calls(f"127.0.0.1:{port}", 7)
    assert await _scraped_total(served, prometheus, 7) == 7
    assert await served.stop() == 0


async def test_prometheus_sums_two_workers_across_a_restart(
    serve: Serve, prometheus: Prometheus
) -> None:
    served = await (await serve(APP, "--workers", "2", "--metrics-port", "0")).started()
    await _calls(served.address, 10)
    victim = await pid_of(served.address)  # one more call, answered by the worker to kill
    os.kill(victim, signal.SIGKILL)
    await served.wait_for(rf"worker \d restarted \(pid \d+ replaces {victim}\)")
    await _calls(served.address, 5)
    assert await _scraped_total(served, prometheus, 16) == 16
    assert await served.stop() == 0
