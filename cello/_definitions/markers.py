"""Markers that refine how a Python type hint maps to protobuf, used inside `Annotated`."""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

E = TypeVar("E", bound=type)


@dataclass(frozen=True, slots=True)
class ScalarMarker:
    """Chooses a protobuf scalar for an `int` or `float` hint: `Annotated[int, Int32]`."""

    name: str
    proto_type: str
    python_type: type

    def __repr__(self) -> str:
        return self.name


Int32 = ScalarMarker("Int32", "int32", int)
Int64 = ScalarMarker("Int64", "int64", int)
UInt32 = ScalarMarker("UInt32", "uint32", int)
UInt64 = ScalarMarker("UInt64", "uint64", int)
SInt32 = ScalarMarker("SInt32", "sint32", int)
SInt64 = ScalarMarker("SInt64", "sint64", int)
Fixed32 = ScalarMarker("Fixed32", "fixed32", int)
Fixed64 = ScalarMarker("Fixed64", "fixed64", int)
SFixed32 = ScalarMarker("SFixed32", "sfixed32", int)
SFixed64 = ScalarMarker("SFixed64", "sfixed64", int)
Float = ScalarMarker("Float", "float", float)
Double = ScalarMarker("Double", "double", float)


@dataclass(frozen=True, slots=True)
class Field:
    """Pins a field's protobuf number: `Annotated[int, Field(5)]`.

    The same number may be given as `dataclasses.field(metadata={"number": 5})`.

    Args:
        number: the field number.
        oneof: makes the field a declared member of the oneof of that name. The field is
            typed `T | None = None`; its Python name is the member's name, and the members
            of one name form one `oneof` (see docs/types.md).
        json_name: the field's name in proto3 JSON, instead of the lowerCamelCase name
            protoc derives (`[json_name = "..."]`).
        options: field options of `descriptor.proto`, written in the `.proto`
            (`{"deprecated": True}` → `[deprecated = true]`); enum values by name.
    """

    number: int
    oneof: str | None = field(default=None, kw_only=True)
    json_name: str | None = field(default=None, kw_only=True)
    options: Mapping[str, bool | int | float | str] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.options is not None:
            if not isinstance(self.options, Mapping):
                raise TypeError(f"Field options must be a mapping, got {self.options!r}")
            # a tuple of pairs, so the marker stays hashable inside `Annotated`
            object.__setattr__(self, "options", _Options(self.options))
        if not isinstance(self.number, int) or isinstance(self.number, bool):
            raise TypeError(f"Field number must be an int, got {self.number!r}")
        if self.oneof is not None and not (isinstance(self.oneof, str) and self.oneof):
            raise TypeError(f"Field oneof must be a oneof name, got {self.oneof!r}")
        if self.json_name is not None and not (isinstance(self.json_name, str) and self.json_name):
            raise TypeError(f"Field json_name must be a non-empty str, got {self.json_name!r}")


class _Options(dict[str, Any]):
    """A read-only, hashable mapping of options."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("Field options are read-only")

    __setitem__ = __delitem__ = update = clear = pop = popitem = setdefault = _refuse  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Doc:
    """A field's documentation, emitted as a `.proto` comment: `Annotated[str, Doc("...")]`."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"Doc text must be a str, got {self.text!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class EnumOptions:
    """How an `Enum` maps to protobuf; attach with `@enum_options(...)`.

    Args:
        prefix: prefix every value name with the enum's name (`GENRE_FICTION`), the protobuf
            style guide's advice; False keeps the bare names (`FICTION`), as in many
            published contracts. Value names must then be unique in their scope.
        closed: refuse a number the enum lacks (INVALID_ARGUMENT naming the field), as
            proto2 enums do. By default enums are open, as proto3 specifies: an unknown
            number from a newer peer reaches the handler as a plain `int` (not a member,
            so `isinstance(value, MyEnum)` is False) and is sent back unchanged.
    """

    prefix: bool = True
    closed: bool = False


ENUM_OPTIONS_ATTR = "__cello_enum_options__"


def field_marker(hint: Any) -> Field | None:
    """The `Field(...)` marker of a hint: on the hint itself, or on the one non-None member
    of an optional (`Annotated[T, Field(1)] | None`)."""
    found = None
    while True:
        while isinstance(hint, typing.NewType):
            hint = hint.__supertype__
        if typing.get_origin(hint) is typing.Annotated:
            hint, *extras = typing.get_args(hint)
            found = next((x for x in extras if isinstance(x, Field)), found)
            continue
        args = typing.get_args(hint)
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        rest = [a for a in args if a is not type(None)] if union else []
        if found is not None or len(rest) != 1 or len(rest) == len(args):
            return found
        hint = rest[0]


_ONEOFS: dict[type, dict[str, tuple[str, ...]]] = {}


def which_oneof(obj: Any, oneof: str) -> str | None:
    """The name of the member of a declared oneof that is set on `obj`, or None.

    A declared oneof's members are the fields marked `Field(n, oneof=oneof)`; a decoded
    message has the member its peer set, and no other.

    Raises:
        ValueError: the class declares no oneof of that name.
    """
    cls = type(obj)
    groups = _ONEOFS.get(cls)
    if groups is None:  # read once per class: the hints do not change
        hints = typing.get_type_hints(cls, include_extras=True)
        found: dict[str, list[str]] = {}
        for name, hint in hints.items():
            marker = field_marker(hint)
            if marker is not None and marker.oneof is not None:
                found.setdefault(marker.oneof, []).append(name)
        groups = _ONEOFS[cls] = {k: tuple(v) for k, v in found.items()}
    members = groups.get(oneof)
    if members is None:
        known = ", ".join(repr(g) for g in groups) or "none"
        raise ValueError(
            f"{cls.__module__}.{cls.__qualname__} has no oneof {oneof!r}; its declared "
            f"oneofs (`Field(n, oneof=...)`): {known}"
        )
    for name in members:
        if getattr(obj, name) is not None:
            return name
    return None


def enum_options(*, prefix: bool = True, closed: bool = False) -> Callable[[E], E]:
    """Class decorator setting how an `Enum` maps to protobuf (see `EnumOptions`).

    Raises:
        TypeError: the decorated class is not an `Enum`.
    """
    options = EnumOptions(prefix=prefix, closed=closed)

    def apply(cls: E) -> E:
        if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
            raise TypeError(f"@enum_options decorates an Enum class, got {cls!r}")
        type.__setattr__(cls, ENUM_OPTIONS_ATTR, options)
        return cls

    return apply
