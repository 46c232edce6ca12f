"""Every Cello client kind (async/blocking, in-process/standalone, typed/dict) connects with
the same options and fails with the same `GrpcError`, details included."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cello import GrpcChannel, GrpcError, SyncGrpcChannel, bearer_token
from cello._client.typed import StubClient
from cello.client import AsyncClient, SyncClient
from cello.codegen.cli import main as cello_gen
from cello.testing import ServerUnderTest, serve

from .resilience_services import Word, Words

SHARED = (
    "target",
    "tls",
    "credentials",
    "options",
    "timeout",
    "max_message_size",
    "middleware",
    "propagate",
    "compression",
    "tracing",
)
TYPED_ONLY = ("retry", "load_balancing")  # need to know each rpc's idempotency at connect
DICT_ONLY = ("raise_on_error", "local_stubs")

CONNECTS: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
    "in-process async typed": (StubClient.connect, TYPED_ONLY),
    "standalone async typed": (AsyncClient.connect, TYPED_ONLY),
    "standalone blocking typed": (SyncClient.connect, TYPED_ONLY),
    "GrpcChannel": (GrpcChannel.connect, DICT_ONLY),
    "SyncGrpcChannel": (SyncGrpcChannel.connect, DICT_ONLY),
}


@pytest.mark.parametrize("kind", list(CONNECTS), ids=list(CONNECTS))
def test_connect_takes_the_same_options(kind: str) -> None:
    connect, extra = CONNECTS[kind]
    parameters = inspect.signature(connect).parameters
    assert set(parameters) - {"cls"} == set(SHARED) | set(extra)
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in SHARED[1:])
    defaults = {name: parameters[name].default for name in SHARED[1:]}
    assert defaults == {
        "tls": None,
        "credentials": None,
        "options": (),
        "timeout": 10.0,
        "max_message_size": 4_194_304,
        "middleware": (),
        "propagate": (),
        "compression": None,
        "tracing": False,
    }


def _outcome(error: BaseException) -> dict[str, Any]:
    assert isinstance(error, GrpcError), type(error)
    return {
        "type": type(error).__name__,
        "code": error.code,
        "message": error.message,
        "reasons": [d.reason for d in error.details],
    }


EXPECTED = {"type": "GrpcError", "code": 5, "message": "no word 'x'", "reasons": ["NO_WORD"]}


@pytest.fixture
async def words() -> AsyncIterator[ServerUnderTest]:
    async with serve(Words()) as srv:
        yield srv


async def test_in_process_typed_client(words: ServerUnderTest) -> None:
    async with type(words.client(Words)).connect(words.server.address) as client:
        with pytest.raises(GrpcError) as failed:
            await client.Missing(Word("x"))
    assert _outcome(failed.value) == EXPECTED


async def test_grpc_channel(words: ServerUnderTest) -> None:
    async with await GrpcChannel.connect(words.server.address, raise_on_error=True) as channel:
        with pytest.raises(GrpcError) as failed:
            await channel.call("Words", "Missing", {"text": "x"})
    assert _outcome(failed.value) == EXPECTED


async def test_sync_grpc_channel(words: ServerUnderTest) -> None:
    def blocking() -> BaseException:
        with SyncGrpcChannel.connect(words.server.address, raise_on_error=True) as channel:
            with pytest.raises(GrpcError) as failed:
                channel.call("Words", "Missing", {"text": "x"})
        return failed.value

    assert _outcome(await asyncio.to_thread(blocking)) == EXPECTED


_STANDALONE = """
import asyncio, json, sys
from cello import GrpcError
from resilience.v1 import resilience_client as c

def outcome(error):
    assert isinstance(error, GrpcError), type(error)
    reasons = [d.reason for d in error.details]
    return {"type": type(error).__name__, "code": error.code, "message": error.message,
            "reasons": reasons}

async def main():
    async with c.WordsClient.connect(sys.argv[1]) as client:
        try:
            await client.Missing(c.Word("x"))
        except Exception as exc:
            return outcome(exc)

result = {"async": asyncio.run(main())}
with c.WordsSyncClient.connect(sys.argv[1]) as client:
    try:
        client.Missing(c.Word("x"))
    except Exception as exc:
        result["blocking"] = outcome(exc)
print(json.dumps(result))
"""


async def test_standalone_clients(tmp_path: Path, words: ServerUnderTest) -> None:
    out, client = tmp_path / "generated", tmp_path / "client"
    args = ["build", "tests.clients.resilience_services", "--out", str(out), "--client"]
    assert cello_gen([*args, str(client)]) == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(client), *sys.path])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _STANDALONE, words.server.address,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    assert json.loads(stdout) == {"async": EXPECTED, "blocking": EXPECTED}


async def test_ready_made_middleware_is_accepted_by_every_kind(words: ServerUnderTest) -> None:
    token = bearer_token(lambda: "fresh")
    async with type(words.client(Words)).connect(words.server.address, middleware=[token]) as c:
        assert (await c.Whoami(Word())).text == "Bearer fresh"
    async with await GrpcChannel.connect(words.server.address, middleware=[token]) as channel:
        assert (await channel.call("Words", "Whoami", {})).data == {"text": "Bearer fresh"}
