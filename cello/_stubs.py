"""The stub loader: the runtime's one door to the generator.

It finds or produces the generated modules for a set of services: built stubs from
`cello-gen build` when given (refusing them if stale), else stubs generated on the fly
into a content-addressed cache.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import sys
import tempfile
import threading
import types
from collections.abc import Iterable
from pathlib import Path

from ._binding import ServiceBinding
from ._errors import StaleStubsError
from ._pool import is_duplicate_file_error, load_supplement
from ._service import GrpcService

_lock = threading.Lock()
_IMPORT = re.compile(r'^import "([^"]+)";$', re.M)
_loaded: dict[Path, dict[str, ServiceBinding]] = {}


def cache_root() -> Path:
    """Where on-the-fly stubs go: `$CELLO_CACHE_DIR`, else `~/.cache/cello`."""
    env = os.environ.get("CELLO_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base if env else base / "cello"


def load_bindings(
    services: Iterable[type[GrpcService]],
    *,
    stubs_dir: str | os.PathLike[str] | None = None,
    package: str | None = None,
) -> dict[str, ServiceBinding]:
    """Bindings for every service in `services`, keyed by full service name.

    Raises:
        DefinitionError: a service cannot be mapped to protobuf.
        StaleStubsError: `stubs_dir` holds stubs built from different classes.
        GenerationError: protoc failed.
    """
    from cello.codegen.build import generate, with_siblings, write_outputs

    services = list(services)
    if stubs_dir is None:
        stubs_dir, package = _project_stubs(services, package)
    if stubs_dir is not None:
        directory = Path(stubs_dir).resolve()
        texts = _expected_texts(directory, services, package)
        _check_current(directory, texts)
    else:
        _, texts = generate(
            with_siblings(services, package),
            default_package=package,
            file_options=_project_options(),
        )
        directory = cache_root() / "stubs" / _digest(texts)
        if not (directory / ".complete").exists():
            _build_into(directory, texts, write_outputs)
    bindings = _import(directory, texts)
    wanted = {f"{cls.__module__}:{cls.__qualname__}" for cls in services}
    return {name: b for name, b in bindings.items() if b.python_class in wanted}


def _project_stubs(
    services: list[type[GrpcService]], package: str | None
) -> tuple[Path | None, str | None]:
    """The `[tool.cello] out` build of the project in the working directory, if it covers
    every service; also the project's default package.

    Only a project that configures `out` opts in, so an unrelated `generated/` folder is
    never picked up by accident.
    """
    from cello.codegen.cli import project_config
    from cello.codegen.lock import read_lock

    config = project_config(Path.cwd())
    package = package or config.get("package")
    if "out" not in config:
        return None, package
    directory = (Path.cwd() / config["out"]).resolve()
    covered = {t.partition(":")[0] for t in read_lock(directory).targets}
    if not covered:  # no build there yet
        return None, package
    if all(cls.__module__ in covered for cls in services):
        return directory, package
    return None, package


def _project_options() -> dict[str, object]:
    """`[tool.cello.options]` of the project, so served files match `cello-gen build`'s."""
    from cello.codegen.cli import project_config

    options = project_config(Path.cwd()).get("options", {})
    return options if isinstance(options, dict) else {}


def _expected_texts(
    directory: Path, services: list[type[GrpcService]], package: str | None
) -> dict[str, str]:
    """Re-render what `cello-gen build` wrote into `directory`, from the classes of today."""
    from cello.codegen.build import generate, import_target, with_siblings
    from cello.codegen.lock import LOCK_FILE, read_lock

    if not (directory / LOCK_FILE).exists():
        raise StaleStubsError(
            f"{directory}: no {LOCK_FILE}; run `cello-gen build --out {directory}`"
        )
    # the build numbered fields with the lock as it stood before; re-rendering with the lock
    # it wrote gives the same numbers and `reserved` lines, so the comparison stays exact
    lock = read_lock(directory)
    package = lock.package or package
    targets = [cls for spec in lock.targets for cls in import_target(spec)]
    texts: dict[str, str]
    _, texts = generate(
        with_siblings(targets + services, package),
        default_package=package,
        lock=lock,
        file_options=_project_options(),
    )
    return texts


def _check_current(directory: Path, texts: dict[str, str]) -> None:
    from cello.codegen.build import stale_files

    stale = stale_files(directory, texts)
    if stale:
        raise StaleStubsError(
            f"{stale[0]} does not match the service classes (changed since the last build); "
            f"run `cello-gen build --out {directory}` and restart"
        )


def _digest(texts: dict[str, str]) -> str:
    from google.protobuf import __version__ as protobuf_version
    from grpc_tools import protoc

    h = hashlib.sha256(f"{protobuf_version}|{protoc.__file__}".encode())
    for rel, text in sorted(texts.items()):
        h.update(rel.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()[:24]


def _build_into(directory: Path, texts: dict[str, str], write_outputs: object) -> None:
    """Generate into a scratch directory next to the cache entry, then rename it into place."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=directory.parent))
    try:
        write_outputs(texts, scratch)  # type: ignore[operator]
        (scratch / ".complete").write_text("ok\n")
        try:
            scratch.rename(directory)
        except OSError:  # another process won the race; its copy is identical
            if not (directory / ".complete").exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _import(directory: Path, texts: dict[str, str]) -> dict[str, ServiceBinding]:
    """Import the `_cello` stub modules under private package names (no `sys.path` change)."""
    with _lock:
        cached = _loaded.get(directory)
        if cached is not None:
            return cached
        bindings: dict[str, ServiceBinding] = {}
        tag = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
        for rel in _imports_first(texts):
            folder = (directory / rel).parent
            package_name = f"_cello_stubs_{tag}_" + rel.rsplit("/", 1)[0].replace("/", "_")
            if package_name not in sys.modules:
                package = types.ModuleType(package_name)
                package.__path__ = [str(folder)]
                sys.modules[package_name] = package
            stem = rel.rsplit("/", 1)[-1].removesuffix(".py")
            _import_pb2(f"{package_name}.{stem.removesuffix('_cello')}_pb2", folder)
            module = importlib.import_module(f"{package_name}.{stem}")
            for service in module.SERVICES:
                bindings[service.full_name] = service
        _loaded[directory] = bindings
        return bindings


def _imports_first(texts: dict[str, str]) -> list[str]:
    """The `_cello.py` stubs, each after the stubs of the files its `.proto` imports, so a
    `_pb2` module that has to be supplemented (see `_pool`) is never imported from another."""
    protos = sorted(p for p in texts if p.endswith(".proto"))
    order: list[str] = []

    def visit(proto: str) -> None:
        if proto in order or proto not in texts:
            return
        order.append(proto)  # placeholder against cycles, which protoc refuses anyway
        for dep in sorted(_IMPORT.findall(texts[proto])):
            visit(dep)
        order.remove(proto)
        order.append(proto)

    for proto in protos:
        visit(proto)
    return [
        p.removesuffix(".proto") + "_cello.py"
        for p in order
        if p.removesuffix(".proto") + "_cello.py" in texts
    ]


def _import_pb2(name: str, folder: Path) -> None:
    """Import a `_pb2` module; if its file is in the pool with other content, supplement it."""
    if name in sys.modules:
        return
    try:
        importlib.import_module(name)
    except TypeError as exc:
        if not is_duplicate_file_error(exc):
            raise
        sys.modules.pop(name, None)
        path = folder / (name.rsplit(".", 1)[-1] + ".py")
        sys.modules[name] = load_supplement(name, path)


def loaded_bindings() -> dict[str, ServiceBinding]:
    """Every service binding imported in this process (for clients resolving short names)."""
    with _lock:
        return {name: b for group in _loaded.values() for name, b in group.items()}
