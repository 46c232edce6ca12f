"""What a class declares beyond its fields' types: oneof members, JSON names, reservations.

Each check raises a `DefinitionError` naming the class, the field and the fix.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cello._errors import DefinitionError

from ..model import Label, Reserved
from . import contract, naming
from .fields import FieldSpec
from .hints import Mapped


@dataclasses.dataclass(frozen=True, slots=True)
class FieldSlot:
    """A proto field being built: names, mapped type, and its oneof if any."""

    proto: str
    python: str
    mapped: Mapped
    oneof: str | None


def check_declared_member(mapped: Mapped, spec: FieldSpec, hint: Any, where: str) -> None:
    """A declared oneof member is `Annotated[T | None, Field(n, oneof="group")] = None`."""
    if mapped.label in (Label.REPEATED, Label.MAP):
        raise DefinitionError(
            f"{where}: a {mapped.label.value} field cannot be a oneof member (protobuf allows "
            "none); wrap it in a dataclass and make that the member"
        )
    if not mapped.optional or spec.default is not None:
        raise DefinitionError(
            f"{where}: a declared member of oneof {mapped.oneof!r} is unset when another is "
            f'set, so type it `T | None = None`: `Annotated[T | None, Field(n, oneof="...")] '
            "= None`"
        )
    if mapped.number is None:
        raise DefinitionError(
            f"{where}: a declared member of oneof {mapped.oneof!r} needs its number: "
            f'`Field(n, oneof="{mapped.oneof}")`'
        )


def grouped(slots: list[FieldSlot], declared: set[str]) -> list[FieldSlot]:
    """Slots with each declared oneof's members moved together, where its first member is."""
    out: list[FieldSlot] = []
    for slot in slots:
        if slot.oneof in declared and any(s.oneof == slot.oneof for s in out):
            continue
        if slot.oneof in declared:
            out += [s for s in slots if s.oneof == slot.oneof]
        else:
            out.append(slot)
    return out


def check_json_names(slots: list[FieldSlot], where: str) -> None:
    """Declared `json_name`s are identifiers, and no two fields share a JSON name (protoc
    refuses that too, but this names the Python fields)."""
    taken: dict[str, str] = {}
    for s in slots:
        if s.mapped.json_name is not None:
            naming.check_json_name(s.mapped.json_name, where=f"{where}.{s.python}")
        json = s.mapped.json_name or naming.to_camel(s.proto)
        other = taken.setdefault(json, s.python)
        if other != s.python:
            raise DefinitionError(
                f"{where}.{s.python}: JSON name {json!r} is also the JSON name of "
                f"{where}.{other}; give one of them `Field(n, json_name=...)`"
            )


def refuse_declared_reserved(
    slots: list[tuple[str, int | None, str]],
    declared: Reserved,
    where: str,
    *,
    what: str = "field",
) -> None:
    """Raise if a field (or enum value) uses a number or name `__cello_reserved__` reserves."""
    for name, number, py in slots:
        if name in declared.declared_names:
            raise DefinitionError(
                f"{where}.{py}: the {what} name {name!r} is reserved by {where}."
                f"{contract.RESERVED_ATTR}; rename the {what}, or drop {name!r} from it"
            )
        if number is not None and declared.holds(number):
            raise DefinitionError(
                f"{where}.{py}: {what} number {number} is reserved by {where}."
                f"{contract.RESERVED_ATTR}; give the {what} another number, or drop {number} "
                "from it"
            )
