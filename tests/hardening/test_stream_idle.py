"""`GrpcConfig.stream_idle_timeout`: a stream whose client neither sends nor reads is
cancelled (issue 24), on every transport."""

from __future__ import annotations

import asyncio
import time

import grpc
import grpc.aio
import pytest

from tests.runtime.ports import start

from .raw import SERVICE

# not "threads": there a request read blocks the call's thread inside grpc's iterator, out
# of the loop's reach (docs/security.md, known limits)
TRANSPORTS = ["aio", "h2"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_client_stream_that_sends_nothing_is_cancelled(transport: str) -> None:
    server = await start(
        transport=transport, stream_idle_timeout=1.0, enable_web=False, web_port=8080
    )
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            collect = channel.stream_unary(f"{SERVICE}/Collect")

            async def silent():  # type: ignore[no-untyped-def]
                await asyncio.sleep(30)
                yield b""

            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await collect(silent(), timeout=20)
            assert info.value.code() == grpc.StatusCode.CANCELLED
            assert "stream_idle_timeout" in (info.value.details() or "")
            assert time.monotonic() - started < 5
    finally:
        await server.stop(0)
