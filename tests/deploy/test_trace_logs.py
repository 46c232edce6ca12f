"""`cello serve --tracing --access-log --log-format json`: the access line of a call that
carried a W3C `traceparent` names its trace, as JSON fields and in the text line."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import grpc.aio
import pytest

from .conftest import APP, SINGLE_LINE, Served, whoami

Serve = Callable[..., Awaitable[Served]]
TRACE_ID = "5b8efff798038103d269b633813fc60c"
TRACEPARENT = f"00-{TRACE_ID}-eee19b7ec3c1b174-01"


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_the_access_line_carries_the_trace(serve: Serve, log_format: str) -> None:
    served = await serve(APP, "--tracing", "--access-log", "--log-format", log_format)
    port = int((await served.wait_for(SINGLE_LINE)).group(1))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await whoami(channel)(None, timeout=10, metadata=(("traceparent", TRACEPARENT),))
    line = await served.wait_for(r".*Whoami OK.*")
    if log_format == "json":
        entry = json.loads(line.group(0))
        assert entry["trace_id"] == TRACE_ID
        assert len(entry["span_id"]) == 16
    else:
        assert f"trace_id={TRACE_ID} span_id=" in line.group(0)
    assert await served.stop() == 0
