"""Standalone clients (`cello-gen build --client`): typed, lint- and mypy-clean, over the wire."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from cello.grpc import GrpcServer
from tests.tls.certs import Issued

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("client_script.py")
NOTES_SCRIPT = Path(__file__).with_name("notes_script.py")
MODULE = "demo/library/v1/library_client.py"


def _expected_calls(result: dict[str, object]) -> None:
    dune = {
        "title": "Dune",
        "genre": "FICTION",
        "pages": 412,
        "tags": {"series": "Dune"},
        "loan_days": 14,
        "born_year": 1920,
    }
    cosmos = {
        "title": "Cosmos",
        "genre": "SCIENCE",
        "pages": 365,
        "tags": {},
        "loan_days": 14,
        "born_year": None,
    }
    assert result["async"] == {
        "book": dune,
        "missing": [5, "no book nope"],
        "pages": 420,
        "science": ["Cosmos"],
        "returned": [2, ["ann", "bob"]],
        "chat": ["CY"],
        "describe": {"books": 2, "name": "demo"},
    }
    assert result["sync"] == {
        "book": cosmos,
        "missing": [5, "no book nope"],
        "pages": 365,
        "science": ["Cosmos"],
    }


def test_client_imports_only_cello_client_and_its_pb2(client_dir: Path) -> None:
    text = (client_dir / MODULE).read_text(encoding="utf-8")
    imports = [line for line in text.splitlines() if line.startswith(("import ", "from "))]
    assert "from cello import client as _w" in imports
    assert not [line for line in imports if "examples" in line or "cello._" in line]
    assert not (client_dir / "demo/library/v1/library_cello.py").exists()
    assert (client_dir / "demo/library/v1/library_pb2.py").exists()


def test_client_passes_ruff_and_mypy_strict(client_dir: Path) -> None:
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E4,E7,E9,F,I,UP,B,W",
         MODULE],
        cwd=client_dir, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--explicit-package-bases",
         "--no-incremental", MODULE],
        cwd=client_dir, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr


async def test_async_and_sync_clients_over_the_wire(
    client_dir: Path, library_server: GrpcServer
) -> None:
    # with the checkout on the path; the venv test below runs the client without it
    env = {**os.environ, "PYTHONPATH": f"{client_dir}{os.pathsep}{ROOT}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), library_server.address,
        cwd=client_dir, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    _expected_calls(json.loads(out))


async def _run(script: Path, client_dir: Path, *args: str) -> object:
    """Run `script` with the client tree and the checkout on the path; its JSON output."""
    env = {**os.environ, "PYTHONPATH": f"{client_dir}{os.pathsep}{ROOT}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), *args,
        cwd=client_dir, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def test_connect_takes_client_tls_awaited_or_in_async_with(
    notes_client_dir: Path, notes_mtls_server: tuple[GrpcServer, Issued, Issued]
) -> None:
    server, ca, client = notes_mtls_server
    pem = [str(p) for p in (ca.cert_path, client.cert_path, client.key_path)]
    result = await _run(NOTES_SCRIPT, notes_client_dir, "tls", server.address, *pem)
    assert isinstance(result, dict)
    no_cert = result["async"].pop("no_cert")
    assert result["async"] == {
        "awaited": "awaited",
        "async_with": "async with",
        "await_with": "await, async with",
    }
    sync_no_cert = result["sync"].pop("no_cert")
    name, message, _ = result["sync"].pop("unreachable")
    assert name == "UNAVAILABLE"
    assert message.startswith("could not connect to 127.0.0.1:1 within 0.3s: ")
    assert result["sync"] == {"echo": "sync", "credentials": "credentials"}
    # connecting without the certificate the port requires fails at once, with the fix
    for name, message, details in (no_cert, sync_no_cert):
        assert (name, details) == ("UNAVAILABLE", [])
        assert message.startswith(f"cannot connect to {server.address}: ")
        assert "requires a client certificate (mTLS)" in message


async def test_error_details_reach_the_standalone_client(
    notes_client_dir: Path, notes_server: GrpcServer
) -> None:
    result = await _run(NOTES_SCRIPT, notes_client_dir, "details", notes_server.address)
    refusal = [
        "INVALID_ARGUMENT",
        "bad note",
        [
            [
                "google.rpc.BadRequest",
                {"fieldViolations": [{"field": "text", "description": "too short"}]},
            ],
            [
                "google.rpc.ErrorInfo",
                {"reason": "NOTE_TOO_SHORT", "domain": "notes.example", "metadata": {"min": "3"}},
            ],
        ],
    ]
    assert result == {
        "async": refusal,
        "async_stream": refusal,
        "sync": refusal,
        "sync_stream": refusal,
    }


@pytest.mark.peer
async def test_client_in_a_fresh_venv_without_the_server_code(
    client_dir: Path, library_server: GrpcServer, tmp_path: Path
) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = await asyncio.create_subprocess_exec(
        str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    log, _ = await install.communicate()
    assert install.returncode == 0, log.decode()
    # only the client tree: no checkout, no examples/ on the path
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(client_dir)
    script = tmp_path / "call_library.py"
    shutil.copy(SCRIPT, script)
    proc = await asyncio.create_subprocess_exec(
        str(python), str(script), library_server.address,
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["server_importable"] is False
    _expected_calls(result)


def test_check_covers_the_client_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cello.codegen.cli import main as cello_gen

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    args = ["examples.library", "--out", "gen", "--client", "client"]
    assert cello_gen(["build", *args]) == 0
    assert cello_gen(["check", *args]) == 0
    module = tmp_path / "client" / MODULE
    module.write_text(module.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert cello_gen(["check", *args]) == 1


def test_public_client_runtime_names() -> None:
    import cello.client

    assert cello.client.__all__ == sorted(cello.client.__all__)
    for name in cello.client.__all__:
        assert getattr(cello.client, name) is not None


def test_a_default_the_client_cannot_repeat_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cello.codegen.cli import main as cello_gen

    (tmp_path / "oddshop.py").write_text(
        "from dataclasses import dataclass, field\n"
        "from cello.grpc import GrpcService, grpc_method\n"
        "class Marker:\n    pass\n"
        "@dataclass\nclass Item:\n    name: str = field(default_factory=Marker)\n"
        "class Shop(GrpcService):\n    @grpc_method\n"
        "    async def Get(self, request: Item) -> Item:\n        return request\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    capsys.readouterr()
    rc = cello_gen(["build", "oddshop", "--out", "gen", "--client", "client"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1, err
    assert "oddshop.Item.name: default" in err and "cannot be written into a client" in err
    assert not (tmp_path / "gen").exists()  # refused before anything was written
