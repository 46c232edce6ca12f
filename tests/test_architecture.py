"""The public API surface and the one-way dependencies between runtime and generator."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import cello
import cello.grpc

ROOT = Path(__file__).resolve().parents[1]


def test_public_names_are_sorted_and_exported() -> None:
    for module in (cello, cello.grpc):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None
        public = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and name != "annotations"
            and not isinstance(value, ModuleType)
        }
        assert public == set(module.__all__)


def test_seed_imports_work() -> None:
    from cello import App, GrpcConfig  # noqa: F401
    from cello.grpc import (  # noqa: F401
        GrpcChannel,
        GrpcError,
        GrpcRequest,
        GrpcResponse,
        GrpcServer,
        GrpcService,
        grpc_method,
    )


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_stub_loader_reaches_the_generator() -> None:
    forbidden = ("cello.codegen", "codegen", "jinja2", "grpc_tools")
    for path in sorted((ROOT / "cello").glob("*.py")):
        reached = {n for n in _imports(path) if n.startswith(forbidden)}
        if path.name == "_stubs.py":  # the one door: the stub loader
            assert {n for n in reached if not n.startswith("cello.codegen")} <= {"grpc_tools"}
        else:
            assert not reached, f"{path.name} imports {reached}"


def test_generator_model_knows_nothing_of_jinja_or_grpc() -> None:
    reached = _imports(ROOT / "codegen" / "model.py")
    assert not {n for n in reached if n.startswith(("jinja2", "grpc", "google"))}
