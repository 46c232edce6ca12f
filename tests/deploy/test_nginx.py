"""A real nginx (`grpc_pass`, HTTP/2) in front of Cello instances: spread and rolling restart."""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest

from .conftest import APP, OWN_CONNECTION, RETRY_ON_DRAIN, ROOT, SINGLE_LINE, Served, sleep

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx missing: .ci/install-peers.sh"),
]

Serve = Callable[..., Awaitable[Served]]
CONFIG = ROOT / "deploy" / "nginx" / "nginx.conf"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def nginx_config(tmp: Path, port: int, upstreams: list[int]) -> str:
    """deploy/nginx/nginx.conf's `http` block, pointed at `upstreams`, with every path in
    `tmp` so nginx runs unprivileged, in the foreground."""
    recipe = CONFIG.read_text()
    http = recipe[recipe.index("upstream cello") :]
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=0;\n" for p in upstreams)
    start, end = http.index("{") + 1, http.index("    keepalive")
    http = http[:start] + "\n" + servers + http[end:]
    http = http.replace("listen 8443 http2;", f"listen 127.0.0.1:{port} http2;")
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
        f"error_log {tmp}/error.log info;\nevents {{ worker_connections 512; }}\n"
        f"http {{\n    access_log {tmp}/access.log;\n{temp}\n"
        f"    uwsgi_temp_path {tmp}/uwsgi;\n    scgi_temp_path {tmp}/scgi;\n"
        f"    {http.strip()}\n}}\n"
    )


@pytest.fixture
async def nginx(tmp_path: Path) -> AsyncIterator[Callable[[list[int]], Awaitable[str]]]:
    processes: list[subprocess.Popen[bytes]] = []

    async def start(upstreams: list[int]) -> str:
        port = _free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(nginx_config(tmp_path, port, upstreams))
        command = ["nginx", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c"]
        check = subprocess.run([*command, str(conf), "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        processes.append(subprocess.Popen([*command, str(conf)]))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return f"127.0.0.1:{port}"
            await asyncio.sleep(0.05)
        raise AssertionError((tmp_path / "error.log").read_text())

    yield start
    for process in processes:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _instance(serve: Serve, port: int) -> Served:
    served = await serve(APP, "--port", str(port), "--web-port", "0")
    assert (await served.wait_for(SINGLE_LINE)).group(1) == str(port)
    return served


async def test_nginx_spreads_the_load_and_a_rolling_restart_fails_no_call(
    serve: Serve, nginx: Callable[[list[int]], Awaitable[str]]
) -> None:
    ports = [_free_port(), _free_port()]
    first, second = [await _instance(serve, port) for port in ports]
    address = await nginx(ports)
    results: Counter[str] = Counter()
    pids: Counter[int] = Counter()
    done = asyncio.Event()

    async def client() -> None:
        # the client side of the recipe: one HTTP/2 connection to the balancer, retries
        async with grpc.aio.insecure_channel(
            address, options=[*OWN_CONNECTION, *RETRY_ON_DRAIN]
        ) as channel:
            call = sleep(channel)
            while not done.is_set():
                try:
                    reply = await call(10, timeout=15)
                except grpc.aio.AioRpcError as exc:
                    results[f"{exc.code().name}: {exc.details()}"] += 1
                else:
                    results["OK"] += 1
                    pids[reply.value] += 1

    clients = [asyncio.ensure_future(client()) for _ in range(4)]
    while results["OK"] < 200:
        await asyncio.sleep(0.1)
    before = Counter(pids)
    # roll the first instance: drain it (SIGTERM), then start it again on its port
    first.signal(signal.SIGTERM)
    assert await first.exited() == 0
    replacement = await _instance(serve, ports[0])
    seen = Counter(pids)
    while pids[replacement.process.pid] < 50:
        await asyncio.sleep(0.1)
    done.set()
    await asyncio.gather(*clients)

    assert set(results) == {"OK"}, results
    old, other = first.process.pid, second.process.pid
    assert set(before) == {old, other}, before
    assert min(before.values()) >= sum(before.values()) // 5, f"load not spread: {before}"
    assert pids[other] > seen[other], "the other instance served through the restart"
    assert pids[replacement.process.pid] >= 50
    for served in (second, replacement):
        assert await served.stop() == 0
