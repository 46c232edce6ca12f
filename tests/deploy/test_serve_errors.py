"""`cello serve` on an app that cannot start: one line naming file, line and exception, exit 2,
whatever the user's module raised, in one process or under the `--workers` supervisor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from .conftest import Served

Serve = Callable[..., Awaitable[Served]]

# module source, and the line `cello serve bad` must print (without the `cello serve: `)
BAD_MODULES = {
    "syntax": ("import os\n\nx = (\n", "bad.py:3: cannot import 'bad': SyntaxError: "),
    "key": (
        "settings = {}\nport = settings['port']\n",
        "bad.py:2: cannot import 'bad': KeyError: 'port'",
    ),
    "name": ("import os\n\nundefined_name()\n", "bad.py:3: cannot import 'bad': NameError: "),
    "runtime": (
        "def connect():\n    raise RuntimeError('db not reachable')\n\n\ndb = connect()\n",
        "bad.py:2: cannot import 'bad': RuntimeError: db not reachable; fix the module",
    ),
    "value": ("int('three')\n", "bad.py:1: cannot import 'bad': ValueError: invalid literal"),
    "os": (
        "open('/nonexistent/cello-config.toml')\n",
        "bad.py:1: cannot import 'bad': FileNotFoundError: [Errno 2] No such file or directory",
    ),
    "library": (  # raised inside the standard library: the user's line is the one shown
        "import json\n\nconfig = json.loads('{')\n",
        "bad.py:3: cannot import 'bad': JSONDecodeError: Expecting property name",
    ),
}
MODES = {"one-process": ["--port", "0"], "workers": ["--workers", "2", "--port", "0"]}
CASES = [(name, mode) for name in BAD_MODULES for mode in MODES]


def _errors(served: Served) -> list[str]:
    return [line for line in served.lines if line.strip()]


@pytest.mark.parametrize(("name", "mode"), CASES, ids=[f"{n}-{m}" for n, m in CASES])
async def test_an_import_error_is_one_line_with_file_line_and_type(
    serve: Serve, tmp_path: Path, name: str, mode: str
) -> None:
    source, expected = BAD_MODULES[name]
    (tmp_path / "bad.py").write_text(source)
    served = await serve("bad", *MODES[mode], cwd=tmp_path)
    assert await served.exited() == 2, served.lines
    (line,) = _errors(served)
    assert line.startswith(f"cello serve: {expected}"), line
    assert line.endswith("; fix the module (--traceback shows the whole traceback)"), line


@pytest.mark.parametrize("mode", MODES, ids=list(MODES))
async def test_traceback_prints_the_whole_traceback_then_the_line(
    serve: Serve, tmp_path: Path, mode: str
) -> None:
    (tmp_path / "bad.py").write_text(BAD_MODULES["runtime"][0])
    served = await serve("bad", *MODES[mode], "--traceback", cwd=tmp_path)
    assert await served.exited() == 2
    lines = _errors(served)
    assert lines[0] == "Traceback (most recent call last):", lines
    assert any(line.strip() == "db = connect()" for line in lines), lines
    assert "RuntimeError: db not reachable" in lines
    assert lines[-1] == (
        "cello serve: bad.py:2: cannot import 'bad': RuntimeError: db not reachable; fix the module"
    )
    assert sum(line.startswith("cello serve:") for line in lines) == 1


@pytest.mark.parametrize(
    ("target", "fix"),
    [
        ("app.py", "drop the .py; run `cello serve app:app`"),
        ("app.py:Pinger", "drop the .py; run `cello serve app:Pinger`"),
        ("pkg/app.py", "drop the .py; run `cello serve pkg.app:app`"),
    ],
    ids=["file", "file-and-attr", "nested"],
)
@pytest.mark.parametrize("mode", MODES, ids=list(MODES))
async def test_a_file_path_is_told_to_drop_the_py(
    serve: Serve, tmp_path: Path, target: str, fix: str, mode: str
) -> None:
    (tmp_path / "pkg").mkdir()
    for path in (tmp_path / "app.py", tmp_path / "pkg" / "app.py"):
        path.write_text("raise SystemExit('imported: a path must be refused before importing')\n")
    served = await serve(target, *MODES[mode], cwd=tmp_path)
    assert await served.exited() == 2
    path = target.partition(":")[0]
    assert _errors(served) == [
        f"cello serve: {path!r} is a file path, but cello serve takes a module: {fix}"
    ]


SERVICE_WITH_ARGUMENTS = """
from cello.grpc import GrpcService, grpc_method


class Shop(GrpcService):
    def __init__(self, db):
        self.db = db

    @grpc_method
    async def Ping(self, text: str) -> str:
        return text
"""


@pytest.mark.parametrize("mode", MODES, ids=list(MODES))
async def test_a_service_class_that_cannot_be_created_is_one_line(
    serve: Serve, tmp_path: Path, mode: str
) -> None:
    (tmp_path / "shop.py").write_text(SERVICE_WITH_ARGUMENTS)
    served = await serve("shop:Shop", *MODES[mode], cwd=tmp_path)
    assert await served.exited() == 2
    (line,) = _errors(served)
    assert line.startswith(
        "cello serve: shop.py:5: cannot create shop.Shop(): TypeError: Shop.__init__() missing "
        "1 required positional argument: 'db'; cello serve creates a GrpcService class without "
        "arguments"
    ), line


async def test_a_missing_module_says_where_to_run_from(serve: Serve, tmp_path: Path) -> None:
    served = await serve("nowhere_xyz:app", cwd=tmp_path)
    assert await served.exited() == 2
    assert _errors(served) == [
        "cello serve: cannot import 'nowhere_xyz' (from 'nowhere_xyz:app'): no module named "
        "'nowhere_xyz'; run cello serve from the directory holding it, or install it"
    ]
