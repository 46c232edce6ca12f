"""Markers that refine how a Python type hint maps to protobuf, used inside `Annotated`."""

from __future__ import annotations

from dataclasses import dataclass


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
