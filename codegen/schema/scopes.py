"""Where a user class sits in its package: its protobuf name and the messages enclosing it."""

from __future__ import annotations

import sys
from typing import Any

from cello._errors import DefinitionError

from . import naming
from .hints import is_message_class


def enclosing_dataclass(cls: type) -> type | None:
    """The dataclass `cls` is defined in (`Outer` for `Outer.Inner`), if any."""
    *outer_path, _ = cls.__qualname__.split(".")
    if not outer_path or "<locals>" in outer_path:
        return None
    obj: Any = sys.modules.get(cls.__module__)
    for part in outer_path:
        obj = getattr(obj, part, None)
    return obj if is_message_class(obj) else None


def local_name(cls: type, where: str) -> tuple[tuple[str, ...], str]:
    """`(enclosing message names, name)`: nested in a dataclass it is a nested type, else
    the flattened qualified name (`Namespace.Book` → `NamespaceBook`)."""
    outer = enclosing_dataclass(cls)
    if outer is None:
        return (), proto_type_name(cls, where)
    scope, outer_name = local_name(outer, where)
    name = naming.check_identifier(cls.__name__, what="type name", where=where)
    return (*scope, outer_name), name


def proto_type_name(cls: type, where: str) -> str:
    """The protobuf name of a top-level class: its qualname without dots, checked."""
    if "<locals>" in cls.__qualname__:
        raise DefinitionError(
            f"{where}: types used by services must be defined at module level (generated "
            "stubs import them by name); move the class out of the function"
        )
    return naming.check_identifier(cls.__qualname__.replace(".", ""), what="type name", where=where)
