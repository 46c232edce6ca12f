"""`cello serve` says what it serves once: each startup line on stdout, none repeated in the
log, in one process and under the `--workers` supervisor."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import pytest

from .conftest import APP, Served, pid_of

Serve = Callable[..., Awaitable[Served]]

SCHEMA = "cello: serving schema generated on the fly"
STARTUP = {
    "one-process": (
        [],
        [
            r"^cello: serving gRPC \(plaintext, this machine only\) on 127\.0\.0\.1:\d+$",
            r"^cello: serving gRPC-Web \(plaintext, this machine only\) on http://127\.0\.0\.1:\d+$",
            rf"^{SCHEMA} ",
        ],
    ),
    "workers": (
        ["--workers", "2"],
        [
            r"^cello: serving gRPC with 2 workers \(pids \d+, \d+\) on 127\.0\.0\.1:\d+$",
            r"^cello: serving gRPC-Web with 2 workers on http://127\.0\.0\.1:\d+$",
            rf"^{SCHEMA} ",
        ],
    ),
}


@pytest.mark.parametrize("mode", STARTUP, ids=list(STARTUP))
async def test_each_startup_line_is_printed_once(serve: Serve, mode: str) -> None:
    flags, expected = STARTUP[mode]
    served = await serve(APP, "--port", "0", "--web-port", "0", *flags)
    grpc_line = await served.wait_for(r" on 127\.0\.0\.1:(\d+)$")
    await served.wait_for(SCHEMA)
    address = f"127.0.0.1:{grpc_line.group(1)}"
    for _ in range(4):  # every worker serves, so every worker has said what it would say
        await pid_of(address)
    await asyncio.sleep(1)  # and stdout and stderr, two pipes, are both read
    startup = list(served.lines)
    assert await served.stop() == 0
    assert len(startup) == len(expected), "\n".join(startup)
    for line, pattern in zip(startup, expected, strict=True):
        assert re.search(pattern, line), (pattern, startup)
    assert sum("serving" in line for line in served.lines) == len(expected), served.lines
