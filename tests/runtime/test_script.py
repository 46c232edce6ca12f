"""A service module run as a script, `python my_service.py` (issue 9, defect 6)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = """
import argparse
import asyncio
import enum
from dataclasses import dataclass

from cello.grpc import GrpcChannel, GrpcServer, GrpcService, grpc_method


class Tone(enum.Enum):
    WARM = "warm"
    DRY = "dry"


@dataclass
class Greeting:
    name: str
    tone: Tone = Tone.WARM


@dataclass
class Reply:
    text: str


class Greeter(GrpcService):
    package = "scripttest.v1"

    @grpc_method
    async def Greet(self, request: Greeting) -> Reply:
        # the request is an instance of this script's own class, not of a second copy
        assert type(request) is Greeting and type(request.tone) is Tone, type(request)
        return Reply(f"hello {request.name}, {request.tone.value}")


async def serve(stubs_dir: str | None) -> None:
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=stubs_dir)
    server.register_service(Greeter())
    async with server:
        print(server.schema_source.describe())
        channel = await GrpcChannel.connect(server.address)
        reply = await channel.call("Greeter", "Greet", {"name": "Ada", "tone": "DRY"})
        await channel.close()
        print(reply.status_code, reply.message, reply.data)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--stubs-dir")
    asyncio.run(serve(parser.parse_args().stubs_dir))
"""


def _python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CELLO_STUBS_DIR"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("built", [False, True], ids=["on-the-fly", "stubs-dir"])
def test_a_service_module_runs_as_a_script(tmp_path: Path, built: bool) -> None:
    (tmp_path / "my_service.py").write_text(textwrap.dedent(SCRIPT))
    args = ["my_service.py"]
    if built:
        build = _python(["-m", "cello.codegen.cli", "build", "my_service"], cwd=tmp_path)
        assert build.returncode == 0, build.stderr
        args += ["--stubs-dir", "generated"]
    run = _python(args, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    schema, result = run.stdout.splitlines()[-2:]
    assert result == "0 OK {'text': 'hello Ada, dry'}"
    if built:
        assert schema.startswith(f"schema from the build in {tmp_path / 'generated'}")
    else:
        assert schema.startswith("schema generated on the fly")
