"""One connection's share of the concurrency limit (issue 24): `max_calls_per_connection`."""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio
import pytest

from cello import GrpcConfig
from tests.runtime.call_services import event
from tests.runtime.ports import start

from .raw import SERVICE

HELLO = f"{SERVICE}/Hello"
SLOW = b"\x0a\x04slow"  # Note(text="slow"): waits for the "release" event
QUICK = b"\x0a\x05quick"


@pytest.mark.parametrize("transport", ["aio", "threads", "h2"])
async def test_one_connection_cannot_take_the_whole_limit(transport: str) -> None:
    server = await start(transport=transport, concurrency_limit=4, enable_web=False, web_port=8080)
    assert server.config.calls_per_connection == 2  # half of the limit, by default
    try:
        async with (
            grpc.aio.insecure_channel(server.address) as greedy,
            grpc.aio.insecure_channel(
                server.address, options=[("grpc.use_local_subchannel_pool", 1)]
            ) as other,
        ):
            hello = greedy.unary_unary(HELLO)
            held = [asyncio.ensure_future(hello(SLOW, timeout=20)) for _ in range(2)]
            refused = None
            for _ in range(200):  # until both slow calls are in their handlers
                try:
                    await hello(QUICK, timeout=5)
                except grpc.aio.AioRpcError as exc:
                    refused = exc
                    break
                await asyncio.sleep(0.02)
            assert refused is not None
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "this connection" in (refused.details() or "")
            # another connection still has the rest of the limit
            assert (await other.unary_unary(HELLO)(QUICK, timeout=5)).startswith(QUICK)
            event("release").set()
            await asyncio.gather(*held)
    finally:
        await server.stop(0)


def test_the_share_is_checked_and_documented() -> None:
    assert GrpcConfig(concurrency_limit=100).calls_per_connection == 50
    assert GrpcConfig(concurrency_limit=1).calls_per_connection == 1
    assert GrpcConfig(transport="threads", handler_threads=16).calls_per_connection == 8
    assert GrpcConfig(max_calls_per_connection=100).calls_per_connection == 100
    with pytest.raises(ValueError, match="GrpcConfig.max_calls_per_connection must be between"):
        GrpcConfig(concurrency_limit=10, max_calls_per_connection=11)


@pytest.mark.parametrize("transport", ["aio", "h2"])
async def test_a_burst_of_quick_calls_on_one_channel_all_succeed(transport: str) -> None:
    """The stream limits against rapid reset leave room for an ordinary burst: quick calls
    never hold their share for long, and streams just ended are not refused."""
    server = await start(transport=transport, enable_web=False, web_port=8080)
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            hello = channel.unary_unary(HELLO)
            replies = await asyncio.gather(*[hello(QUICK, timeout=20) for _ in range(1000)])
            assert all(reply.startswith(QUICK) for reply in replies)
    finally:
        await server.stop(0)
