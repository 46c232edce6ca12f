"""Plain `def` handlers and sync generators run in the thread pool, over the wire."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from cello import DefinitionError, GrpcError, GrpcService, grpc_method
from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcConfig, GrpcServer

from .sync_services import GATES, SyncShop, Word, gate

# the handler pool's threads; on transport "threads" sync handlers run on the call's own
# worker thread instead
POOL = "cello-grpc" if GrpcConfig().transport == "threads" else "cello-handler"


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sync-stubs")
    assert cello_gen(["build", "tests.runtime.sync_services", "--out", str(out)]) == 0
    sys.path.insert(0, str(out))
    return out


@pytest.fixture
async def server(stubs: Path) -> AsyncIterator[GrpcServer]:
    GATES.clear()
    srv = GrpcServer(
        host="127.0.0.1", port=0, stubs_dir=stubs, config=GrpcConfig(handler_threads=4)
    )
    srv.register_service(SyncShop())
    await srv.start()
    try:
        yield srv
    finally:
        gate("open").set()  # never leave a handler thread waiting
        await srv.stop(0)


@pytest.fixture
async def client(server: GrpcServer) -> AsyncIterator[Any]:
    from synctest.v1.synctest_cello import SyncShopClient  # type: ignore[import-not-found]

    async with grpc.aio.insecure_channel(server.address) as channel:
        yield SyncShopClient(channel)


async def test_def_handler_runs_in_a_pool_thread_and_sees_the_call(client: Any) -> None:
    reply = await client.Echo(Word("hi"), metadata={"x-tag": "t1"})
    assert reply.text == "hi:t1:/synctest.v1.SyncShop/Echo"
    assert reply.thread.startswith(POOL)
    assert reply.thread != threading.current_thread().name


async def test_grpc_error_from_a_def_handler_is_the_status(client: Any) -> None:
    with pytest.raises(GrpcError) as caught:
        await client.Echo(Word("fail"))
    assert (caught.value.code, caught.value.message) == (GrpcError.NOT_FOUND, "no such word")


async def test_a_blocked_def_handler_does_not_block_other_calls(client: Any) -> None:
    blocked = asyncio.create_task(client.Block(Word("slow")))
    assert await asyncio.to_thread(gate("entered").wait, 30)
    # the loop still serves: an async handler and another sync one answer meanwhile
    assert (await client.Ping(Word("x"))).text == "pong x"
    assert (await client.Echo(Word("y"))).text.startswith("y:")
    assert not blocked.done()
    gate("open").set()
    assert (await blocked).text == "slow:True"


async def test_sync_generator_streams_from_a_pool_thread(client: Any) -> None:
    words = [w async for w in client.Spell(Word("abc"))]
    assert [w.text for w in words] == ["a", "b", "c"]
    assert {w.thread for w in words} and all(w.thread.startswith(POOL) for w in words)


async def test_cancelled_stream_closes_the_generator(server: GrpcServer) -> None:
    from synctest.v1 import synctest_pb2  # type: ignore[import-not-found]

    async with grpc.aio.insecure_channel(server.address) as channel:
        call = channel.unary_stream(
            "/synctest.v1.SyncShop/Endless",
            request_serializer=synctest_pb2.Word.SerializeToString,
            response_deserializer=synctest_pb2.Word.FromString,
        )(synctest_pb2.Word(text="go"))
        first = await call.read()
        assert (first.text, first.thread) == ("1", "/synctest.v1.SyncShop/Endless")
        call.cancel()
    assert await asyncio.to_thread(gate("closed").wait, 30)


async def test_a_def_handler_sees_cancellation(server: GrpcServer) -> None:
    from synctest.v1 import synctest_pb2

    async with grpc.aio.insecure_channel(server.address) as channel:
        call = channel.unary_unary(
            "/synctest.v1.SyncShop/WaitForCancel",
            request_serializer=synctest_pb2.Word.SerializeToString,
            response_deserializer=synctest_pb2.Word.FromString,
        )(synctest_pb2.Word(text="go"))
        assert await asyncio.to_thread(gate("entered").wait, 30)
        call.cancel()
    assert await asyncio.to_thread(gate("saw-cancel").wait, 30)


def test_handler_threads_is_validated() -> None:
    with pytest.raises(ValueError, match="handler_threads"):
        GrpcConfig(handler_threads=0)


def test_sync_client_streaming_is_refused() -> None:
    from collections.abc import AsyncIterator as AI

    with pytest.raises(DefinitionError, match="must be `async def`"):

        class Bad(GrpcService):
            @grpc_method(client_stream=True)
            def Upload(self, words: AI[Word]) -> Word:
                return Word()
