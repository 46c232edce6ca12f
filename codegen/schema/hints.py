"""Type hints → protobuf field types: the mapping table of Cello."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import sys
import types
import typing
import uuid
from collections import abc
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from cello._definitions.markers import Field, ScalarMarker, field_marker
from cello._errors import DefinitionError

from ..model import Convert, Kind, Label, TypeRef, Wkt

SCALARS: dict[type, str] = {
    int: "int64",
    float: "double",
    str: "string",
    bool: "bool",
    bytes: "bytes",
}
MAP_KEY_TYPES = frozenset(
    "int32 int64 uint32 uint64 sint32 sint64 fixed32 fixed64 sfixed32 sfixed64 bool string".split()
)
WKT_HINTS: dict[Any, Wkt] = {
    dt.datetime: Wkt.TIMESTAMP,
    dt.timedelta: Wkt.DURATION,
    dt.date: Wkt.DATE,
    dt.time: Wkt.TIME_OF_DAY,
}
# Python types sent as a protobuf string, converted by the generated code
STRING_TYPES: dict[Any, Convert] = {uuid.UUID: Convert.UUID, decimal.Decimal: Convert.DECIMAL}

_SUGGEST: dict[Any, str] = {
    list: "use `list[T]` with the element type, e.g. `list[str]`",
    abc.Sequence: "use `list[T]` with the element type, e.g. `list[str]`",
    set: "use `list[...]`",
    frozenset: "use `list[...]`",
    tuple: "use `tuple[T, ...]`, `list[T]` or a dataclass",
    complex: "use two `float` fields in a dataclass",
    object: "use `Any` for a dynamic value",
}


@dataclass(frozen=True, slots=True)
class Mapped:
    """A hint resolved to protobuf: the element type, its label, and any extras."""

    type: TypeRef
    label: Label
    python: Any  # the Python class for messages/enums, else None
    key_type: str | None = None
    number: int | None = None  # from `Annotated[..., Field(n)]`
    members: tuple[Mapped, ...] = ()  # for a Union → oneof
    optional: bool = False  # the hint admits None
    as_tuple: bool = False  # `tuple[T, ...]`: repeated, held as a tuple
    oneof: str | None = None  # `Field(n, oneof=...)`: a declared oneof member
    json_name: str | None = None  # `Field(n, json_name=...)`
    options: Any = None  # `Field(n, options={...})`, checked by introspection


def is_message_class(hint: Any) -> bool:
    """A dataclass (or a pydantic model) type becomes a message."""
    return isinstance(hint, type) and (dataclasses.is_dataclass(hint) or is_pydantic_model(hint))


def is_pydantic_model(hint: Any) -> bool:
    """A `pydantic.BaseModel` subclass. Pydantic is only looked up if the user's code has
    already imported it, so Cello never pays its import cost for others."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(hint, type):
        return False
    base = pydantic.BaseModel
    return hint is not base and issubclass(hint, base)


def is_enum_class(hint: Any) -> bool:
    """An `enum.Enum` subclass becomes a protobuf enum."""
    return isinstance(hint, type) and issubclass(hint, enum.Enum)


def _describe(hint: Any) -> str:
    if isinstance(hint, type) and not get_args(hint):
        return hint.__name__
    return repr(hint).replace("typing.", "")


def unwrap_annotated(hint: Any) -> tuple[Any, ScalarMarker | None, int | None]:
    """Strip `Annotated`, returning the bare hint, a scalar marker and a field number."""
    marker = None
    number = None
    hint = _newtype_base(hint)
    while get_origin(hint) is Annotated:
        hint, *extras = get_args(hint)
        hint = _newtype_base(hint)
        for extra in extras:
            if isinstance(extra, ScalarMarker):
                marker = extra
            elif isinstance(extra, Field):
                number = extra.number
    return hint, marker, number


def _newtype_base(hint: Any) -> Any:
    """`typing.NewType("UserId", int)` is its base type on the wire."""
    while isinstance(hint, typing.NewType):
        hint = hint.__supertype__
    return hint


def mentions_newtype(hint: Any) -> bool:
    """Whether a `NewType` appears anywhere in `hint` (the decoded base type then needs
    a cast for type checkers)."""
    if isinstance(hint, typing.NewType):
        return True
    return any(mentions_newtype(a) for a in get_args(hint) if a is not Ellipsis)


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def map_hint(hint: Any, where: str) -> Mapped:
    """Map a field's type hint to protobuf.

    Raises:
        DefinitionError: naming `where` (``module.Class.field``), the hint and the fix.
    """
    mapped = _map_hint(hint, where)
    marker = field_marker(hint)
    if marker is None or mapped.members:
        return mapped
    return dataclasses.replace(
        mapped, oneof=marker.oneof, json_name=marker.json_name, options=marker.options
    )


def _map_hint(hint: Any, where: str) -> Mapped:
    hint, marker, number = unwrap_annotated(hint)
    optional = False
    if _is_union(hint):
        args = get_args(hint)
        rest = tuple(a for a in args if a is not type(None))
        optional = len(rest) < len(args)
        if len(rest) > 1:
            return _oneof(hint, rest, number, optional, where)
        hint = rest[0]
        hint, inner_marker, inner_number = unwrap_annotated(hint)
        marker = marker or inner_marker
        number = number if number is not None else inner_number
    origin = get_origin(hint)
    if origin is tuple:
        args = get_args(hint)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise DefinitionError(
                f"{where}: `{_describe(hint)}` has no protobuf mapping; a fixed-size tuple is "
                "not a message: use `tuple[T, ...]` (repeated) or a dataclass"
            )
        element = _element(args[0], where, container="tuple")
        mapped = _with(element, Label.REPEATED, number, optional, where)
        return dataclasses.replace(mapped, as_tuple=True)
    if origin is list or origin is abc.Sequence:
        (item,) = get_args(hint) or (None,)
        if item is None:
            raise DefinitionError(
                f"{where}: bare `list` has no element type; use `list[T]`, e.g. `list[str]`"
            )
        element = _element(item, where, container="list")
        return _with(element, Label.REPEATED, number, optional, where)
    if origin is dict or origin is abc.Mapping:
        if not get_args(hint):  # bare `typing.Dict`
            raise DefinitionError(
                f"{where}: bare `{_describe(hint)}` has no key and value types; use "
                "`dict[K, V]`, e.g. `dict[str, int]` (or `dict[str, Any]` for any JSON object)"
            )
        key, value = get_args(hint)
        if value is Any and _scalar_name(key, None) == "string":
            return _with(_wkt(Wkt.STRUCT), Label.SINGULAR, number, optional, where)
        key_type = _scalar_name(*unwrap_annotated(key)[:2])
        if key_type not in MAP_KEY_TYPES:
            raise DefinitionError(
                f"{where}: map key type `{_describe(key)}` is not allowed by protobuf; "
                "keys must be `str`, `int` or `bool`"
            )
        element = _element(value, where, container="dict")
        mapped = _with(element, Label.MAP, number, optional, where)
        return dataclasses.replace(mapped, key_type=key_type)
    element = _element(hint, where, marker=marker)
    label = Label.OPTIONAL if optional else Label.SINGULAR
    return dataclasses.replace(element, label=label, number=number, optional=optional)


def _oneof(
    hint: Any, members: tuple[Any, ...], number: int | None, optional: bool, where: str
) -> Mapped:
    """The short oneof form `A | B | None`: one Python field, one proto field per member,
    numbered by each member's own `Field(n)`."""
    if number is not None:
        raise DefinitionError(
            f"{where}: `Field({number})` is on the whole union, but a oneof has no number of "
            "its own; number each member: `Annotated[str, Field(7)] | Annotated[int, Field(8)]`"
        )
    mapped = []
    by_python: dict[str, Any] = {}
    for member in members:
        marker = field_marker(member)
        if marker is not None and marker.oneof is not None:
            raise DefinitionError(
                f"{where}: `oneof=` belongs on a declared member (a field of its own typed "
                f"`T | None = None`), not on a member of `{_describe(hint)}`; drop it"
            )
        element = _element(member, where, in_union=True)
        key = _runtime_type(element)
        if key in by_python:
            raise DefinitionError(
                f"{where}: `{_describe(by_python[key])}` and `{_describe(member)}` in "
                f"`{_describe(hint)}` are both a Python `{key}`, so a value cannot say which "
                "member it is; declare the members as fields of their own: "
                '`name: Annotated[T | None, Field(n, oneof="group")] = None`'
            )
        by_python[key] = member
        if marker is not None:
            element = dataclasses.replace(
                element, number=marker.number, json_name=marker.json_name, options=marker.options
            )
        mapped.append(element)
    return Mapped(
        TypeRef(Kind.MESSAGE, ""),
        Label.SINGULAR,
        None,
        members=tuple(mapped),
        optional=optional,
    )


_RUNTIME = {"string": "str", "bytes": "bytes", "bool": "bool", "double": "float", "float": "float"}


def _runtime_type(element: Mapped) -> str:
    """The Python type a oneof member's values have, which tells the members apart."""
    ref = element.type
    if element.python is not None:
        return f"{element.python.__module__}.{element.python.__qualname__}"
    if ref.convert is not None:
        return "str" if ref.convert is Convert.LITERAL else ref.convert.value
    if ref.kind is Kind.SCALAR:
        return _RUNTIME.get(ref.name, "int")
    return ref.name


def _with(element: Mapped, label: Label, number: int | None, optional: bool, where: str) -> Mapped:
    if optional:
        kind = "map" if label is Label.MAP else "list"
        raise DefinitionError(
            f"{where}: an optional {kind} cannot keep presence in protobuf; "
            f"drop `| None` and use an empty {kind}"
        )
    return dataclasses.replace(element, label=label, number=number)


def _wkt(wkt: Wkt) -> Mapped:
    return Mapped(TypeRef(Kind.MESSAGE, wkt.value), Label.SINGULAR, None)


def _scalar_name(hint: Any, marker: ScalarMarker | None) -> str | None:
    if hint not in SCALARS:
        return None
    if marker is None:
        return SCALARS[hint]
    if marker.python_type is not hint:
        return None
    return marker.proto_type


def _element(
    hint: Any,
    where: str,
    *,
    marker: ScalarMarker | None = None,
    container: str | None = None,
    in_union: bool = False,
) -> Mapped:
    """Map a hint that must be a single (non-repeated, non-optional) type."""
    bare, inner_marker, _ = unwrap_annotated(hint)
    marker = marker or inner_marker
    if container and (_is_union(bare) or get_origin(bare) in (list, dict, tuple, abc.Sequence)):
        raise DefinitionError(
            f"{where}: `{_describe(hint)}` inside `{container}[...]` has no protobuf mapping; "
            "wrap it in a dataclass"
        )
    if in_union and (_is_union(bare) or get_origin(bare) in (list, dict, tuple)):
        raise DefinitionError(
            f"{where}: `{_describe(hint)}` cannot be a oneof member; wrap it in a dataclass"
        )
    scalar = _scalar_name(bare, marker)
    if scalar is not None:
        return Mapped(TypeRef(Kind.SCALAR, scalar), Label.SINGULAR, None)
    if marker is not None and bare in SCALARS:
        raise DefinitionError(
            f"{where}: marker {marker!r} does not apply to `{_describe(bare)}`; "
            f"it refines `{marker.python_type.__name__}`"
        )
    if bare in WKT_HINTS:
        return _wkt(WKT_HINTS[bare])
    if bare in STRING_TYPES:
        return Mapped(TypeRef(Kind.SCALAR, "string", STRING_TYPES[bare]), Label.SINGULAR, None)
    if get_origin(bare) is Literal:
        return _literal(bare, where)
    if isinstance(bare, type) and issubclass(bare, enum.Flag):
        raise DefinitionError(
            f"{where}: `{_describe(bare)}` is a flag enum, whose values combine members; a "
            "protobuf enum holds one member: use `list[Enum]` of a plain Enum, or `int`"
        )
    if bare is Any:
        return _wkt(Wkt.VALUE)
    if bare is dict or bare is abc.Mapping:
        return _wkt(Wkt.STRUCT)
    if is_enum_class(bare):
        return Mapped(TypeRef(Kind.ENUM, ""), Label.SINGULAR, bare)
    if is_message_class(bare):
        return Mapped(TypeRef(Kind.MESSAGE, ""), Label.SINGULAR, bare)
    if isinstance(bare, typing.TypeVar) or isinstance(bare, str):
        raise DefinitionError(
            f"{where}: type `{_describe(bare)}` could not be resolved; "
            "define it at module level so its name can be looked up"
        )
    refuse_plain_class(bare, where)
    fix = _SUGGEST.get(
        get_origin(bare) or bare,
        "use a scalar, a dataclass, an Enum, `list[T]` or `dict[K, V]`",
    )
    raise DefinitionError(f"{where}: type `{_describe(hint)}` has no protobuf mapping; {fix}")


def refuse_plain_class(hint: Any, where: str) -> None:
    """Raise for a class of the user's code (not the standard library's, nor an installed
    package's) that is not a message: most likely a message whose `@dataclass` was
    forgotten.

    Raises:
        DefinitionError: `hint` is such a class, with the fix.
    """
    if not isinstance(hint, type) or hint in _SUGGEST:
        return
    if is_message_class(hint) or is_enum_class(hint):
        return
    if hint.__module__.partition(".")[0] in sys.stdlib_module_names:
        return
    # a third party's class (numpy's, say) was not meant as a message
    where_defined = getattr(sys.modules.get(hint.__module__), "__file__", None) or ""
    if "site-packages" in where_defined or "dist-packages" in where_defined:
        return
    raise DefinitionError(
        f"{where}: `{_describe(hint)}` is a plain class, not a message; add @dataclass "
        "to it (or derive it from pydantic.BaseModel)"
    )


def _literal(hint: Any, where: str) -> Mapped:
    """`Literal["a", "b"]`: a string that must be one of the choices."""
    choices = get_args(hint)
    if not all(isinstance(c, str) for c in choices):
        raise DefinitionError(
            f"{where}: `{_describe(hint)}` has non-string choices; a Literal maps to a "
            "validated string, so use strings only (or an Enum)"
        )
    ref = TypeRef(Kind.SCALAR, "string", Convert.LITERAL, tuple(choices))
    return Mapped(ref, Label.SINGULAR, None)
