"""The `cello serve --workers N` / `--reload` supervisor.

It runs no user code: a `--prepare` child imports the app and builds or checks its stubs
once, then N `--worker` children serve with the ports shared (SO_REUSEPORT). The
supervisor holds a bound, never listening socket on each port: port 0 is resolved once
for every worker, a non-sharing server cannot take the port, and the kernel never hands
it a connection (only listening sockets join the port's group).

With a metrics port the supervisor serves it: every worker writes its counts to files in
one directory (prometheus_client's multiprocess mode, `$PROMETHEUS_MULTIPROC_DIR`), and
`/metrics` sums them, so the totals cover every worker and survive a worker's restart.

Signals: SIGTERM/SIGINT drain every worker; SIGHUP rebuilds the stubs and replaces the
workers one at a time, each new one serving before the old one drains. A worker that dies
is logged and started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._definitions.config import ONE_PORT
from .options import ServeError, ServeOptions, report

logger = logging.getLogger("cello.serve")

START_TIMEOUT_SECS = 120.0  # a worker imports the app and loads its stubs
KILL_MARGIN_SECS = 5.0  # beyond drain delay + grace, before SIGKILL
POLL_SECS = 0.5  # --reload's mtime polling interval
_SKIP_DIRS = {"__pycache__", "node_modules", "venv", "site-packages"}


@dataclass(slots=True)
class Worker:
    """One worker process in slot `slot` (1..N)."""

    slot: int
    process: asyncio.subprocess.Process
    started: float = field(default_factory=time.monotonic)
    retiring: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


def supervise(options: ServeOptions) -> int:
    """Run the supervisor until SIGTERM or SIGINT; returns the exit code."""
    return asyncio.run(Supervisor(options).run())


class Supervisor:
    """Starts, watches, replaces and drains the workers of one `cello serve`."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.count = max(options.workers, 1)
        self.settings: dict[str, Any] = {}
        self.workers: dict[int, Worker] = {}
        self.stopping = asyncio.Event()
        self._reserved: list[socket.socket] = []
        self._replacing = asyncio.Lock()
        self._watchers: set[asyncio.Task[Any]] = set()
        self._children: set[asyncio.subprocess.Process] = set()
        self._metrics: Any = None  # the metrics port's MetricsServer
        self._metrics_dir: str | None = None  # made here, removed at exit

    async def run(self) -> int:
        code = await self._prepare()
        if code:
            return code
        self._reserve_ports()
        self._serve_metrics()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._on_hangup)
        try:
            started = await asyncio.gather(
                *(self._start(slot) for slot in range(1, self.count + 1)), return_exceptions=True
            )
            failed = [r for r in started if isinstance(r, BaseException)]
            if failed:
                report(failed[0], traceback=self.options.traceback)
                self.stopping.set()
            else:
                self._announce()
            reloader = asyncio.create_task(self._reload_loop()) if self.options.reload else None
            await self.stopping.wait()
            if reloader is not None:
                reloader.cancel()
            for task in list(self._watchers):  # a restart or a roll under way
                task.cancel()
            await asyncio.gather(*self._watchers, return_exceptions=True)
            logger.info("draining %d worker(s)", len(self.workers))
            await asyncio.gather(*(self._retire(w) for w in list(self.workers.values())))
            # a worker whose start was interrupted above never joined `workers`
            await asyncio.gather(
                *(self._retire(Worker(0, p)) for p in self._children if p.returncode is None)
            )
            return 2 if failed else 0  # as for any error that stops `cello serve` starting
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            for sock in self._reserved:
                sock.close()
            if self._metrics is not None:
                self._metrics.stop()
            if self._metrics_dir is not None:
                shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _serve_metrics(self) -> None:
        """Serve the workers' summed metrics, when a metrics port is configured."""
        port = self.settings.get("metrics_port")
        if port is None:
            return
        from .._server.metrics import SERVED_BY, start_metrics

        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the user's own dir is kept
            self._metrics_dir = tempfile.mkdtemp(prefix="cello-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
        os.environ[SERVED_BY] = "supervisor"  # the workers inherit both
        try:
            self._metrics = start_metrics(None, self.settings["metrics_host"], port)
        except RuntimeError as exc:
            raise ServeError(f"{exc} (--metrics-port)") from exc
        self.settings["metrics_port"] = self._metrics.port

    def _announce(self) -> None:
        """The startup lines; as for one process, the address comes last."""
        host = self.settings["host"]
        shown = "127.0.0.1" if host in ("[::]", "0.0.0.0", "") else host
        pids = ", ".join(str(w.pid) for w in self.workers.values())
        workers = f"{self.count} worker{'s' if self.count > 1 else ''}"
        if self.settings.get("envoy_version"):  # each worker runs this Envoy in front
            pids += f", transport envoy {self.settings['envoy_version']}"
        print(
            f"cello: serving gRPC with {workers} (pids {pids}) on {shown}:{self.settings['port']}"
        )
        if self.settings["enable_web"]:
            scheme = "https" if self.settings.get("tls") else "http"
            print(
                f"cello: serving gRPC-Web with {workers} on {scheme}://{shown}:{self.settings['web_port']}"
            )
        if self._metrics is not None:
            host = self.settings["metrics_host"]
            print(f"cello: serving metrics on http://{host}:{self._metrics.port}/metrics")
        if self.settings.get("schema"):
            print(f"cello: serving {self.settings['schema']}")
        sys.stdout.flush()

    # -- the children --------------------------------------------------------------------

    def _command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "cello", "serve", *self.options.worker_args(), *extra]

    async def _prepare(self) -> int:
        """Build or check the stubs once, in a child; learn the effective config."""
        if self.options.reload and _project_build() is not None:
            # development: keep the project's `cello-gen build` current, as one would by hand
            build = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cello.codegen.cli", "build"
            )
            if await build.wait():
                return 2  # cello-gen printed why
        o = self.options
        flags = [f"--host={o.host}"] if o.host is not None else []
        flags += [f"--port={o.port}"] if o.port is not None else []
        flags += [f"--web-port={o.web_port}"] if o.web_port is not None else []
        if self.settings:  # once the ports are resolved, keep them
            flags = [f"--host={self.settings['host']}", f"--port={self.settings['port']}"]
            flags.append(f"--web-port={self.settings['web_port']}")
        child = await asyncio.create_subprocess_exec(
            *self._command(*flags, "--prepare"), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await child.communicate()  # its error line goes straight to stderr
        if child.returncode:
            return 2  # it printed why
        self.settings.update(json.loads(out.decode().strip().splitlines()[-1]))
        return 0

    def _reserve_ports(self) -> None:
        self.settings["port"] = self._reserve(self.settings["port"], "--port")
        if self.settings.get("transport") in ONE_PORT:  # one port serves gRPC-Web too
            self.settings["web_port"] = self.settings["port"]
        elif self.settings["enable_web"]:
            self.settings["web_port"] = self._reserve(self.settings["web_port"], "--web-port")

    def _reserve(self, port: int, flag: str) -> int:
        host = str(self.settings["host"]).removeprefix("[").removesuffix("]")
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(address)
        except OSError as exc:
            raise ServeError(
                f"cannot bind {host}:{port}: {exc.strerror or exc}; stop the other server or "
                f"choose another {flag}"
            ) from exc
        self._reserved.append(sock)
        bound: int = sock.getsockname()[1]
        return bound

    async def _start(self, slot: int) -> Worker:
        """Start a worker in `slot` and return once it serves.

        Raises:
            ServeError: it exited or timed out before serving.
        """
        s = self.settings
        ports = [f"--host={s['host']}", f"--port={s['port']}", f"--web-port={s['web_port']}"]
        if s.get("metrics_port") is not None:  # they record; the supervisor serves
            ports.append(f"--metrics-port={s['metrics_port']}")
        read_end, write_end = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._command(*ports, "--worker"),
                pass_fds=(write_end,),
                # CELLO_WORKERS: transport "envoy" splits the cores among the workers' Envoys
                env={
                    **os.environ,
                    "CELLO_READY_FD": str(write_end),
                    "CELLO_WORKERS": str(self.count),
                },
            )
        finally:
            os.close(write_end)
        self._children.add(process)
        try:
            loop = asyncio.get_running_loop()
            reading = loop.run_in_executor(None, _read_to_end, read_end)
            line = await asyncio.wait_for(asyncio.shield(reading), START_TIMEOUT_SECS)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ServeError(
                f"worker {slot} did not serve within {START_TIMEOUT_SECS:.0f}s"
            ) from None
        if not line.startswith("ready"):
            code = await process.wait()
            self._children.discard(process)
            raise ServeError(f"worker {slot} exited with {_exit_reason(code)} before serving")
        worker = Worker(slot, process)
        self.workers[slot] = worker
        task = asyncio.create_task(self._watch(worker))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        # no log line here: the startup lines name every worker's pid, and a restart or a
        # replacement logs its own
        return worker

    async def _watch(self, worker: Worker) -> None:
        """Restart `worker` if it exits without being asked to."""
        code = await worker.process.wait()
        self._children.discard(worker.process)
        if self._metrics is not None:  # its in-flight gauge leaves; its counts stay
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
        if worker.retiring or self.stopping.is_set():
            return
        lived = time.monotonic() - worker.started
        logger.warning(
            "worker %d (pid %d) died with %s; restarting it",
            worker.slot,
            worker.pid,
            _exit_reason(code),
        )
        delay = 0.0 if lived > 10 else min(5.0, 0.5 + 10 - lived)  # a crash loop backs off
        while not self.stopping.is_set():
            await asyncio.sleep(delay)
            async with self._replacing:
                if self.stopping.is_set() or self.workers.get(worker.slot) is not worker:
                    return
                try:
                    new = await self._start(worker.slot)
                except ServeError as exc:
                    logger.error("%s; retrying", exc)
                    delay = 5.0
                    continue
            logger.info(
                "worker %d restarted (pid %d replaces %d)", worker.slot, new.pid, worker.pid
            )
            return

    async def _retire(self, worker: Worker) -> None:
        """SIGTERM `worker`, which drains; SIGKILL it if it outlives the drain."""
        worker.retiring = True
        if worker.process.returncode is None:
            worker.process.send_signal(signal.SIGTERM)
        limit = self.settings["drain_delay_secs"] + self.settings["shutdown_grace_secs"]
        try:
            await asyncio.wait_for(worker.process.wait(), limit + KILL_MARGIN_SECS)
        except TimeoutError:
            logger.error(
                "worker %d (pid %d) outlived its drain; killing it", worker.slot, worker.pid
            )
            worker.process.kill()
            await worker.process.wait()
        if self.workers.get(worker.slot) is worker:
            del self.workers[worker.slot]
        self._children.discard(worker.process)

    # -- rolling restarts ----------------------------------------------------------------

    def _on_hangup(self) -> None:
        if self._replacing.locked():
            logger.info("SIGHUP: a restart is already under way")
            return
        logger.info("SIGHUP: restarting the workers one at a time")
        task = asyncio.create_task(self._roll())
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _roll(self) -> bool:
        """Rebuild the stubs, then replace each worker: start the new one, wait until it
        serves, and only then drain the old one. Keeps the old workers on any failure."""
        async with self._replacing:
            schema = self.settings.get("schema")
            if await self._prepare():
                logger.error("the app does not start; keeping the running workers")
                return False
            for slot in range(1, self.count + 1):
                if self.stopping.is_set():
                    return False
                old = self.workers.get(slot)
                if old is not None:
                    old.retiring = True  # from now on its exit is expected
                try:
                    new = await self._start(slot)
                except ServeError as exc:
                    if old is not None:
                        old.retiring = False
                        self.workers[slot] = old
                    logger.error("%s; keeping the running workers", exc)
                    return False
                if old is not None:
                    await self._retire(old)
                    logger.info("worker %d replaced (pid %d, was %d)", slot, new.pid, old.pid)
            if self.settings.get("schema") != schema:  # e.g. a new build's lock
                logger.info("serving %s", self.settings["schema"])
            return True

    async def _reload_loop(self) -> None:
        """--reload: restart when a .py file under the working directory changes."""
        root = Path.cwd()
        build = _project_build()  # rebuilt on each reload: its files are not sources
        seen = _mtimes(root, build)
        while True:
            await asyncio.sleep(POLL_SECS)
            now = _mtimes(root, build)
            if now == seen:
                continue
            changed = sorted(str(p.relative_to(root)) for p in now.keys() ^ seen.keys())
            changed += sorted(
                str(p.relative_to(root)) for p in now if seen.get(p, now[p]) != now[p]
            )
            seen = now
            logger.info("%s changed; reloading", ", ".join(changed[:3]))
            await self._roll()


def _project_build() -> Path | None:
    """The `[tool.cello] out` folder of the project in the working directory, if any."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        path = folder / "pyproject.toml"
        if path.exists():
            with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
                out = tomllib.loads(path.read_text()).get("tool", {}).get("cello", {}).get("out")
                return (Path.cwd() / out).resolve() if isinstance(out, str) else None
            return None
    return None


def _mtimes(root: Path, skip: Path | None = None) -> dict[Path, float]:
    """The modification time of every .py file under `root`, hidden folders and `skip`
    excepted."""
    found: dict[Path, float] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".") and d not in _SKIP_DIRS and Path(folder, d).resolve() != skip
        ]
        for name in files:
            if name.endswith(".py"):
                path = Path(folder, name)
                with contextlib.suppress(OSError):
                    found[path] = path.stat().st_mtime
    return found


def _read_to_end(fd: int) -> str:
    with os.fdopen(fd, "rb") as pipe:
        return pipe.read().decode(errors="replace")


def _exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"
