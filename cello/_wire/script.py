"""A service module run as a script (`python my_service.py`) is also its importable self.

Python runs the script as `__main__`; anything importing it by name (a built stub's
`import my_service`, the lock's targets) would run it a second time and define every class
again. So before the schema is made, the `__main__` module is registered under its import
name and its classes take that name as their `__module__`: one module, one set of classes,
and the same schema as `cello-gen build my_service`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from .._errors import DefinitionError


def adopt_script_module(services: Iterable[type], targets: Iterable[str] = ()) -> None:
    """Give the `__main__` module its import name, if one of `services` is defined there.

    Args:
        services: the service classes about to be served.
        targets: the lock's `module[:Class]` targets; an import name among them wins.

    Raises:
        DefinitionError: the script was also imported under its name, so its classes exist
            twice.
    """
    main = sys.modules.get("__main__")
    if main is None or not any(cls.__module__ == "__main__" for cls in services):
        return
    file = getattr(main, "__file__", None)
    if not file:
        return  # a REPL or notebook: there is no other name to give
    name = import_name(main, Path(file).resolve(), {t.partition(":")[0] for t in targets})
    if name is None:
        return
    existing = sys.modules.get(name)
    if existing is not None and existing is not main:
        raise DefinitionError(
            f"{file} runs as the script (__main__) and was also imported as {name!r}, so its "
            f"classes exist twice; run it with `python -m {name}` and do not import it "
            "from itself, or move the serving code to another module"
        )
    sys.modules[name] = main
    for value in list(vars(main).values()):
        if isinstance(value, type):
            _rename(value, name)


def import_name(main: ModuleType, file: Path, targets: set[str]) -> str | None:
    """The dotted name `file` is importable under: a lock target if one fits, else the
    longest name some `sys.path` entry gives it."""
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return str(spec.name)  # `python -m pkg.module`
    names = []
    for entry in sys.path:
        root = Path(entry or ".").resolve()
        if not file.is_relative_to(root):
            continue
        parts = list(file.relative_to(root).with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        if parts and all(p.isidentifier() for p in parts):
            names.append(".".join(parts))
    fitting = [n for n in names if n in targets]
    return max(fitting or names, key=lambda n: n.count("."), default=None)


def _rename(cls: type, name: str) -> None:
    """Set `cls.__module__` (and that of the classes nested in it) to `name`."""
    if cls.__module__ != "__main__":
        return  # imported into the script, not defined there
    cls.__module__ = name
    for value in vars(cls).values():
        if isinstance(value, type) and value.__qualname__.startswith(f"{cls.__qualname__}."):
            _rename(value, name)
