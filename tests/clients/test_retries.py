"""Retry and hedging policies, compiled to grpc's service config, against a server that
counts the attempts it saw."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cello import GrpcError, HedgingPolicy, RetryPolicy
from cello._client.policy import ChannelPolicy, RpcInfo, service_config
from cello.testing import ServerUnderTest, serve

from .resilience_services import Flaky, Word

Served = tuple[ServerUnderTest, Flaky]


@pytest.fixture
async def flaky() -> AsyncIterator[Served]:
    service = Flaky(failures=2)
    async with serve(service) as srv:
        yield srv, service


def _client(srv: ServerUnderTest, **options: Any) -> Any:
    return type(srv.client(Flaky)).connect(srv.server.address, **options)


async def test_an_idempotent_rpc_is_retried_until_it_succeeds(flaky: Served) -> None:
    srv, service = flaky
    async with _client(srv, retry=RetryPolicy(max_attempts=4, initial_backoff=0.01)) as client:
        assert (await client.Read(Word("a"))).text == "a:3"
    assert service.attempts["read a"] == 3


async def test_retries_stop_at_max_attempts(flaky: Served) -> None:
    srv, service = flaky
    async with _client(srv, retry=RetryPolicy(max_attempts=2, initial_backoff=0.01)) as client:
        with pytest.raises(GrpcError) as failed:
            await client.Read(Word("b"))
    assert failed.value.code == GrpcError.UNAVAILABLE and service.attempts["read b"] == 2


async def test_a_non_idempotent_rpc_is_never_retried(flaky: Served) -> None:
    srv, service = flaky
    async with _client(srv, retry=RetryPolicy(max_attempts=5, initial_backoff=0.01)) as client:
        with pytest.raises(GrpcError):
            await client.Write(Word("c"))
    assert service.attempts["write c"] == 1


async def test_without_a_policy_nothing_is_retried(flaky: Served) -> None:
    srv, service = flaky
    async with _client(srv) as client:
        with pytest.raises(GrpcError):
            await client.Read(Word("d"))
    assert service.attempts["read d"] == 1


async def test_a_policy_per_method(flaky: Served) -> None:
    srv, service = flaky
    retry = {"Read": RetryPolicy(max_attempts=3, initial_backoff=0.01), "*": None}
    async with _client(srv, retry=retry) as client:
        assert (await client.Read(Word("e"))).text == "e:3"


async def test_naming_a_non_idempotent_rpc_is_refused(flaky: Served) -> None:
    srv, _ = flaky
    with pytest.raises(ValueError, match=r"resilience.v1.Flaky.Write, which is not idempotent"):
        _client(srv, retry={"Write": RetryPolicy()})


async def test_hedging_answers_from_the_second_copy(flaky: Served) -> None:
    srv, service = flaky
    hedging = HedgingPolicy(max_attempts=2, delay=0.1)
    async with _client(srv, retry=hedging) as client:
        start = time.monotonic()
        reply = await client.Slow(Word("h"), timeout=10)
        took = time.monotonic() - start
    assert service.attempts["slow h"] == 2
    assert reply.text == "h:2" and took < 3


async def test_hedging_sends_the_next_copy_at_once_after_a_non_fatal_failure(
    flaky: Served,
) -> None:
    srv, service = flaky
    async with _client(srv, retry=HedgingPolicy(max_attempts=3, delay=5)) as client:
        start = time.monotonic()
        assert (await client.Read(Word("n"))).text == "n:3"
        assert time.monotonic() - start < 3  # no 5 s delay between copies
    assert service.attempts["read n"] == 3


async def test_hedging_never_copies_a_non_idempotent_rpc(flaky: Served) -> None:
    srv, service = flaky
    async with _client(srv, retry=HedgingPolicy(max_attempts=3, delay=0)) as client:
        with pytest.raises(GrpcError):
            await client.Write(Word("w"))
    assert service.attempts["write w"] == 1


def test_the_service_config_json() -> None:
    rpcs = [RpcInfo("p.S", "Get", "get", True), RpcInfo("p.S", "Put", "put", False)]
    config = json.loads(
        service_config("S", rpcs, ChannelPolicy(retry=RetryPolicy(), load_balancing="round_robin"))
        or ""
    )
    assert config == {
        "methodConfig": [
            {
                "name": [{"service": "p.S", "method": "Get"}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2.0,
                    "retryableStatusCodes": ["UNAVAILABLE", "ABORTED", "CANCELLED"],
                },
            }
        ],
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
        "loadBalancingConfig": [{"round_robin": {}}],
    }
