"""Calls made inside a handler inherit its deadline (less the margin) and cancellation, and
forward only the metadata keys asked for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cello import ClientCall, GrpcChannel, SyncGrpcChannel, current_call
from cello._client.propagation import DEADLINE_MARGIN
from cello.testing import ServerUnderTest, serve

from .resilience_services import Back, Front, Word

Served = tuple[ServerUnderTest, Front, Back]


@pytest.fixture
async def relay() -> AsyncIterator[Served]:
    front, back = Front(), Back()
    async with serve(front, back) as srv:
        yield srv, front, back


async def _back_client(srv: ServerUnderTest, **options: Any) -> Any:
    return await type(srv.client(Back)).connect(srv.server.address, **options)


async def test_an_outgoing_call_inherits_the_remaining_deadline(relay: Served) -> None:
    srv, front, _ = relay
    gaps: list[tuple[bool, float]] = []

    async def measure(call: ClientCall, call_next: Any) -> Any:
        incoming = current_call().time_remaining()  # the middleware runs in the handler
        if incoming is not None and call.timeout is not None:
            gaps.append((call.inherited, incoming - call.timeout))
        return await call_next()

    front.back = await _back_client(srv, middleware=[measure])
    try:
        seen = await srv.client(Front).Relay(Word(), timeout=0.9)
        none = await srv.client(Front).Relay(Word())
    finally:
        await front.back.close()
    [(inherited, gap)] = gaps
    assert inherited and DEADLINE_MARGIN - 0.001 < gap < DEADLINE_MARGIN + 0.005
    # over the wire, grpc-timeout is rounded up (the caller's own end stays exact)
    assert 0.5 < seen.remaining <= 1.0
    assert none.remaining == -1  # no deadline came in, none goes out


async def test_metadata_is_forwarded_only_when_asked(relay: Served) -> None:
    srv, front, _ = relay
    sent = {"x-request-id": "r-1", "authorization": "Bearer secret"}
    front.back = await _back_client(srv)
    try:
        plain = await srv.client(Front).Relay(Word(), metadata=sent)
    finally:
        await front.back.close()
    front.back = await _back_client(srv, propagate=("X-Request-Id",))
    try:
        asked = await srv.client(Front).Relay(Word(), metadata=sent)
    finally:
        await front.back.close()
    assert "x-request-id" not in plain.metadata and "authorization" not in plain.metadata
    assert asked.metadata.get("x-request-id") == "r-1"
    assert "authorization" not in asked.metadata  # credentials never leak by default


async def test_detached_calls_inherit_nothing(relay: Served) -> None:
    srv, front, _ = relay
    front.back = await _back_client(srv, propagate=("x-request-id",))
    try:
        seen = await srv.client(Front).Relay(
            Word("detached"), timeout=3, metadata={"x-request-id": "r-2"}
        )
    finally:
        await front.back.close()
    assert seen.remaining == -1 and "x-request-id" not in seen.metadata


async def test_cancelling_the_incoming_call_cancels_the_outgoing_one(relay: Served) -> None:
    srv, front, back = relay
    front.back = await _back_client(srv)
    try:
        call = asyncio.create_task(srv.client(Front).HangThrough(Word()))
        await asyncio.wait_for(back.started.wait(), 5)
        call.cancel()
        await asyncio.wait_for(back.cancelled.wait(), 5)
    finally:
        await front.back.close()


async def test_grpc_channel_and_a_blocking_handler_propagate_too(relay: Served) -> None:
    srv, front, _ = relay
    front.back_sync = await asyncio.to_thread(
        SyncGrpcChannel.connect, srv.server.address, propagate=("x-request-id",)
    )
    try:
        async with await GrpcChannel.connect(srv.server.address, raise_on_error=True) as channel:
            reply = await channel.call(
                "Front", "RelaySync", {}, timeout=3, metadata={"x-request-id": "r-3"}
            )
    finally:
        await asyncio.to_thread(front.back_sync.close)
    assert 2 < reply.data["remaining"] <= 3.1  # rounded up to 100 ms above a second
    assert reply.data["metadata"]["x-request-id"] == "r-3"


def test_propagate_must_be_keys_not_one_string() -> None:
    from cello._client.propagation import Propagation

    with pytest.raises(
        TypeError, match=r"pass a tuple of metadata keys, e.g. propagate=\('x-id',\)"
    ):
        Propagation.of("Demo", "x-id")
