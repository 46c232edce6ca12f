"""Contract declarations Cello must refuse: oneofs, reserved, JSON names."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated

from cello import Field, Int32, Int64


@dataclass
class UnionNumbered:
    value: Annotated[str | int | None, Field(9)] = None


@dataclass
class TwoInts:
    value: Annotated[int, Int64] | Annotated[int, Int32] | None = None


@dataclass
class TwoStrings:
    value: Annotated[str, Field(1)] | Annotated[str, Field(2)] | None = None


@dataclass
class MemberNotOptional:
    text: Annotated[str, Field(1, oneof="kind")] = ""


@dataclass
class MemberWithoutNumber:
    text: Annotated[str | None, Field(0, oneof="kind")] = None


@dataclass
class RepeatedMember:
    items: Annotated[list[str], Field(1, oneof="kind")] = field(default_factory=list)


@dataclass
class OneofNameClash:
    kind: str = ""
    text: Annotated[str | None, Field(2, oneof="kind")] = None


@dataclass
class UsesReservedNumber:
    __cello_reserved__ = (range(2, 5),)

    a: Annotated[str, Field(3)] = ""


@dataclass
class UsesReservedName:
    __cello_reserved__ = ("old_name",)

    old_name: str = ""


@dataclass
class BadReserved:
    __cello_reserved__ = (range(5, 2),)

    a: str = ""


class ReservedEnumValue(enum.IntEnum):
    __cello_reserved__ = (2,)

    A = 0
    B = 2


@dataclass
class UsesReservedEnum:
    value: ReservedEnumValue = ReservedEnumValue.A


@dataclass
class JsonClash:
    first_name: str = ""
    other: Annotated[str, Field(2, json_name="firstName")] = ""


@dataclass
class JsonInjected:
    a: Annotated[str, Field(1, json_name='x"; option y = "z')] = ""


@dataclass
class AutoNumbersSkipReserved:
    __cello_reserved__ = (1, range(3, 6), "gone")

    a: str = ""
    b: str = ""
    c: str = ""


# -- the same oneof in both forms: no change to the lock ------------------------------------


@dataclass
class ShortForm:
    value: Annotated[int, Int64, Field(1)] | Annotated[str, Field(2)] | None = None


@dataclass
class DeclaredForm:
    value_int64: Annotated[int | None, Int64, Field(1, oneof="value")] = None
    value_string: Annotated[str | None, Field(2, oneof="value")] = None


@dataclass
class ReservedInOrder:
    __cello_reserved__ = (range(8, 10), 5, "b", "a")

    a_field: str = ""


@dataclass
class UnionNumberedByMetadata:
    value: str | int | None = field(default=None, metadata={"number": 4})


@dataclass
class MemberNamedLikeItsOneof:
    kind: Annotated[str | None, Field(1, oneof="kind")] = None


@dataclass
class OneofNamedLikeAUnion:
    text: Annotated[str | None, Field(1, oneof="value")] = None
    value: int | str | None = None
