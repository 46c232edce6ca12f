"""The on-the-fly stub cache: a warm start reuses stubs only while everything they were
generated from is unchanged; a change of each input must miss.

Each case runs in fresh interpreters (a server start, then a change, then another start),
since a warm start is a new process finding the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cello import GenerationError
from cello.grpc import GrpcServer, GrpcService, grpc_method

ROOT = Path(__file__).resolve().parents[2]

SERVICE = """
from dataclasses import dataclass

from cello.grpc import GrpcService, grpc_method


@dataclass
class Note:
    id: str
    text: str = ""


class Notes(GrpcService):
    package = "notes.v1"

    @grpc_method
    async def Get(self, id: str) -> Note:
        return Note(id=id, text="hello")
"""

# serve `Notes`, call it over the wire; report the reply, whether the generator ran, and
# the served `.proto`
SERVE = """
import asyncio, json, sys
from cello.grpc import GrpcChannel, GrpcServer
from svc import Notes

async def main():
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(Notes())
    await server.start()
    generator_ran = "cello.codegen.emit.render" in sys.modules
    async with await GrpcChannel.connect(f"127.0.0.1:{server.port}") as channel:
        reply = await channel.call("notes.v1.Notes", "Get", {"id": "n1"}, raise_on_error=True)
    await server.stop(0)
    proto = (server.schema_source.directory / "notes/v1/notes.proto").read_text()
    print(json.dumps({"reply": reply.data, "generator_ran": generator_ran, "proto": proto}))

asyncio.run(main())
"""

REPLY = {"id": "n1", "text": "hello"}


def serve(project: Path, *, lib: Path = ROOT) -> dict[str, Any]:
    """Start `svc.Notes` in a fresh interpreter with `project`'s cache; what it reported."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(project), str(lib)]),
        "CELLO_CACHE_DIR": str(project / "cache"),
    }
    out = subprocess.run(
        [sys.executable, "-c", SERVE], cwd=project, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    assert REPLY.items() <= result["reply"].items()
    return result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "svc.py").write_text(SERVICE)
    return tmp_path


def warm(project: Path, **kwargs: Path) -> None:
    """Fill the cache, and check a second start then skips the generator."""
    serve(project, **kwargs)
    assert serve(project, **kwargs)["generator_ran"] is False


def test_an_edit_of_the_service_module_misses(project: Path) -> None:
    warm(project)
    (project / "svc.py").write_text(
        SERVICE.replace('text: str = ""', 'text: str = ""\n    n: int = 0')
    )
    after = serve(project)
    assert after["generator_ran"] is True
    assert after["reply"] == {**REPLY, "n": 0}
    assert "int64 n = 3;" in after["proto"]


def copy_of_cello(project: Path) -> Path:
    """A copy of Cello laid out as installed (templates inside the package), to edit."""
    lib = project / "lib"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "cello", lib / "cello", symlinks=False, ignore=ignore)
    return lib


def test_an_edit_of_a_template_misses(project: Path) -> None:
    lib = copy_of_cello(project)
    warm(project, lib=lib)
    template = lib / "cello" / "templates" / "file.proto.j2"
    template.write_text(template.read_text() + "// edited template\n")
    after = serve(project, lib=lib)
    assert after["generator_ran"] is True
    assert after["proto"].endswith("// edited template\n")


def test_an_edit_of_the_lock_misses(project: Path) -> None:
    # a project whose lock numbers the fields; without `out` its build is not served, but
    # on-the-fly stubs are numbered by the lock
    (project / "pyproject.toml").write_text('[tool.cello]\npackage = "notes.v1"\n')
    build = [sys.executable, "-m", "cello.codegen.cli", "build", "svc"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)])}
    subprocess.run(build, cwd=project, env=env, check=True, capture_output=True)
    lock = project / "generated" / "cello.lock.json"
    warm(project)
    data = json.loads(lock.read_text())
    data["messages"]["notes.v1.Note"]["fields"]["text"]["number"] = 7
    lock.write_text(json.dumps(data, indent=2))
    after = serve(project)
    assert after["generator_ran"] is True
    assert "string text = 7;" in after["proto"]


def test_an_edit_of_the_file_options_misses(project: Path) -> None:
    table = '[tool.cello.options."notes.v1"]\ngo_package = "example.com/{}"\n'
    (project / "pyproject.toml").write_text("[tool.cello]\n" + table.format("a"))
    warm(project)
    (project / "pyproject.toml").write_text("[tool.cello]\n" + table.format("b"))
    after = serve(project)
    assert after["generator_ran"] is True
    assert 'option go_package = "example.com/b";' in after["proto"]


def test_an_upgrade_of_cellos_runtime_misses(project: Path) -> None:
    # generated stubs build on runtime modules the service never imports (`cello._wire.wellknown`,
    # `cello._wire.binding`): stubs cached by another version of them must not be reused
    lib = copy_of_cello(project)
    warm(project, lib=lib)
    wire = lib / "cello" / "_wire" / "wellknown.py"
    wire.write_text(wire.read_text() + "\n# another release\n")
    assert serve(project, lib=lib)["generator_ran"] is True


class Pings(GrpcService):
    package = "cache.v1"

    @grpc_method
    async def Ping(self, text: str) -> str:
        return text


@pytest.mark.parametrize(
    ("lock", "error"),
    [
        ('{"version": 99}', "lock version 99 is newer"),
        ("{", "not valid JSON"),
    ],
    ids=["newer", "not-json"],
)
async def test_a_bad_lock_is_refused_naming_it(tmp_path: Path, lock: str, error: str) -> None:
    # the loader reads only a lock's package and targets up front; whatever else is wrong
    # must still be said before anything is served
    (tmp_path / "cello.lock.json").write_text(lock)
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=tmp_path)
    server.register_service(Pings())
    with pytest.raises(GenerationError, match=error):
        await server.start()
