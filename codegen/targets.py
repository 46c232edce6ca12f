"""Targets: `module` or `module:Class` specs imported into service classes, with errors that
name the user's file and line instead of a traceback."""

from __future__ import annotations

import importlib
import inspect
import sys
import traceback
from pathlib import Path
from types import ModuleType

from cello._definitions.service import GrpcService
from cello._errors import DefinitionError


def import_target(spec: str) -> list[type[GrpcService]]:
    """`module` or `module:Class` → the service classes it names.

    Raises:
        DefinitionError: the spec is malformed, the module does not exist or fails to
            import (the message shows the file and line), or it holds no such services.
    """
    module_name, _, class_name = spec.partition(":")
    if not _is_dotted_name(module_name) or (class_name and not _is_dotted_name(class_name)):
        raise DefinitionError(
            f"{spec!r} is not a target; write MODULE or MODULE:Class, "
            "e.g. `myapp.services` or `myapp.services:UserService`"
        )
    module = import_module(module_name)
    if class_name:
        return [_service_named(module, spec, class_name)]
    found = module_services(module)
    if not found:
        raise DefinitionError(
            f"{module_name} ({_module_file(module)}): no GrpcService subclasses with "
            "@grpc_method methods are defined here; point at the module that defines them"
        )
    return found


def import_module(name: str) -> ModuleType:
    """Import a user module, turning any failure into a one-line `DefinitionError`."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise DefinitionError(
                f"cannot import {name!r}: no module named {exc.name!r}; run cello-gen from "
                "the project root (the directory holding the package) or install the project"
            ) from exc
        raise DefinitionError(_failure(name, exc)) from exc
    except SyntaxError as exc:
        where = f"{_relative(exc.filename)}:{exc.lineno}" if exc.filename else "?"
        raise DefinitionError(
            f"{where}: cannot import {name!r}: SyntaxError: {exc.msg}; fix the module"
        ) from exc
    except Exception as exc:  # whatever the user's module raised at import time
        raise DefinitionError(_failure(name, exc)) from exc


def module_services(module: ModuleType) -> list[type[GrpcService]]:
    """The GrpcService subclasses defined at module level, in definition order."""
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, GrpcService)
        and value is not GrpcService
        # a script's classes may carry its import name (see cello._wire.script, on main)
        and (value.__module__ == module.__name__ or sys.modules.get(value.__module__) is module)
        and value.rpc_methods()
    ]


def _service_named(module: ModuleType, spec: str, class_name: str) -> type[GrpcService]:
    value: object = module
    for part in class_name.split("."):
        value = getattr(value, part, None)
    if isinstance(value, type) and issubclass(value, GrpcService) and value is not GrpcService:
        return value
    names = ", ".join(c.__qualname__ for c in module_services(module)) or "none"
    problem = "is not defined" if value is None else f"is {value!r}, not a GrpcService subclass"
    raise DefinitionError(
        f"{spec}: {class_name!r} in {module.__name__} ({_module_file(module)}) {problem}; "
        f"name one of its services: {names}"
    )


def _failure(name: str, exc: BaseException) -> str:
    """`file:line: cannot import 'name': ExcType: message` at the deepest frame of user code."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "importlib" not in Path(f.filename).parts and not f.filename.startswith("<frozen")
    ]
    where = f"{_relative(frames[-1].filename)}:{frames[-1].lineno}: " if frames else ""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"{where}cannot import {name!r}: {detail}; fix the module"


def _module_file(module: ModuleType) -> str:
    path = getattr(module, "__file__", None)
    return _relative(path) if path else "<no file>"


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def _is_dotted_name(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))
