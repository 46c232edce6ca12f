"""Targets: `module` or `module:Class` specs imported into service classes, with errors that
name the user's file and line instead of a traceback."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType

from cello._definitions.service import GrpcService
from cello._definitions.userimport import import_failure, is_missing
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
    if not found and TYPES_ATTR in vars(module):  # a contract's file of types only
        return []
    if not found:
        raise DefinitionError(
            f"{module_name} ({_module_file(module)}): no GrpcService subclasses with "
            "@grpc_method methods are defined here; point at the module that defines them"
        )
    return found


def type_modules(targets: list[str]) -> list[str]:
    """The targets that are modules of types only (`__cello_types__`, no services)."""
    found = []
    for spec in targets:
        name, _, cls = spec.partition(":")
        module = sys.modules.get(name)
        if not cls and module is not None and not module_services(module):
            found.append(name)
    return found


TYPES_ATTR = "__cello_types__"


def import_module(name: str) -> ModuleType:
    """Import a user module, turning any failure into a one-line `DefinitionError`."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # whatever the user's module raised at import time
        if is_missing(exc, name):
            raise DefinitionError(
                f"cannot import {name!r}: no module named {exc.name!r}; run cello-gen from "
                "the project root (the directory holding the package) or install the project"
            ) from exc
        raise DefinitionError(f"{import_failure(name, exc)}; fix the module") from exc


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
