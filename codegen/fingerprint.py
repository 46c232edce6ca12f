"""Source fingerprints: a cache key for generated stubs that costs no introspection or render.

Stubs are a pure function of the generator, protoc, the default package, the caller's
other inputs (lock, file options) and the Python source the services are defined in.
Hashing that source (the service modules and every module of user code their globals
reach, transitively) keys the stub cache without modelling or rendering anything, so a
warm start skips both. This module imports nothing of the generator but
`cello._definitions.service`: the stub loader uses it on every start.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

from cello._definitions.service import GrpcService

_HERE = Path(__file__).resolve().parent


def fingerprint(
    services: Sequence[type[GrpcService]],
    default_package: str | None,
    *,
    extra: str = "",
    modules: Sequence[ModuleType] = (),
) -> str | None:
    """A hex key that changes whenever the stubs of `services` could, or None if unknowable.

    `extra` is whatever else the caller's output depends on (the lock, file options);
    `modules` are more modules whose services the output holds (a build's targets).
    The services defined beside `services` need not be listed: their source is hashed.

    None when a service is not a module-level class (one made in a function may differ
    between calls of the same source) or some reachable module has no source file (a
    notebook cell, `python -c`): the caller then generates to find out.
    """
    h = hashlib.sha256(_generator_digest().encode())
    h.update(f"|{default_package}|{extra}|".encode())
    for cls in services:
        module = sys.modules.get(cls.__module__)
        if module is None or _lookup(module, cls.__qualname__) is not cls:
            return None
        h.update(f"{cls.__module__}:{cls.__qualname__}:{cls.__dict__.get('package')}\0".encode())
    roots = [*modules, *(sys.modules[cls.__module__] for cls in services)]
    for module in _user_modules(iter(roots)):
        source = _source(module)
        if source is None:
            return None
        h.update(module.__name__.encode() + b"\0" + source + b"\0")
    return h.hexdigest()[:24]


@functools.cache
def _generator_digest() -> str:
    """The generator's own source and templates, the runtime modules generated stubs build
    on (an upgrade of Cello may change what they expect), protobuf's version and protoc's
    build. About 100 files: read with `os` rather than `pathlib`, it costs about 2 ms."""
    from google.protobuf import __version__ as protobuf_version

    protoc = importlib.util.find_spec("grpc_tools.protoc")  # located, not loaded: it is large
    h = hashlib.sha256(f"{protobuf_version}|{protoc and protoc.origin}".encode())
    # the whole runtime package, not one folder of it: stubs build on `_wire/`, `_client/`
    # and the stub-ABI modules, which live beside `GrpcService`'s package, not in it
    runtime = os.path.dirname(os.path.dirname(os.path.realpath(inspect.getfile(GrpcService))))
    folders = [(str(_HERE), ".py"), (str(_HERE.parent / "templates"), ".j2")]
    folders += [(d, ".py") for d in _package_folders(runtime)]
    for folder, suffix in folders:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(suffix))
        for name in names:
            with open(os.path.join(folder, name), "rb") as file:
                label = os.path.relpath(os.path.join(folder, name), os.path.dirname(runtime))
                h.update(label.encode() + b"\0")
                h.update(file.read() + b"\0")
    return h.hexdigest()


def _package_folders(root: str) -> list[str]:
    """`root` and its subpackages' folders, sorted, but the generator and the templates
    (hashed on their own, and symlinks in a checkout)."""
    found = []
    for folder, dirs, _ in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "codegen", "templates"))
        found.append(folder)
    return sorted(found)


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """The standard library and the site-packages folders (from `site`, which is loaded
    already: `sysconfig.get_paths()` would load its data module, a millisecond or two)."""
    import site

    folders = [os.path.dirname(os.__file__), *site.getsitepackages(), site.getusersitepackages()]
    return tuple(os.path.join(os.path.realpath(f), "") for f in folders)


def _user_modules(roots: Iterator[ModuleType]) -> list[ModuleType]:
    """`roots` and every module of user code (not stdlib or site-packages) their globals
    reach — through imported modules or classes and functions defined elsewhere — sorted."""
    seen: dict[str, ModuleType] = {}
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module.__name__ in seen:
            continue
        seen[module.__name__] = module
        for value in list(vars(module).values()):
            if isinstance(value, ModuleType):
                found = value
            elif inspect.isclass(value) or inspect.isfunction(value):
                found = sys.modules.get(getattr(value, "__module__", ""), module)
            else:
                continue
            if found.__name__ not in seen and _is_user_code(found):
                todo.append(found)
    return [seen[name] for name in sorted(seen)]


def _is_user_code(module: ModuleType) -> bool:
    file = getattr(module, "__file__", None)
    if file is None:  # builtins and namespace packages hold no definitions that matter
        return module.__name__ == "__main__"
    return not str(Path(file).resolve()).startswith(_library_roots())


def _source(module: ModuleType) -> bytes | None:
    file = getattr(module, "__file__", None)
    if not file or not file.endswith(".py"):
        return None
    try:
        return Path(file).read_bytes()
    except OSError:
        return None


def _lookup(module: ModuleType, qualname: str) -> object:
    value: object = module
    for part in qualname.split("."):
        value = getattr(value, part, None)
    return value
