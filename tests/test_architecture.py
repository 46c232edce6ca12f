"""The public API surface, the package layering of `cello/`, and the generator's one door.

The runtime is a stack of packages, each allowed to import only those below it (the map is
drawn in docs/architecture.md). `LAYERS` below is that map as code: a new import that runs
upward, or any import cycle between modules, fails here before it lands.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import ModuleType

import pytest

import cello
import cello.grpc

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "cello" / "codegen"
TEMPLATES = ROOT / "cello" / "templates"

# package → the cello packages (and root modules) it may import. The public faces
# (`cello/__init__.py`, `grpc.py`, `client.py`, `testing.py`, `__main__.py`) and the stub-ABI
# shims (`_binding.py`, `_convert.py`) sit on top and may import anything.
BASE = {"_errors", "_lazy"}
LAYERS: dict[str, set[str]] = {
    "_security": {"_errors"},
    "_definitions": {"_errors", "_security"},
    "_wire": {"_errors", "_definitions"},
    "_call": {"_errors", "_security", "_definitions", "_wire"},
    "_protocols": {"_errors", "_security", "_definitions", "_wire", "_call"},
    "_transports": {"_errors", "_security", "_definitions", "_wire", "_call"},
    "_client": {"_errors", "_security", "_definitions", "_wire", "_call"},
    "_server": BASE | {"_security", "_definitions", "_wire", "_call", "_protocols", "_transports"},
    "_cli": BASE | {"_security", "_definitions", "_server"},
}
FACES = {"__init__", "__main__", "grpc", "client", "testing", "_binding", "_convert"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, typing: bool = True) -> set[str]:
    """Modules `path` imports, relative imports resolved (`from . import x` → `pkg.x`);
    without `typing`, those under `if TYPE_CHECKING:` (never run) are left out."""
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    package = package or _module_name(path)
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not typing:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names.add(node.module)
                names |= {f"{node.module}.{a.name}" for a in node.names}
            elif node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
                names.add(module)
                names |= {f"{module}.{a.name}" for a in node.names}
    return names


def _runtime_modules() -> list[Path]:
    return sorted(
        p
        for p in (ROOT / "cello").rglob("*.py")
        if not p.is_relative_to(GENERATOR) and not p.is_relative_to(TEMPLATES)
    )


def _role(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "cello" and len(parts) > 1 else None


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


def test_every_runtime_module_has_a_role() -> None:
    """`cello/` is packages by role; only the public faces and the root modules sit loose."""
    loose = {p.stem for p in (ROOT / "cello").glob("*.py")}
    assert loose <= FACES | BASE, f"put {sorted(loose - FACES - BASE)} in a package by role"
    packages = {p.name for p in (ROOT / "cello").iterdir() if (p / "__init__.py").exists()}
    assert packages - {"codegen", "templates"} == set(LAYERS)
    for package in LAYERS:
        doc = ast.get_docstring(ast.parse((ROOT / "cello" / package / "__init__.py").read_text()))
        assert doc and "Imports" in doc, f"{package}/__init__.py: say what it owns and imports"


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_packages_import_only_the_layers_below(package: str) -> None:
    for path in sorted((ROOT / "cello" / package).rglob("*.py")):
        reached = {_role(n) for n in _imports(path) if n.startswith("cello.")} - {None, package}
        upward = {r for r in reached if r != "codegen"} - LAYERS[package] - BASE
        assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)} (upward)"


def test_no_import_cycles_between_modules() -> None:
    """Deferred imports count too: a cycle hidden in a function is still a cycle."""
    modules = {_module_name(p): p for p in _runtime_modules()}
    graph = {
        name: {
            n
            for n in _imports(path, typing=False)
            if n in modules and n != name and not name.startswith(n + ".")  # parent packages
        }
        for name, path in modules.items()
    }
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            cycle = trail[trail.index(name) :] + (name,)
            raise AssertionError("import cycle: " + " → ".join(cycle))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, (*trail, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_only_the_stub_loader_reaches_the_generator() -> None:
    forbidden = ("cello.codegen", "codegen", "jinja2", "grpc_tools")
    door = ROOT / "cello" / "_wire" / "stubs.py"
    for path in _runtime_modules():
        reached = {n for n in _imports(path) if n.startswith(forbidden)}
        if path == door:
            assert all(n.startswith(("cello.codegen", "grpc_tools")) for n in reached)
        else:
            assert not reached, f"{path.relative_to(ROOT)} imports {reached}"


# the generator's stages: each package of codegen/ and what it may import of the others
# (`model.py` is below them all; `build.py`, `cli.py`, `project.py`, `fingerprint.py` on top)
GENERATOR_STAGES: dict[str, set[str]] = {
    "model": set(),
    "schema": {"model"},
    "emit": {"model", "schema"},
    "evolution": {"model", "schema"},
    "importing": {"model", "schema", "emit"},
}


@pytest.mark.parametrize("stage", sorted(GENERATOR_STAGES))
def test_generator_stages_import_only_earlier_ones(stage: str) -> None:
    folder = ROOT / "codegen"
    paths = [folder / "model.py"] if stage == "model" else sorted((folder / stage).glob("*.py"))
    for path in paths:
        reached = {
            n.split(".")[2] if n.startswith("cello.codegen.") else n.split(".")[1]
            for n in _imports(path, typing=False)  # a type may name a later stage's class
            if n.startswith(("cello.codegen.", "codegen."))
        } - {stage}
        assert reached <= GENERATOR_STAGES[stage], f"{path.relative_to(ROOT)} imports {reached}"
        from_runtime = {n for n in _imports(path) if n.startswith("cello.")}
        allowed = ("cello._definitions", "cello._errors", "cello.codegen")
        assert all(n.startswith(allowed) for n in from_runtime), f"{path.name}: {from_runtime}"


def test_generator_model_knows_nothing_of_jinja_or_grpc() -> None:
    reached = _imports(ROOT / "codegen" / "model.py")
    assert not {n for n in reached if n.startswith(("jinja2", "grpc", "google"))}


def test_the_call_layer_knows_no_transport_and_no_grpc() -> None:
    """Handlers and middleware see a `CallContext`, never a grpc or HTTP object."""
    for path in sorted((ROOT / "cello" / "_call").glob("*.py")):
        reached = _imports(path)
        bad = {n for n in reached if n.split(".")[0] in ("grpc", "uvicorn", "httpx", "h2")}
        assert not bad, f"{path.name} imports {bad}"


def test_the_protocols_are_grpc_free_and_independent() -> None:
    protocols_dir = ROOT / "cello" / "_protocols"
    shared = {"__init__", "app", "http", "call", "schema", "routes"}  # plumbing protocols may use
    protocols = {p.stem for p in protocols_dir.glob("*.py")} - shared
    assert {"grpc", "grpc_web", "connect"} <= protocols
    for path in sorted(protocols_dir.glob("*.py")):
        reached = _imports(path)
        assert not {n for n in reached if n == "grpc" or n.startswith("grpc.")}, path.name
        if path.stem in protocols:
            others = {f"cello._protocols.{p}" for p in protocols - {path.stem}}
            assert not reached & others, f"{path.name} imports another protocol"


def test_transports_serve_any_asgi_app() -> None:
    """The h2 and uvicorn servers run an ASGI app; they know no Cello protocol."""
    for path in sorted((ROOT / "cello" / "_transports").rglob("*.py")):
        reached = {n for n in _imports(path) if n.startswith("cello._protocols")}
        assert not reached, f"{path.relative_to(ROOT)} imports {reached}"


def test_the_stub_abi_covers_what_the_templates_import() -> None:
    """Generated stubs import these module paths; every name they use must resolve there,
    so stubs written by earlier builds keep loading after a move inside `cello/`."""
    import importlib

    text = "\n".join(p.read_text() for p in sorted(ROOT.glob("templates/*.j2")))
    text += (ROOT / "codegen" / "emit" / "imports.py").read_text()
    imported: list[tuple[str, object]] = []
    for module, name, alias in re.findall(r"from (cello(?:\.\w+)*) import (\w+) as (\w+)", text):
        try:
            value: object = importlib.import_module(f"{module}.{name}")
        except ModuleNotFoundError:
            value = getattr(importlib.import_module(module), name)
        imported.append((alias, value))
    assert {alias for alias, _ in imported} >= {"_c", "_w", "_Method", "_Client"}
    goldens = ROOT / "tests" / "codegen" / "cases"
    used = {
        (alias, attr)
        for path in goldens.rglob("*.py")
        if any(part.startswith("expected") for part in path.parts)
        for alias, attr in re.findall(r"\b(_[cw])\.([A-Za-z_]\w*)", path.read_text())
    }
    assert len(used) > 20
    for alias, attr in sorted(used):
        assert any(a == alias and hasattr(m, attr) for a, m in imported), f"{alias}.{attr}"


def test_every_package_ships_in_the_wheel() -> None:
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "cello").rglob("__init__.py")
    } | {"cello.templates"}  # a symlink, which rglob does not follow
    found |= {  # cello/codegen is a symlink to codegen/
        "cello." + ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "codegen").rglob("__init__.py")
    }
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"
