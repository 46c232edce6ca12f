"""The stub loader: the runtime's one door to the generator.

It finds or produces the generated modules for a set of services: built stubs from
`cello-gen build` (refusing them if stale), else stubs generated on the fly into a
content-addressed cache, numbered by the project's lock. Which build, and which project,
follows from the arguments, `$CELLO_STUBS_DIR` and the services' own files, never from
the working directory (docs/schema-location.md).
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .._definitions.service import GrpcService
from .._errors import StaleStubsError
from .binding import ServiceBinding
from .pool import is_duplicate_file_error, load_supplement, record_loaded
from .script import adopt_script_module

if TYPE_CHECKING:
    from ..codegen.project import Project

LOCK_FILE = (
    "cello.lock.json"  # cello.codegen.evolution.lock.LOCK_FILE, without importing the generator
)

_lock = threading.Lock()
_IMPORT = re.compile(r'^import "([^"]+)";$', re.M)
_loaded: dict[Path, dict[str, ServiceBinding]] = {}


def cache_root() -> Path:
    """Where on-the-fly stubs go: `$CELLO_CACHE_DIR`, else `~/.cache/cello`."""
    env = os.environ.get("CELLO_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base if env else base / "cello"


STUBS_DIR_ENV = "CELLO_STUBS_DIR"


@dataclass(frozen=True, slots=True)
class SchemaSource:
    """Where a server's schema comes from: a `cello-gen build`, or generated on the fly.

    Attributes:
        directory: the build directory, or the cache entry of on-the-fly stubs.
        built: True for a `cello-gen build` output (stubs_dir, `$CELLO_STUBS_DIR` or the
            project's `[tool.cello] out`), False for stubs generated on the fly.
        lock: the `cello.lock.json` that numbered the schema, if any.
        lock_digest: the first 12 hex digits of that file's sha256.
    """

    directory: Path
    built: bool
    lock: Path | None = None
    lock_digest: str | None = None

    def describe(self) -> str:
        """One line for the start-up log: which schema is served."""
        digest = f"{LOCK_FILE} sha256 {self.lock_digest}"
        if self.built:
            return f"schema from the build in {self.directory} ({digest})"
        if self.lock is not None:
            return (
                f"schema generated on the fly, numbered by {self.lock} (sha256 {self.lock_digest})"
            )
        return f"schema generated on the fly (no {LOCK_FILE}; fields numbered in declaration order)"


def load_bindings(
    services: Iterable[type[GrpcService]],
    *,
    stubs_dir: str | os.PathLike[str] | None = None,
    package: str | None = None,
) -> dict[str, ServiceBinding]:
    """Bindings for every service in `services`, keyed by full service name.

    See `load_schema`, which also says where the schema came from.
    """
    return load_schema(services, stubs_dir=stubs_dir, package=package)[0]


def load_schema(
    services: Iterable[type[GrpcService]],
    *,
    stubs_dir: str | os.PathLike[str] | None = None,
    package: str | None = None,
) -> tuple[dict[str, ServiceBinding], SchemaSource]:
    """Bindings for every service in `services`, and the source of their schema.

    The build served is, in order: `stubs_dir`; `$CELLO_STUBS_DIR`; the `[tool.cello] out`
    build of the project holding the services' modules (found from their files, not the
    working directory), if it covers them all. Without one, stubs are generated on the fly,
    numbered by the project's lock when it has one, so they never disagree with it.

    Raises:
        DefinitionError: a service cannot be mapped to protobuf.
        StaleStubsError: the build holds stubs built from different classes.
        GenerationError: protoc failed.
    """
    from ..codegen.fingerprint import fingerprint

    services = list(services)
    project = _project(services)
    config = project.config if project is not None else {}
    explicit = stubs_dir if stubs_dir is not None else os.environ.get(STUBS_DIR_ENV) or None
    if explicit is not None:
        lock_dir: Path | None = Path(explicit).resolve()
    else:
        lock_dir = project.out.resolve() if project is not None else None
    head = _lock_head(lock_dir) if lock_dir is not None else None
    adopt_script_module(services, head.targets if head is not None else ())
    package = package or config.get("package")
    # the project's build is used only if it opted in with `out` and has these services
    opted_in = head is not None and "out" in config and _covers(head.targets, services)
    options = _project_options(config)
    if lock_dir is not None and (explicit is not None or opted_in):
        key = _built_key(lock_dir, head, services, package, options)
        stubs = _recall(key, lock_dir)
        if stubs is None:
            texts = _expected_texts(lock_dir, services, package, options)
            _check_current(lock_dir, texts)
            stubs = _remember(key, lock_dir, _imports_first(texts))
        directory = lock_dir
        source = SchemaSource(directory, True, *_lock_id(lock_dir))
    else:
        # never serve numbers that disagree with the project's lock: number with it
        package = package or (head.package if head is not None else None)
        ids = _lock_id(lock_dir) if head is not None and lock_dir is not None else ()
        # a warm start finds its stubs by the fingerprint of the source, without loading the
        # generator, modelling or rendering; the texts' digest still names the directory.
        # The services defined beside these, which the files also hold, follow from the
        # source, so the key need not list them
        key = fingerprint(services, package, extra=_inputs(ids, options))
        directory, stubs = _recall_directory(key)
        if stubs is None:
            from ..codegen.build import generate, with_siblings, write_outputs
            from ..codegen.evolution.lock import read_lock

            lock = read_lock(lock_dir) if head is not None and lock_dir is not None else None
            _, texts = generate(
                with_siblings(services, package),
                default_package=package,
                lock=lock,
                file_options=options,
            )
            directory = cache_root() / "stubs" / _digest(texts)
            if not (directory / ".complete").exists():
                _build_into(directory, texts, write_outputs)
            stubs = _remember(key, directory, _imports_first(texts))
        source = SchemaSource(directory, False, *ids)
    bindings = _import(directory, stubs)
    wanted = {f"{cls.__module__}:{cls.__qualname__}" for cls in services}
    return {name: b for name, b in bindings.items() if b.python_class in wanted}, source


def openapi_json(services: Iterable[type[GrpcService]], *, package: str | None = None) -> bytes:
    """The OpenAPI 3.1 document of the services' REST routes, as JSON text.

    Raises:
        DefinitionError: a service cannot be mapped to protobuf.
    """
    import json

    from ..codegen.build import generate, with_siblings
    from ..codegen.emit.openapi import document

    services = list(services)
    schema, _ = generate(with_siblings(services, package), default_package=package)
    title = ", ".join(cls.name for cls in services)
    return json.dumps(document(schema, title=title), ensure_ascii=False).encode("utf-8")


class _LockHead(NamedTuple):  # not a dataclass: this module is on every start's path
    """What the loader needs of a lock before it knows whether to generate: the package and
    targets, read from the JSON without loading the generator's lock model."""

    package: str | None
    targets: tuple[str, ...]


def _lock_head(directory: Path) -> _LockHead | None:
    """The package and targets of the lock in `directory`; None without one.

    Raises:
        GenerationError: the file is not a valid lock (`cello.codegen.evolution.lock` says why).
    """
    import json  # only a project with a lock needs it

    path = directory / LOCK_FILE
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        data = None
    targets = data.get("targets", []) if isinstance(data, dict) else None
    package = data.get("package") if isinstance(data, dict) else None
    if not isinstance(targets, list) or not isinstance(package, str | None):
        from ..codegen.evolution.lock import read_lock

        lock = read_lock(directory)  # the lock's own error, naming what is wrong
        return _LockHead(lock.package, lock.targets)
    return _LockHead(package, tuple(str(t) for t in targets))


def _project(services: list[type[GrpcService]]) -> Project | None:
    """The project of the services' modules, found from their files.

    Only modules without a file (a REPL, a notebook) fall back to the working directory.
    """
    from ..codegen.project import find_project

    modules = dict.fromkeys(cls.__module__ for cls in services)
    files = [getattr(sys.modules.get(name), "__file__", None) for name in modules]
    # each module once: a module of 100 services would otherwise be looked up 100 times
    for folder in dict.fromkeys(Path(file).resolve().parent for file in files if file):
        project = find_project(folder)
        if project is not None:
            return project
    return find_project(Path.cwd()) if not any(files) else None


def _covers(targets: tuple[str, ...], services: list[type[GrpcService]]) -> bool:
    covered = {t.partition(":")[0] for t in targets}
    return bool(covered) and all(cls.__module__ in covered for cls in services)


def _lock_id(directory: Path) -> tuple[Path, str] | tuple[()]:
    path = directory / LOCK_FILE
    if not path.exists():
        return ()
    return path, hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _project_options(config: dict[str, object]) -> dict[str, object]:
    """`[tool.cello.options]` of the project, so served files match `cello-gen build`'s."""
    options = config.get("options", {})
    return options if isinstance(options, dict) else {}


def _expected_texts(
    directory: Path,
    services: list[type[GrpcService]],
    package: str | None,
    options: dict[str, object],
) -> dict[str, str]:
    """Re-render what `cello-gen build` wrote into `directory`, from the classes of today."""
    from ..codegen.build import generate, import_target, with_siblings
    from ..codegen.evolution.lock import LOCK_FILE, read_lock

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
        file_options=options,
    )
    return texts


def _check_current(directory: Path, texts: dict[str, str]) -> None:
    from ..codegen.build import stale_files

    stale = stale_files(directory, texts)
    if stale:
        raise StaleStubsError(
            f"{stale[0]} does not match the service classes (changed since the last build); "
            f"run `cello-gen build --out {directory}` and restart"
        )


def _inputs(lock_id: tuple[Path, str] | tuple[()], options: dict[str, object]) -> str:
    """What else the generated files depend on: the lock numbering them, the file options.

    `repr`, not JSON: the same table always gives the same text, and a warm start then
    needs no `json` (reordering the table only costs one generation).
    """
    return repr([str(x) for x in lock_id] + [options])


def _built_key(
    directory: Path,
    head: _LockHead | None,
    services: list[type[GrpcService]],
    package: str | None,
    options: dict[str, object],
) -> str | None:
    """The fingerprint of the services a build covers, plus the build's files as they are.

    A build once found current stays current while neither the source nor the files change.
    """
    from ..codegen.fingerprint import fingerprint
    from ..codegen.schema.targets import import_module

    if head is None:
        return None  # `_expected_texts` says what to do
    # the targets' modules, not their services: listing those would cost an introspection
    # of each class, and the modules' source already decides them
    modules = [import_module(spec.partition(":")[0]) for spec in head.targets]
    package = head.package or package
    extra = _inputs((), options) + repr(head.targets)
    key = fingerprint(services, package, extra=extra, modules=modules)
    if key is None:
        return None
    # size and modification time stand for the content, as for make: `cello-gen build`
    # rewrites only files whose content changed
    h = hashlib.sha256(f"{key}|{directory}".encode())
    found = []
    for folder, subfolders, files in os.walk(directory):  # `os`, not `rglob`: a third the cost
        subfolders[:] = [name for name in subfolders if name != "__pycache__"]
        rel = os.path.relpath(folder, directory).replace(os.sep, "/")
        found += [(f"{rel}/{name}", os.path.join(folder, name)) for name in files]
    for rel, path in sorted(found):
        stat = os.stat(path)
        h.update(f"{rel}|{stat.st_size}|{stat.st_mtime_ns}\0".encode())
    return h.hexdigest()[:24]


def _memo(key: str) -> Path:
    """The memo of `key`: the stub directory on the first line, then one stub file a line
    (plain text, which a warm start reads without loading `json`)."""
    return cache_root() / "fingerprints" / f"{key}.txt"


def _read_memo(key: str | None) -> tuple[Path, list[str]] | None:
    if key is None:
        return None
    try:
        directory, *files = _memo(key).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeError, ValueError):  # ValueError: an empty file
        return None
    return Path(directory), files


def _recall(key: str | None, directory: Path) -> list[str] | None:
    """The stub files remembered under `key` for `directory`, if any."""
    memo = _read_memo(key)
    return memo[1] if memo is not None and memo[0] == directory else None


def _recall_directory(key: str | None) -> tuple[Path, list[str] | None]:
    """The cache directory and stub files remembered under `key`, if still complete."""
    memo = _read_memo(key)
    if memo is None:
        return Path(), None
    directory, files = memo
    if not (directory / ".complete").exists():
        return directory, None
    return directory, files


def _remember(key: str | None, directory: Path, files: list[str]) -> list[str]:
    """Record the stub files, in import order, `key` maps to (best effort: a read-only cache
    only costs time)."""
    if key is not None:
        path = _memo(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_suffix(f".{os.getpid()}.tmp")
            scratch.write_text("".join(f"{line}\n" for line in [str(directory), *files]))
            scratch.replace(path)
        except OSError:
            pass
    return files


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


def _import(directory: Path, stubs: list[str]) -> dict[str, ServiceBinding]:
    """Import the `_cello` stub modules under private package names (no `sys.path` change)."""
    with _lock:
        cached = _loaded.get(directory)
        if cached is not None:
            return cached
        bindings: dict[str, ServiceBinding] = {}
        tag = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
        # one private package for the whole build, its folders subpackages of it (namespace
        # packages), so a file's relative import of another package's file resolves
        root = f"_cello_stubs_{tag}"
        if root not in sys.modules:
            package = types.ModuleType(root)
            package.__path__ = [str(directory)]
            sys.modules[root] = package
        for rel in stubs:
            folder = (directory / rel).parent
            package_name = ".".join([root, *rel.split("/")[:-1]])
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
        record_loaded(importlib.import_module(name).DESCRIPTOR.name)
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
