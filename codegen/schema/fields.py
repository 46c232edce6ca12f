"""A message class's fields, read alike from dataclasses and pydantic models."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from cello._errors import DefinitionError

from ..model import Convert, Kind, Label
from .hints import Mapped, is_pydantic_model


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One declared field: its name, default and the extras Cello reads."""

    name: str
    default: Any = dataclasses.MISSING
    default_factory: Any = dataclasses.MISSING
    number: int | None = None  # `field(metadata={"number": n})` / `json_schema_extra`
    description: str = ""  # pydantic's `Field(description=...)`

    @property
    def has_default(self) -> bool:
        """Whether the class fills the field when it is not given."""
        return self.default is not dataclasses.MISSING or (
            self.default_factory is not dataclasses.MISSING
        )


def needs_presence(spec: FieldSpec, mapped: Mapped) -> bool:
    """Whether a singular scalar or enum field's Python default is not the proto3 zero value.

    Without presence a peer that leaves the field out (every Connect, Go or Node client
    does, for the zero value as for a field it never set) is decoded as 0 or "", not as the
    default the class declares. Such a field is emitted `optional`, so absent means the
    Python default; a default factory is called once here to see what it gives.
    """
    if mapped.label is not Label.SINGULAR or mapped.members or not spec.has_default:
        return False
    if mapped.type.kind is Kind.MESSAGE:
        return False
    default = spec.default
    if default is dataclasses.MISSING:
        try:
            default = spec.default_factory()
        except Exception:  # noqa: BLE001 - presence is right for any value it may give
            return True
    if mapped.type.kind is Kind.ENUM:
        # an enum without a member for 0 already decodes an absent field as the default
        members = list(mapped.python)
        return (
            isinstance(default, enum.Enum)
            and isinstance(default.value, int)
            and default.value != 0
            and any(m.value == 0 for m in members)
        )
    if mapped.type.convert in (Convert.UUID, Convert.DECIMAL):
        return default is not None
    return not (isinstance(default, int | float | str | bytes) and not default)


def class_fields(cls: type, where: str) -> list[FieldSpec]:
    """The fields of a dataclass or pydantic model, in declaration order.

    Raises:
        DefinitionError: a field that cannot be filled from the wire.
    """
    if is_pydantic_model(cls):
        return [_pydantic_field(name, info, f"{where}.{name}") for name, info in _model_fields(cls)]
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            raise DefinitionError(
                f"{where}.{f.name}: fields with init=False cannot be filled from the wire; "
                "remove init=False or make it a property"
            )
        number = f.metadata.get("number") if f.metadata else None
        out.append(FieldSpec(f.name, f.default, f.default_factory, number))
    return out


def _model_fields(cls: Any) -> list[tuple[str, Any]]:
    return list(cls.model_fields.items())


def _pydantic_field(name: str, info: Any, where: str) -> FieldSpec:
    extra = info.json_schema_extra
    number = extra.get("number") if isinstance(extra, dict) else None
    if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
        raise DefinitionError(
            f"{where}: json_schema_extra number {number!r} is not an int; "
            'write `Field(json_schema_extra={"number": 5})`'
        )
    if info.alias is not None and info.alias != name:
        raise DefinitionError(
            f"{where}: alias {info.alias!r} is not supported; the protobuf field is named "
            "after the Python attribute, so drop the alias"
        )
    default: Any = dataclasses.MISSING
    factory: Any = dataclasses.MISSING
    if info.default_factory is not None:
        factory = info.default_factory
    elif not info.is_required():
        default = info.default
    return FieldSpec(name, default, factory, number, info.description or "")
