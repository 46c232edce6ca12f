"""Client middleware on every Cello client and call shape: the ready-made pieces, over the wire."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cello import (
    ClientCall,
    GrpcChannel,
    GrpcError,
    SyncGrpcChannel,
    bearer_token,
    client_access_log,
    map_status,
)
from cello.codegen.cli import main as cello_gen
from cello.testing import ServerUnderTest, serve

from .resilience_services import Word, Words


class WordMissing(GrpcError):
    """A typed error for NOT_FOUND."""


class Refused(Exception):
    """Not a GrpcError: gets the message, with the GrpcError as its cause."""


@pytest.fixture
async def words() -> AsyncIterator[tuple[ServerUnderTest, Words]]:
    service = Words()
    async with serve(service) as srv:
        yield srv, service


def _tokens(issued: list[str]) -> Any:
    """get_token() handing out `stale` first, then `fresh`."""

    def get_token() -> str:
        issued.append("stale" if not issued else "fresh")
        return issued[-1]

    return get_token


async def test_typed_client_middleware_sees_every_call_shape(
    words: tuple[ServerUnderTest, Words],
) -> None:
    srv, service = words
    seen: list[tuple[str, bool, bool, float | None]] = []

    async def record(call: ClientCall, call_next: Any) -> Any:
        seen.append((call.method, call.client_streaming, call.server_streaming, call.timeout))
        call.metadata.append(("authorization", "Bearer fresh"))
        return await call_next()

    cls = type(srv.client(Words))
    async with cls.connect(srv.server.address, middleware=[record]) as client:
        assert (await client.Whoami(Word(), timeout=5)).text == "Bearer fresh"
        assert [w.text async for w in client.Spell(Word("ab"))] == ["a", "b"]
        assert (await client.Join([Word("a"), Word("b")])).text == "ab"
        assert [w.text async for w in client.Shout([Word("x")])] == ["X"]
    methods = [(m.rsplit("/", 1)[1], cs, ss) for m, cs, ss, _ in seen]
    assert methods == [
        ("Whoami", False, False),
        ("Spell", False, True),
        ("Join", True, False),
        ("Shout", True, True),
    ]
    assert seen[0][3] is not None and 4 < seen[0][3] <= 5  # the deadline, as seconds left
    assert service.tokens == ["Bearer fresh"] * 4


async def test_bearer_token_refreshes_once_when_refused(
    words: tuple[ServerUnderTest, Words],
) -> None:
    srv, service = words
    issued: list[str] = []
    cls = type(srv.client(Words))
    async with cls.connect(srv.server.address, middleware=[bearer_token(_tokens(issued))]) as c:
        assert (await c.Whoami(Word())).text == "Bearer fresh"
        assert (await c.Whoami(Word())).text == "Bearer fresh"  # kept, not fetched again
    assert issued == ["stale", "fresh"]
    assert service.tokens == ["Bearer stale", "Bearer fresh", "Bearer fresh"]


async def test_a_refused_stream_drops_the_token_for_the_next_call(
    words: tuple[ServerUnderTest, Words],
) -> None:
    srv, _ = words
    issued: list[str] = []
    cls = type(srv.client(Words))
    async with cls.connect(srv.server.address, middleware=[bearer_token(_tokens(issued))]) as c:
        with pytest.raises(GrpcError) as refused:
            [w async for w in c.Spell(Word("ab"))]
        assert refused.value.code == GrpcError.UNAUTHENTICATED
        assert [w.text async for w in c.Spell(Word("ab"))] == ["a", "b"]
    assert issued == ["stale", "fresh"]


async def test_bearer_token_async_get_token_and_ttl(words: tuple[ServerUnderTest, Words]) -> None:
    srv, service = words
    fetched = 0

    async def get_token() -> str:
        nonlocal fetched
        fetched += 1
        return "fresh"

    async with await GrpcChannel.connect(
        srv.server.address, raise_on_error=True, middleware=[bearer_token(get_token, ttl=0)]
    ) as channel:
        reply = await channel.call("Words", "Whoami", {})
        await channel.call("Words", "Whoami", {})
    assert reply.data == {"text": "Bearer fresh"}
    assert fetched == 2  # ttl=0: fetched for each call


async def test_map_status_raises_typed_errors_with_details(
    words: tuple[ServerUnderTest, Words],
) -> None:
    srv, _ = words
    mapping = map_status({GrpcError.NOT_FOUND: WordMissing, GrpcError.UNAUTHENTICATED: Refused})
    cls = type(srv.client(Words))
    async with cls.connect(srv.server.address, middleware=[mapping]) as client:
        with pytest.raises(WordMissing) as missing:
            await client.Missing(Word("zz"))
        with pytest.raises(Refused) as refused:
            await client.Whoami(Word())
        with pytest.raises(Refused):  # a stream's error is mapped too
            [w async for w in client.Spell(Word("boom"))]
    assert missing.value.code == GrpcError.NOT_FOUND
    assert missing.value.message == "no word 'zz'"
    assert missing.value.details[0].reason == "NO_WORD"
    assert isinstance(refused.value.__cause__, GrpcError)
    assert "refused" in str(refused.value)


async def test_client_access_log_one_line_per_call(
    words: tuple[ServerUnderTest, Words], caplog: pytest.LogCaptureFixture
) -> None:
    srv, _ = words
    caplog.set_level(logging.INFO, logger="cello.client")
    token = bearer_token(lambda: "fresh")
    cls = type(srv.client(Words))
    async with cls.connect(srv.server.address, middleware=[client_access_log(), token]) as c:
        await c.Whoami(Word())
        assert [w.text async for w in c.Spell(Word("ab"))] == ["a", "b"]
        with pytest.raises(GrpcError):
            [w async for w in c.Spell(Word("boom"))]
        with pytest.raises(GrpcError):
            await c.Missing(Word())
    lines = [r.getMessage().rsplit(" ", 1)[0] for r in caplog.records]
    assert lines == [
        "call /resilience.v1.Words/Whoami OK",
        "call /resilience.v1.Words/Spell OK",
        "call /resilience.v1.Words/Spell NOT_FOUND",
        "call /resilience.v1.Words/Missing NOT_FOUND",
    ]


async def test_a_middleware_may_answer_without_sending(
    words: tuple[ServerUnderTest, Words],
) -> None:
    srv, service = words

    async def cached(call: ClientCall, call_next: Any) -> Any:
        return call.request  # the request message, echoed back as the response

    async with await GrpcChannel.connect(srv.server.address, middleware=[cached]) as channel:
        reply = await channel.call("Words", "Whoami", {"text": "local"})
    assert reply.data == {"text": "local"} and service.tokens == []


def test_sync_grpc_channel_runs_the_ready_made_middleware(
    words_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cello.client")
    issued: list[str] = []
    middleware = [client_access_log(), bearer_token(_tokens(issued))]
    with SyncGrpcChannel.connect(words_address, middleware=middleware) as channel:
        assert channel.call("Words", "Whoami", {}).data == {"text": "Bearer fresh"}
        assert [w["text"] for w in channel.stream("Words", "Spell", {"text": "ab"})] == ["a", "b"]
    assert issued == ["stale", "fresh"]
    # the log is outermost: the refused first try and its retry are one call to it
    assert [r.getMessage().split()[2] for r in caplog.records] == ["OK", "OK"]


@pytest.fixture
def words_address() -> Any:
    """A Words server on its own loop thread, for blocking clients called from the test."""
    loop = asyncio.new_event_loop()
    manager = serve(Words())
    srv = loop.run_until_complete(manager.__aenter__())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield srv.server.address
    finally:
        asyncio.run_coroutine_threadsafe(manager.__aexit__(None, None, None), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_a_blocking_client_refuses_async_middleware() -> None:
    from cello._client.calls import CallPlan

    async def mw(call: ClientCall, call_next: Any) -> Any:
        return await call_next()

    with pytest.raises(TypeError, match=r"Demo: middleware .* is async, but this client blocks"):
        CallPlan("Demo", middleware=[mw], sync=True)


# a standalone client (`cello-gen build --client`) in its own process, async then blocking
_STANDALONE = """
import asyncio, sys
from cello import GrpcError, bearer_token, client_access_log, map_status
from resilience.v1 import resilience_client as c

class Missing(GrpcError):
    pass

issued = []
def get_token():
    issued.append("stale" if not issued else "fresh")
    return issued[-1]

def sync_mw(call, call_next):
    call.metadata.append(("x-sync", "1"))
    return call_next()

async def main():
    mw = [map_status({GrpcError.NOT_FOUND: Missing}), bearer_token(get_token)]
    async with c.WordsClient.connect(sys.argv[1], middleware=mw) as client:
        print((await client.Whoami(c.Word())).text)
        print("".join([w.text async for w in client.Spell(c.Word("hi"))]))
        try:
            await client.Missing(c.Word("x"))
        except Missing as exc:
            print("Missing", exc.details[0].reason)

asyncio.run(main())
with c.WordsSyncClient.connect(sys.argv[1], middleware=[sync_mw, bearer_token(get_token)]) as s:
    print(s.Whoami(c.Word()).text)
    print("".join(w.text for w in s.Spell(c.Word("yo"))))
print(issued)
"""


async def test_standalone_clients_run_middleware(
    tmp_path: Path, words: tuple[ServerUnderTest, Words]
) -> None:
    srv, _ = words
    out, client = tmp_path / "generated", tmp_path / "client"
    args = ["build", "tests.clients.resilience_services", "--out", str(out), "--client"]
    assert cello_gen([*args, str(client)]) == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(client), *sys.path])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _STANDALONE, srv.server.address,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    assert stdout.decode().splitlines() == [
        "Bearer fresh",
        "hi",
        "Missing NO_WORD",
        "Bearer fresh",
        "yo",
        "['stale', 'fresh', 'fresh']",  # the blocking client's own bearer_token fetched once
    ]
