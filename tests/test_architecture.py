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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules `path` imports, relative imports resolved (`from . import x` → `pkg.x`)."""
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    package = package or _module_name(path)
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names.add(node.module)
            elif node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
                names.add(module)
                names |= {f"{module}.{a.name}" for a in node.names}
    return names


def _runtime_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "cello").rglob("*.py") if not p.is_relative_to(GENERATOR))


GENERATOR = ROOT / "cello" / "codegen"
TEMPLATES = ROOT / "cello" / "templates"
CALL_LAYER = ("_call", "_endpoint", "_dispatch", "_middleware", "_messages")


def test_only_the_stub_loader_reaches_the_generator() -> None:
    forbidden = ("cello.codegen", "codegen", "jinja2", "grpc_tools")
    for path in [p for p in _runtime_modules() if not p.is_relative_to(TEMPLATES)]:
        reached = {n for n in _imports(path) if n.startswith(forbidden)}
        if path.name == "_stubs.py":  # the one door: the stub loader
            assert {n for n in reached if not n.startswith("cello.codegen")} <= {"grpc_tools"}
        else:
            assert not reached, f"{path.name} imports {reached}"


def test_generator_model_knows_nothing_of_jinja_or_grpc() -> None:
    reached = _imports(ROOT / "codegen" / "model.py")
    assert not {n for n in reached if n.startswith(("jinja2", "grpc", "google"))}


def test_the_call_layer_knows_no_transport_and_no_grpc() -> None:
    """Handlers and middleware see a `CallContext`, never a grpc or HTTP object."""
    for name in CALL_LAYER:
        reached = _imports(ROOT / "cello" / f"{name}.py")
        bad = {
            n
            for n in reached
            if n.startswith(("grpc", "cello._transports", "cello._web", "uvicorn", "httpx"))
        }
        assert not bad, f"{name}.py imports {bad}"


def test_transports_import_the_call_layer_never_the_reverse() -> None:
    transports = ROOT / "cello" / "_transports"
    for path in _runtime_modules():
        if path.is_relative_to(transports) or path.name in ("_server.py", "__init__.py", "grpc.py"):
            continue
        reached = {n for n in _imports(path) if n.startswith("cello._transports")}
        assert not reached, f"{path.name} imports a transport: {reached}"
    for path in sorted(transports.rglob("*.py")):
        reached = _imports(path)
        assert not {n for n in reached if n.startswith(("cello._server", "cello._app"))}


def test_the_asgi_side_is_grpc_free_and_protocols_are_independent() -> None:
    asgi = ROOT / "cello" / "_transports" / "asgi"
    shared = {"__init__", "app", "http", "call", "schema"}  # plumbing every protocol may use
    protocols = {p.stem for p in asgi.glob("*.py")} - shared
    assert {"grpc_web", "connect"} <= protocols
    for path in sorted(asgi.glob("*.py")):
        reached = _imports(path)
        assert not {n for n in reached if n == "grpc" or n.startswith("grpc.")}, path.name
        if path.stem in protocols:
            others = {f"cello._transports.asgi.{p}" for p in protocols - {path.stem}}
            assert not reached & others, f"{path.name} imports another protocol"
    assert not (ROOT / "cello" / "_webcall.py").exists()  # the ServicerContext imitation


def test_every_package_ships_in_the_wheel() -> None:
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "cello").rglob("__init__.py")
    } | {"cello.codegen", "cello.templates"}  # symlinks, which rglob does not follow
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"
