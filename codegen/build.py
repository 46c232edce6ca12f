"""The build pipeline: import targets, model them, render, compile, write."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cello._definitions.service import GrpcService

from .emit.imports import relative_package
from .evolution.lock import Lock
from .model import Schema
from .schema.introspect import build_schema, package_of
from .schema.targets import import_target as import_target  # re-exported: callers import it here
from .schema.targets import module_services


def with_siblings(
    services: Iterable[type[GrpcService]], default_package: str | None
) -> list[type[GrpcService]]:
    """Add the services defined beside each one in its module and package.

    A package's file then always holds the same services, whichever subset a server
    registers, so on-the-fly stubs match `cello-gen build` output byte for byte.
    """
    result: list[type[GrpcService]] = []
    # each module's services and their packages once, not once per service: a module of 100
    # services would otherwise cost 100 x 100 `rpc_methods()` and `package_of()` calls
    by_module: dict[str, list[tuple[type[GrpcService], str]]] = {}
    for cls in services:
        if cls.__module__ not in by_module:
            module = sys.modules.get(cls.__module__)
            found = module_services(module) if module is not None else []
            by_module[cls.__module__] = [(s, package_of(s, default_package)) for s in found]
        package = package_of(cls, default_package)
        group = [s for s, p in by_module[cls.__module__] if p == package]
        for item in group if cls in group else [cls]:
            if item not in result:
                result.append(item)
    return result


def generate(
    services: Sequence[type[GrpcService]],
    *,
    default_package: str | None = None,
    lock: Lock | None = None,
    file_options: Mapping[str, Any] | None = None,
    modules: Iterable[str] = (),
) -> tuple[Schema, dict[str, str]]:
    """Model and render services: the schema and `{path: text}` of `.proto` and stubs.

    `lock` is the previous build's lock (see `build_schema`); None numbers by declaration order.
    `file_options` is `[tool.cello.options]` (see `build_schema`); `modules` are
    modules of types only (see `build_schema`).
    """
    from .emit.render import render  # Jinja loads only when something is rendered

    schema = build_schema(
        services,
        default_package=default_package,
        lock=lock,
        file_options=file_options,
        modules=modules,
    )
    return schema, render(schema)


def write_outputs(texts: dict[str, str], out: Path) -> list[Path]:
    """Write rendered files and compile them with protoc into `out`; returns the paths written.

    Everything is produced in a scratch directory first, so a failing protoc leaves `out`
    as it was.
    """
    from .emit.protoc import compile_protos  # grpc_tools loads only when something is compiled

    # `google/type/*.proto` ship beside the user's for other languages; Python has their
    # `_pb2` modules from googleapis-common-protos, so they are not compiled again
    protos = [p for p in texts if p.endswith(".proto") and not p.startswith("google/")]
    with tempfile.TemporaryDirectory(prefix="cello-gen-") as scratch:
        root = Path(scratch)
        for rel, text in texts.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        if protos:  # an imported google/type file alone has nothing of its own to compile
            compile_protos(root, protos, root)
        _relative_imports(root, protos)
        written = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            target = out / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_bytes() != path.read_bytes():
                shutil.copyfile(path, target)
            written.append(target)
        return written


def _relative_imports(root: Path, protos: list[str]) -> None:
    """protoc writes `from a.b import c_pb2` for an imported file; make imports between files
    of one build relative (`from . import c_pb2`, `from ..common.v1 import common_pb2`), so
    they work wherever the output is imported from (the stub loader imports it under a
    private package name)."""
    for proto in protos:
        stem = proto.removesuffix(".proto")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            path = root / f"{stem}{suffix}"
            if not path.exists() or "/" not in proto:
                continue
            text = path.read_text(encoding="utf-8")
            for other in protos:
                if "/" not in other:
                    continue
                folder, _, name = other.rpartition("/")
                module = re.escape(name.removesuffix(".proto") + "_pb2")
                pattern = rf"^from {re.escape(folder.replace('/', '.'))} import ({module}) as "
                relative = relative_package(proto, other)
                text = re.sub(pattern, rf"from {relative} import \1 as ", text, flags=re.M)
            path.write_text(text, encoding="utf-8", newline="\n")


def stale_files(out: Path, texts: dict[str, str]) -> list[Path]:
    """Rendered files whose copy in `out` differs or is missing, and missing protoc output."""
    stale = []
    for rel, text in texts.items():
        path = out / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
        elif rel.endswith(".proto") and not rel.startswith("google/"):  # shipped, not compiled
            stem = rel.removesuffix(".proto")
            stale += [
                out / f"{stem}{suffix}"
                for suffix in ("_pb2.py", "_pb2_grpc.py")
                if not (out / f"{stem}{suffix}").exists()
            ]
    return stale
