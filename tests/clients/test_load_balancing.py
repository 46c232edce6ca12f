"""`load_balancing="round_robin"` over three Cello servers: spread, failover, recovery."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cello import RetryPolicy
from cello.grpc import GrpcServer
from cello.testing import serve

from .resilience_services import Replica, Word

# reconnect soon after a server comes back (grpc's default first backoff is 1 s, then more)
_FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 200),
]


async def _replica(name: str, port: int = 0) -> GrpcServer:
    server = GrpcServer(host="127.0.0.1", port=port)
    server.register_service(Replica(name))
    await server.start()
    return server


@pytest.fixture
async def replicas() -> AsyncIterator[list[GrpcServer]]:
    servers = [await _replica(name) for name in "abc"]
    yield servers
    for server in servers:
        await server.stop(0)


async def _names(client: Any, calls: int) -> Counter[str]:
    return Counter([(await client.Name(Word(), timeout=5)).text for _ in range(calls)])


async def test_round_robin_spreads_fails_over_and_recovers(replicas: list[GrpcServer]) -> None:
    target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in replicas)
    async with serve(Replica("local")) as srv:
        client_class = type(srv.client(Replica))
    retry = RetryPolicy(max_attempts=5, initial_backoff=0.05)
    async with client_class.connect(
        target, load_balancing="round_robin", retry=retry, options=_FAST_RECONNECT
    ) as client:
        await _names(client, 3)  # let every subchannel connect
        spread = await _names(client, 30)
        assert set(spread) == {"a", "b", "c"} and min(spread.values()) >= 5, spread

        # b drains (NOT_SERVING for a while, then closes) while calls go on: none fails
        port = replicas[1].port
        stopping = asyncio.create_task(replicas[1].stop(0.5, drain_delay=0.5))
        during = await _names(client, 60)
        await stopping
        after = await _names(client, 30)
        assert set(after) == {"a", "c"}, after
        assert sum(during.values()) == 60

        # a restarted b gets its share back
        replicas[1] = await _replica("b", port)
        for _ in range(50):
            if "b" in await _names(client, 6):
                break
            await asyncio.sleep(0.1)
        back = await _names(client, 30)
        assert set(back) == {"a", "b", "c"}, back


async def test_a_killed_server_costs_no_call_under_retry(replicas: list[GrpcServer]) -> None:
    target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in replicas)
    async with serve(Replica("local")) as srv:
        client_class = type(srv.client(Replica))
    retry = RetryPolicy(max_attempts=5, initial_backoff=0.05)
    async with client_class.connect(target, load_balancing="round_robin", retry=retry) as client:
        await _names(client, 6)
        calls = [asyncio.create_task(_names(client, 20)) for _ in range(5)]
        await asyncio.sleep(0.05)
        await replicas[2].stop(0)  # no drain: in-flight calls to it are cancelled
        seen = sum([await c for c in calls], Counter())
    assert sum(seen.values()) == 100


async def test_a_server_reporting_not_serving_gets_no_calls(replicas: list[GrpcServer]) -> None:
    target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in replicas)
    async with serve(Replica("local")) as srv:
        client_class = type(srv.client(Replica))
    async with client_class.connect(target, load_balancing="round_robin") as client:
        assert set(await _names(client, 30)) == {"a", "b", "c"}
        # c reports NOT_SERVING (grpc.health.v1 Watch) for 3 s while still serving
        stopping = asyncio.create_task(replicas[2].stop(0, drain_delay=3))
        await asyncio.sleep(0.5)
        during = await _names(client, 30)
        await stopping
    assert set(during) == {"a", "b"}, during
