"""Module attributes imported on first use, so `import cello` stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(
    owner: str, table: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module `__getattr__` importing `name` from `table[name]` (relative to `cello`).

    Args:
        owner: the module's `__name__`, for the error.
        table: public name → the private module defining it (`"._channel"`).
        namespace: the module's `globals()`, where a name is cached once imported.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {owner!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, "cello"), name)
        namespace[name] = value
        return value

    return __getattr__


def lazy_dir(table: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[], list[str]]:
    """A module `__dir__` listing the lazy names too, so completion offers them unloaded."""

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __dir__
