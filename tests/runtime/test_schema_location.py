"""The same schema wherever the server starts (issue 9, defect 2).

A project is laid out in a temporary folder; its lock numbers fields and enum values
differently from their declaration order. Servers started from another working directory
must serve the lock's numbers, say which schema they serve, and `cello-gen check` run
from a subfolder must find the same files.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import grpc
import grpc.aio
import pytest

from cello import App, GrpcConfig, StaleStubsError
from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcServer

from .services import EchoService

FIRST = """
import enum
from dataclasses import dataclass
from cello.grpc import GrpcService, grpc_method

class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"

@dataclass
class Item:
    name: str
    price: float = 0.0
    count: int = 0
    colour: Colour = Colour.RED

class ShopService(GrpcService):
    @grpc_method
    async def Restock(self, request: Item) -> Item:
        return Item(request.name + "!", request.price * 2, request.count + 1, Colour.GREEN)
"""
# the same classes reordered, with one new member each: the lock keeps the old numbers
SECOND = """
import enum
from dataclasses import dataclass
from cello.grpc import GrpcService, grpc_method

class Colour(enum.Enum):
    GREEN = "green"
    BLUE = "blue"
    RED = "red"

@dataclass
class Item:
    count: int = 0
    colour: "Colour" = Colour.RED
    price: float = 0.0
    name: str = ""
    note: str = ""

class ShopService(GrpcService):
    @grpc_method
    async def Restock(self, request: Item) -> Item:
        return Item(request.count + 1, Colour.GREEN, request.price * 2, request.name + "!")
"""
SERVE = """
import logging, sys
sys.path.insert(0, sys.argv[1])
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from cello import App, GrpcConfig
from shopcwd.services import ShopService
app = App()
app.enable_grpc(GrpcConfig(host="127.0.0.1", port=0))
app.register_service(ShopService())
app.run()
"""


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CELLO_STUBS_DIR"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _project(root: Path, config: str) -> Path:
    """A project in `root` built from FIRST, then edited to SECOND and built again."""
    (root / "pyproject.toml").write_text(f'[tool.cello]\ntargets = ["shopcwd.services"]\n{config}')
    package = root / "shopcwd"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for source in (FIRST, SECOND):
        (package / "services.py").write_text(textwrap.dedent(source))
        built = _run(["-m", "cello.codegen.cli", "build"], cwd=root)
        assert built.returncode == 0, built.stderr
    return root / "generated"


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two projects: one whose `[tool.cello] out` opts in to serving the build, one without."""
    return {
        "build": _project(tmp_path_factory.mktemp("opted-in"), 'out = "generated"\n'),
        "on-the-fly": _project(tmp_path_factory.mktemp("lock-only"), 'package = "shopfly"\n'),
    }


def _pb2(out: Path) -> ModuleType:
    """The project's built `_pb2`, imported under a private name (no clash between the two)."""
    (path,) = out.rglob("*_pb2.py")
    name = f"_schema_location_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def served(
    projects: dict[str, Path], request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, str, Path]]:
    """A server of the project, started from an unrelated working directory."""
    out = projects[request.param]
    env = {k: v for k, v in os.environ.items() if k != "CELLO_STUBS_DIR"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVE,
        str(out.parent),
        cwd=tmp_path,  # not the project: nothing may depend on it
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    printed = []
    try:
        while not printed or "serving schema" not in printed[-1]:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            if not line:
                pytest.fail((await proc.stderr.read()).decode())
            printed.append(line)
        grpc_line = next(line for line in printed if line.startswith("cello: serving gRPC "))
        address = grpc_line.split()[-1]
        yield address, "".join(printed), out
    finally:
        proc.terminate()
        log = (await asyncio.wait_for(proc.stderr.read(), 30)).decode()
        await proc.wait()
    # App.run() prints what it serves on stdout; with logging configured, not again in the log
    assert "serving" not in log, log


@pytest.mark.parametrize("served", ["build", "on-the-fly"], indirect=True)
async def test_a_server_started_elsewhere_serves_the_locks_numbers(
    served: tuple[str, str, Path],
) -> None:
    address, printed, out = served
    pb2 = _pb2(out)
    (service,) = pb2.DESCRIPTOR.services_by_name.values()
    async with grpc.aio.insecure_channel(address) as channel:
        restock = channel.unary_unary(
            f"/{service.full_name}/Restock",
            request_serializer=pb2.Item.SerializeToString,
            response_deserializer=pb2.Item.FromString,
        )
        reply = await restock(pb2.Item(name="cup", price=1.25, count=4, colour=2))
    assert (reply.name, reply.price, reply.count) == ("cup!", 2.5, 5)
    colour = pb2.DESCRIPTOR.enum_types_by_name["Colour"]
    assert colour.values_by_number[reply.colour].name == "COLOUR_GREEN"
    digest = hashlib.sha256((out / "cello.lock.json").read_bytes()).hexdigest()[:12]
    assert digest in printed
    if out.parent.name.startswith("opted-in"):
        assert f"cello: serving schema from the build in {out.resolve()}" in printed
    else:
        assert "cello: serving schema generated on the fly, numbered by" in printed
        assert str((out / "cello.lock.json").resolve()) in printed


def test_the_lock_numbers_differ_from_declaration_order(projects: dict[str, Path]) -> None:
    proto = next(projects["build"].rglob("*.proto")).read_text()
    assert "string name = 1;" in proto and "int64 count = 3;" in proto
    assert "COLOUR_RED = 1;" in proto and "COLOUR_GREEN = 3;" in proto


def test_cello_gen_check_from_a_subfolder_finds_the_project(projects: dict[str, Path]) -> None:
    root = projects["build"].parent
    checked = _run(["-m", "cello.codegen.cli", "check"], cwd=root / "shopcwd")
    assert checked.returncode == 0, checked.stderr
    assert "generated: up to date" in checked.stdout or "up to date" in checked.stdout
    assert str(projects["build"]) in checked.stdout
    rebuilt = _run(["-m", "cello.codegen.cli", "build"], cwd=root / "shopcwd")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert not (root / "shopcwd" / "generated").exists()


@pytest.fixture
def echo_build(tmp_path: Path) -> Iterator[Path]:
    out = tmp_path / "echo-build"
    assert cello_gen(["build", "tests.runtime.services", "--out", str(out)]) == 0
    yield out


async def test_a_server_without_an_app_logs_what_it_serves(
    echo_build: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No `App` prints the startup lines for it, so it logs them (each once)."""
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=echo_build)
    server.register_service(EchoService())
    with caplog.at_level("INFO", logger="cello.grpc"):
        async with server:
            pass
    serving = [r.getMessage() for r in caplog.records if r.getMessage().startswith("serving")]
    assert len(serving) == 2, serving
    assert serving[0].startswith(f"serving schema from the build in {echo_build}")
    # transport envoy adds its version inside the parentheses: "..., transport envoy 1.39.3)"
    assert serving[1].startswith("serving rt.v1.EchoService: gRPC (plaintext, this machine only")
    assert serving[1].endswith(f") on {server.bind_address}")


async def test_cello_stubs_dir_is_used_and_an_explicit_stubs_dir_wins(
    echo_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELLO_STUBS_DIR", str(echo_build))
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(EchoService())
    async with server:
        assert server.schema_source is not None
        assert server.schema_source.built and server.schema_source.directory == echo_build
    empty = tmp_path / "empty"
    empty.mkdir()
    explicit = GrpcServer(host="127.0.0.1", port=0, stubs_dir=empty)
    explicit.register_service(EchoService())
    with pytest.raises(StaleStubsError, match="no cello.lock.json"):
        await explicit.start()


async def test_app_passes_stubs_dir_to_its_server(
    echo_build: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = App(stubs_dir=echo_build)
    app.enable_grpc(GrpcConfig(host="127.0.0.1", port=0, health=False))
    app.register_service(EchoService())
    stop = asyncio.Event()
    serving = asyncio.create_task(app.serve(stop=stop))
    printed = ""
    while "serving schema" not in printed and not serving.done():
        await asyncio.sleep(0.01)
        printed += capsys.readouterr().out
    stop.set()
    await serving
    assert app.grpc_server is not None and app.grpc_server.schema_source is not None
    assert app.grpc_server.schema_source.directory == echo_build
    lock = hashlib.sha256((echo_build / "cello.lock.json").read_bytes()).hexdigest()[:12]
    line = f"cello: serving schema from the build in {echo_build} (cello.lock.json sha256 {lock})"
    assert line in printed
