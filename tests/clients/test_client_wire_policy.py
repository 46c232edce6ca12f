"""The standalone client keeps an enum number it does not know, or refuses it for a closed
enum, as the stubs do."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcServer

from .enum_versions import new

# the client runs in its own process: protobuf's pool holds one `paint/v1/paint.proto`
_CALL = """
import asyncio, sys
import grpc.aio
from cello import WireError
from paint.v1 import paint_client as c

async def main() -> None:
    async with grpc.aio.insecure_channel(sys.argv[1]) as channel:
        try:
            got = await c.PaintServiceClient(channel).Mix(c.Paint(color=c.Color.RED))
        except WireError as exc:
            print("WireError:", exc)
        else:
            print("decoded", int(got.color), isinstance(got.color, c.Color))

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("old", "expected"),
    [("old", "decoded 2 False"), ("old_closed", "WireError: ")],
    ids=["open-keeps-the-number", "closed-refuses-it"],
)
async def test_an_unknown_enum_number_is_kept_or_refused_when_closed(
    tmp_path: Path, old: str, expected: str
) -> None:
    out, client = tmp_path / "generated", tmp_path / "client"
    old = f"tests.clients.enum_versions.{old}"
    assert cello_gen(["build", old, "--out", str(out), "--client", str(client)]) == 0
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(new.PaintService())  # answers BLUE, a number `old` lacks
    await server.start()
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(client), *sys.path])}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CALL, f"127.0.0.1:{server.port}",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await proc.communicate()
    finally:
        await server.stop(0)
    assert proc.returncode == 0, stderr.decode()
    assert stdout.decode().startswith(expected), stdout.decode()
    if expected.startswith("WireError"):
        assert "Paint.color" in stdout.decode() and "2" in stdout.decode()


# a bidi call to a peer that echoes each Loan without its required `when`
_CHAT = """
import asyncio, datetime as dt, sys
import grpc.aio
from cello import WireError
from demo.library.v1 import library_client as c

async def main() -> None:
    loan = c.Loan(isbn="978-0", member="ann", when=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    async with grpc.aio.insecure_channel(sys.argv[1]) as channel:
        try:
            got = [x async for x in c.LibraryServiceClient(channel).Chat([loan])]
        except WireError as exc:
            print("WireError:", exc)
        else:
            print("decoded", got)

asyncio.run(main())
"""


async def test_reply_without_a_required_timestamp_raises_wire_error(client_dir: Path) -> None:
    def chat(requests: Any, context: Any) -> Any:
        for raw in requests:  # isbn (1) and member (2) come first; cut at `when` (tag 0x1a)
            yield raw[: raw.index(b"\x1a")]

    handler = grpc.method_handlers_generic_handler(
        "demo.library.v1.LibraryService", {"Chat": grpc.stream_stream_rpc_method_handler(chat)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(client_dir), *sys.path])}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CHAT, f"127.0.0.1:{port}",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await proc.communicate()
    finally:
        await server.stop(0)
    assert proc.returncode == 0, stderr.decode()
    assert stdout.decode().startswith("WireError: Loan.when: required field is absent"), stdout
