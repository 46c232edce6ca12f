"""`cello serve` run as a real process, and a raw gRPC client for the `whoami` app."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.protobuf.wrappers_pb2 import Int64Value

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.deploy.whoami:app"
# the startup lines, address last: `cello serve --workers`, and one process (plain or TLS)
SUPERVISOR_LINE = r"serving gRPC with \d+ workers? \(pids ([\d, ]+)\) on [\d.]+:(\d+)$"
SUPERVISOR_WEB_LINE = r"serving gRPC-Web with \d+ workers? on http://[\d.]+:(\d+)$"
SINGLE_LINE = r"serving gRPC (?:\([^)]*\) )?on 127\.0\.0\.1:(\d+)$"
# grpc shares connections between channels with equal options; tests want their own
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
# the client retry policy docs/deploy.md recommends: grpc.aio kills the calls that reach a
# server after its shutdown began and before the client read its GOAWAY (CANCELLED, or
# UNAVAILABLE through a proxy); no handler ever saw them, so a retry is safe
RETRY_ON_DRAIN = [
    (
        "grpc.service_config",
        json.dumps(
            {
                "methodConfig": [
                    {
                        "name": [{}],
                        "retryPolicy": {
                            "maxAttempts": 4,
                            "initialBackoff": "0.05s",
                            "maxBackoff": "0.5s",
                            "backoffMultiplier": 2,
                            "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"],
                        },
                    }
                ]
            }
        ),
    )
]


class Served:
    """A running `cello serve`: its ports and its log, read as it is written."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.port = 0
        self.web_port = 0
        self.pids: list[int] = []
        self._changed = asyncio.Condition()
        self._readers = [
            asyncio.create_task(self._read(stream))
            for stream in (process.stdout, process.stderr)
            if stream is not None
        ]

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            async with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self._changed.notify_all()

    async def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first log line matching `pattern` (waiting for it)."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            return next((m for line in self.lines if (m := regex.search(line))), None)

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(found), timeout)
            except TimeoutError:
                log = "\n".join(self.lines[-40:])
                raise AssertionError(f"no line matching {pattern!r} in:\n{log}") from None
        match = found()
        assert match is not None
        return match

    async def started(self, *, web: bool = True) -> Served:
        line = await self.wait_for(SUPERVISOR_LINE)
        self.pids = [int(p) for p in line.group(1).split(", ")]
        self.port = int(line.group(2))
        if web:
            line = await self.wait_for(SUPERVISOR_WEB_LINE)
            self.web_port = int(line.group(1))
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    async def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.exited(timeout)

    async def exited(self, timeout: float = 60) -> int:
        """The exit code, once the process ended by itself."""
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.gather(*self._readers)
        return code


async def cello_serve(*args: str, cwd: Path = ROOT) -> Served:
    """Start `python -m cello serve ARGS` with this worktree importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(cwd)])}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cello",
        "serve",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return Served(process)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """Start `cello serve` processes; every one still running is killed at the end."""
    started: list[Served] = []

    async def start(*args: str, cwd: Path = ROOT) -> Served:
        served = await cello_serve(*args, cwd=cwd)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.process.returncode is None:
            served.process.kill()
        await served.stop()


def whoami(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable:
    """`WhoService.Whoami`: the pid of the process that answers (raw, no stubs needed)."""
    return channel.unary_unary(
        "/deploy.v1.WhoService/Whoami",
        request_serializer=lambda _: b"",
        response_deserializer=Int64Value.FromString,
    )


def sleep(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable:
    """`WhoService.Sleep(ms)`: answers with the pid after `ms` milliseconds."""
    return channel.unary_unary(
        "/deploy.v1.WhoService/Sleep",
        request_serializer=lambda ms: Int64Value(value=ms).SerializeToString(),
        response_deserializer=Int64Value.FromString,
    )


async def pid_of(address: str) -> int:
    """The pid answering a new connection to `address`."""
    async with grpc.aio.insecure_channel(address, options=OWN_CONNECTION) as channel:
        reply = await whoami(channel)(None, timeout=10)
    return int(reply.value)
