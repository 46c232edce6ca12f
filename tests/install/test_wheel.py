"""The wheel, installed into a fresh virtual environment, runs the demo, cello-gen and the
pytest plugin with nothing from this checkout on the path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.peer  # slow: builds a wheel and installs it with its dependencies


def _run(*args: str | Path, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # from a copy of what the wheel is made of: a build/ left in the checkout by an earlier
    # build could otherwise slip stale modules into the wheel
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("cello", "codegen", "templates"):
        shutil.copytree(
            ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    dist = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, source, cwd=dist, env=env)
    (path,) = dist.glob("cello_grpc-*.whl")
    return path


def test_wheel_holds_the_templates_and_py_typed(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {n for n in names if n.startswith("cello/templates/") and n.endswith(".j2")}
    assert {"cello/templates/file.proto.j2", "cello/templates/stub.py.j2"} <= templates
    assert {"cello/py.typed", "cello/testing.py", "cello/codegen/cli.py"} <= names
    assert not any(n.startswith(("tests/", "examples/", "codegen/")) for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "cello-gen = cello.codegen.cli:main" in text
    assert "[pytest11]\ncello.testing = cello.testing" in text


GREETER_TEST = """
from cello.grpc import GrpcError, GrpcService, grpc_method
from cello.testing import raises_status

class Greeter(GrpcService):
    @grpc_method
    async def Hello(self, name: str) -> str:
        if not name:
            raise GrpcError(GrpcError.INVALID_ARGUMENT, "name is empty")
        return f"hello {name}"

async def test_hello(cello_serve):
    srv = await cello_serve(Greeter())
    assert await srv.client(Greeter).Hello(name="ada") == "hello ada"
    with raises_status(GrpcError.INVALID_ARGUMENT, match="empty"):
        await srv.client(Greeter).Hello(name="")
"""


def test_demo_cello_gen_and_plugin_run_from_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    project = tmp_path / "project"  # outside the checkout: a user's project
    shutil.copytree(
        ROOT / "examples",
        project / "examples",
        ignore=shutil.ignore_patterns("__pycache__", "seed", "test_*.py", "conftest.py"),
    )
    (project / "test_greeter.py").write_text(textwrap.dedent(GREETER_TEST))
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n'
        'asyncio_default_fixture_loop_scope = "function"\nfilterwarnings = ["error"]\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["CELLO_CACHE_DIR"] = str(tmp_path / "cache")
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path, env=env)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    pip = (python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    _run(*pip, wheel, "pytest", "pytest-asyncio", cwd=tmp_path, env=env)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"

    where = _run(python, "-c", "import cello, sys; print(cello.__file__)", cwd=project, env=env)
    assert Path(where.strip()).is_relative_to(venv), where
    assert not Path(where.strip()).is_relative_to(ROOT)

    listed = _run(
        bin_dir / "cello-gen",
        "build",
        "examples.library",
        "examples.seed_services",
        "--out",
        "generated",
        cwd=project,
        env=env,
    )
    assert "generated/demo/library/v1/library_cello.py" in listed.split()
    demo_env = {**env, "PYTHONPATH": str(project)}  # the user's project, not the checkout
    out = _run(python, "examples/serve_and_call.py", "generated", cwd=project, env=demo_env)
    assert "UserService.GetUser -> {'id': 1, 'name': 'Alice'}" in out
    assert "LibraryService.GetBook -> Dune by Frank Herbert" in out
    assert "LibraryService.ListBooks(SCIENCE) -> ['Cosmos']" in out

    # the pytest11 entry point alone brings the cello_serve fixture (no -p, no conftest)
    tests = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, env=env)
    assert "1 passed" in tests, tests
