"""User code type-checks against the real `cello` and its generated stubs (issue 9, defect 8).

`mypy --strict` runs in a subprocess over a small user module that imports `cello` and a
stub built by `cello-gen` into a temporary folder. It must pass, and a deliberate type
error must be reported, so `cello` cannot be silently seen as `Any`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SERVICE = """
from dataclasses import dataclass

from cello.grpc import GrpcService, grpc_method


@dataclass
class Lookup:
    isbn: str


@dataclass
class Volume:
    isbn: str
    title: str
    pages: int = 0


class Shelf(GrpcService):
    package = "typingtest.v1"

    @grpc_method
    async def Find(self, request: Lookup) -> Volume:
        return Volume(request.isbn, "Dune", 412)
"""

USER = """
from __future__ import annotations

import grpc.aio

from cello import ClientTls, GrpcConfig, GrpcError
from cello.grpc import GrpcServer
from shelf import Lookup, Shelf, Volume
from typingtest.v1.typingtest_cello import ShelfClient


async def serve() -> GrpcServer:
    server = GrpcServer(host="127.0.0.1", port=0, config=GrpcConfig(port=0, reflection=True))
    server.register_service(Shelf())
    await server.start()
    return server


async def title_of(address: str, isbn: str) -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            volume: Volume = await ShelfClient(channel).Find(Lookup(isbn=isbn))
        except GrpcError as exc:
            return exc.message
    return volume.title


async def connected(address: str) -> str:
    async with ShelfClient.connect(address, tls=ClientTls()) as client:
        first: Volume = await client.Find(Lookup(isbn="1"))
    client = await ShelfClient.connect(address, options=[("grpc.primary_user_agent", "t")])
    async with client:
        second: Volume = await client.Find(Lookup(isbn="2"))
    return first.title + second.title


async def more(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        await ShelfClient(channel).Find(Lookup(isbn="1"))
"""

# each line is a type error mypy reports only if it sees the real package and stub
MISTAKES = {
    "cello": 'config: GrpcConfig = GrpcConfig(port="50051")',
    "stub": "pages: str = Volume(isbn='1', title='t').pages",
    "client": "wrong: int = await ShelfClient(channel).Find(Lookup(isbn='1'))",
    "connect": "unawaited = await ShelfClient.connect(address).Find(Lookup(isbn='1'))",
}

CONFIG = """
[mypy]
strict = True
cache_dir = {cache}
# the generated stubs' own strictness is tested with the golden cases, not here
[mypy-typingtest.*]
follow_imports = silent
"""


def _mypy(folder: Path, source: str) -> subprocess.CompletedProcess[str]:
    (folder / "user.py").write_text(source)
    env = {**os.environ, "MYPYPATH": str(folder / "gen")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(folder / "mypy.ini"), "user.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_user_code_type_checks_against_cello_and_generated_stubs(tmp_path: Path) -> None:
    (tmp_path / "shelf.py").write_text(textwrap.dedent(SERVICE))
    (tmp_path / "mypy.ini").write_text(CONFIG.format(cache=tmp_path / ".mypy_cache"))
    built = subprocess.run(
        [sys.executable, "-m", "cello.codegen.cli", "build", "shelf", "--out", "gen"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    user = textwrap.dedent(USER)
    clean = _mypy(tmp_path, user)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Success: no issues found in 1 source file" in clean.stdout

    # appended inside `more`'s `async with`, where `channel` is in scope
    broken = user + "".join(f"        {m}\n" for m in MISTAKES.values())
    reported = _mypy(tmp_path, broken)
    assert reported.returncode == 1, reported.stdout + reported.stderr
    for name, mistake in MISTAKES.items():
        line = broken.splitlines().index(f"        {mistake}") + 1
        assert f"user.py:{line}: error:" in reported.stdout, (name, reported.stdout)


def test_cello_passes_mypy_strict_with_the_grpc_and_protobuf_stubs(tmp_path: Path) -> None:
    from importlib.metadata import version

    assert version("types-protobuf") and version("types-grpcio")  # the `test` extra has both
    root = Path(__file__).resolve().parents[1]
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
