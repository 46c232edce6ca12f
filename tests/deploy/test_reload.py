"""`cello serve --reload`: a source change restarts the worker with regenerated stubs."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc.aio
import pytest
from google.protobuf.wrappers_pb2 import StringValue

from .conftest import OWN_CONNECTION, Served

SERVICE = """
from cello.grpc import GrpcService, grpc_method


class Greeter(GrpcService):
    package = "reload.v1"

    @grpc_method
    async def Version(self) -> str:
        return "{version}"
{extra}
"""

EXTRA = """
    @grpc_method
    async def Extra(self, name: str) -> str:
        return "extra " + name
"""


async def _call(address: str, method: str, request: bytes = b"") -> str:
    async with grpc.aio.insecure_channel(address, options=OWN_CONNECTION) as channel:
        call = channel.unary_unary(
            f"/reload.v1.Greeter/{method}", response_deserializer=StringValue.FromString
        )
        return str((await call(request, timeout=10)).value)


@pytest.mark.peer  # slow: two app starts and a poll
@pytest.mark.parametrize("build", [False, True], ids=["cache", "project-build"])
async def test_a_source_change_reloads_with_new_stubs(
    serve: Callable[..., Awaitable[Served]], tmp_path: Path, build: bool
) -> None:
    if build:  # the project's own `cello-gen build`, which --reload keeps current
        (tmp_path / "pyproject.toml").write_text(
            '[tool.cello]\ntargets = ["greeter"]\nout = "stubs"\n'
        )
    module = tmp_path / "greeter.py"
    module.write_text(textwrap.dedent(SERVICE.format(version="v1", extra="")))
    served = await (
        await serve("greeter", "--reload", "--host", "127.0.0.1", "--port", "0", cwd=tmp_path)
    ).started(web=False)
    assert await _call(served.address, "Version") == "v1"
    module.write_text(textwrap.dedent(SERVICE.format(version="v2", extra=EXTRA)))
    stat = module.stat()
    os.utime(module, (stat.st_atime, stat.st_mtime + 2))  # a new mtime, even on coarse clocks
    await served.wait_for(r"greeter\.py changed; reloading")
    await served.wait_for(r"worker 1 replaced")
    assert await _call(served.address, "Version") == "v2"
    request = StringValue(value="call").SerializeToString()
    assert await _call(served.address, "Extra", request) == "extra call"
    proto = tmp_path / "stubs" / "reload" / "v1" / "reload.proto"
    if build:
        assert "rpc Extra" in proto.read_text()
    else:
        assert not proto.parent.exists()
    assert await served.stop() == 0
