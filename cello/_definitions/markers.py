"""Markers that refine how a Python type hint maps to protobuf, used inside `Annotated`."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

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
    """

    number: int

    def __post_init__(self) -> None:
        if not isinstance(self.number, int) or isinstance(self.number, bool):
            raise TypeError(f"Field number must be an int, got {self.number!r}")


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
