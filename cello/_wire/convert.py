"""The one mapping between protobuf messages and plain dicts, used on both sides of a call.

`GrpcRequest.data` inside a handler, a handler's dict result, and `GrpcChannel`'s
requests and responses all go through `message_to_dict` and `dict_to_message`, so the
server's view and the client's view of a message are the same dict. The mapping is
documented in docs/dict-mapping.md; in short:

- keys are proto field names, every field present (absent `optional` → None);
- integers stay `int` (int64 too), floats `float`, bytes `bytes`, bools `bool`;
- enums are their value names; an unknown number stays an `int`;
- Timestamp ↔ aware UTC `datetime`, Duration ↔ `timedelta`, Struct ↔ `dict`,
  Value ↔ any JSON-like value, Empty ↔ `{}`;
- repeated ↔ `list`, map ↔ `dict`, other messages ↔ nested dicts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from google.protobuf import descriptor as _d
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message

from . import wellknown as _wire

if TYPE_CHECKING:  # with upb, descriptors are the C types; the stubs say "either"
    from google._upb import _message as _upb

    Descriptor: TypeAlias = _d.Descriptor | _upb.Descriptor
    FieldDescriptor: TypeAlias = _d.FieldDescriptor | _upb.FieldDescriptor
    EnumDescriptor: TypeAlias = _d.EnumDescriptor | _upb.EnumDescriptor

M = TypeVar("M", bound=Message)
_TYPE = _d.FieldDescriptor
_INTS = frozenset(
    {
        _TYPE.TYPE_INT32,
        _TYPE.TYPE_INT64,
        _TYPE.TYPE_UINT32,
        _TYPE.TYPE_UINT64,
        _TYPE.TYPE_SINT32,
        _TYPE.TYPE_SINT64,
        _TYPE.TYPE_FIXED32,
        _TYPE.TYPE_FIXED64,
        _TYPE.TYPE_SFIXED32,
        _TYPE.TYPE_SFIXED64,
    }
)
_FLOATS = frozenset({_TYPE.TYPE_FLOAT, _TYPE.TYPE_DOUBLE})

_WKT_TO_PY: dict[str, Callable[[Any], Any]] = {
    "google.protobuf.Struct": _wire.from_struct,
    "google.protobuf.Value": _wire.from_value,
    "google.protobuf.ListValue": lambda m: [_wire.from_value(v) for v in m.values],
    "google.protobuf.Timestamp": _wire.from_timestamp,
    "google.protobuf.Duration": _wire.from_duration,
    "google.protobuf.Empty": lambda _m: {},
}


def message_to_dict(message: Message) -> Any:
    """A message as a dict keyed by proto field names, every field present.

    Unlike protobuf's JSON mapping, 64-bit integers stay `int`, bytes stay `bytes`, enums
    are their value names, Timestamps are aware `datetime`s and Struct is a plain dict.
    """
    descriptor: Descriptor = message.DESCRIPTOR
    special = _WKT_TO_PY.get(descriptor.full_name)
    if special is not None:
        return special(message)
    result: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.has_presence and not message.HasField(field.name):
            if not _in_real_oneof(field):
                result[field.name] = None  # absent optional field: None, like the dataclass
            continue
        value = getattr(message, field.name)
        value_field = _map_value_field(field)
        if value_field is not None:
            result[field.name] = {k: _value(value_field, v) for k, v in value.items()}
        elif _is_repeated(field):
            result[field.name] = [_value(field, v) for v in value]
        else:
            result[field.name] = _value(field, value)
    return result


def dict_to_message(data: Any, message_type: type[M]) -> M:
    """A dict (or a message of that type, passed through) → a message of `message_type`.

    Also takes a dataclass instance where a message is expected, and for enums a value
    name, the Python member name, an `enum.Enum` member or a number.

    Raises:
        ValueError: the dict does not fit the message; the text names `Message.field`.
    """
    if isinstance(data, message_type):
        return data
    message = message_type()
    _fill(message, data, message.DESCRIPTOR.full_name)
    return message


def _in_real_oneof(field: FieldDescriptor) -> bool:
    """True for oneof members; proto3 `optional` fields sit in a synthetic one-field oneof."""
    oneof = field.containing_oneof
    return oneof is not None and not (len(oneof.fields) == 1 and oneof.name == f"_{field.name}")


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _map_value_field(field: FieldDescriptor) -> FieldDescriptor | None:
    """The `value` field of a map field's entry type, or None for any other field."""
    entry = field.message_type
    if entry is None or not _is_repeated(field) or not entry.GetOptions().map_entry:
        return None
    return entry.fields_by_name["value"]


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == _TYPE.TYPE_MESSAGE:
        return message_to_dict(value)
    if field.type == _TYPE.TYPE_ENUM and field.enum_type is not None:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else value  # unknown number: kept, not lost
    return value


# -- dict → message ---------------------------------------------------------------------


def _fill(message: Any, data: Any, where: str) -> None:
    """Set `message`'s fields from `data` (a mapping, a dataclass or a well-known value)."""
    descriptor: Descriptor = message.DESCRIPTOR
    name = descriptor.full_name
    if name in _WKT_FROM_PY:
        _WKT_FROM_PY[name](message, data, where)
        return
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: {name} needs a dict, got {type(data).__name__} {data!r}")
    fields = _fields_by_key(descriptor)
    members: dict[str, str] = {}  # oneof → the member set
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            raise ValueError(
                f"{where}: {name} has no field {key!r}; its fields are "
                f"{', '.join(f.name for f in descriptor.fields) or 'none'}"
            )
        if value is None:
            continue  # absent (an optional field left unset, or the proto3 default)
        at = f"{where}.{field.name}"
        if field.containing_oneof is not None and _in_real_oneof(field):
            # protobuf would keep the last member set, so the peer would see another value
            oneof = field.containing_oneof.name
            other = members.setdefault(oneof, field.name)
            if other != field.name:
                raise ValueError(
                    f"{where}: {other} and {field.name} are both set, but they are members of "
                    f"oneof {oneof} of {name}, which holds one; set only one of them"
                )
        value_field = _map_value_field(field)
        if value_field is not None:
            _fill_map(getattr(message, field.name), field, value_field, value, at)
        elif _is_repeated(field):
            if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
                raise ValueError(f"{at}: expected a list, got {type(value).__name__} {value!r}")
            target = getattr(message, field.name)
            for i, item in enumerate(value):
                if field.type == _TYPE.TYPE_MESSAGE:
                    _fill(target.add(), item, f"{at}[{i}]")
                else:
                    target.append(_scalar(field, item, f"{at}[{i}]"))
        elif field.type == _TYPE.TYPE_MESSAGE:
            getattr(message, field.name).SetInParent()  # present even when `value` is {}
            _fill(getattr(message, field.name), value, at)
        else:
            setattr(message, field.name, _scalar(field, value, at))


def _fill_map(
    target: Any, field: FieldDescriptor, value_field: FieldDescriptor, value: Any, at: str
) -> None:
    if not isinstance(value, Mapping):
        raise ValueError(f"{at}: expected a dict, got {type(value).__name__} {value!r}")
    entry = field.message_type
    assert entry is not None  # a map field always has an entry type
    key_field = entry.fields_by_name["key"]
    for k, v in value.items():
        key = _scalar(key_field, k, f"{at}[{k!r}]")
        if value_field.type == _TYPE.TYPE_MESSAGE:
            _fill(target[key], v, f"{at}[{k!r}]")
        else:
            target[key] = _scalar(value_field, v, f"{at}[{k!r}]")


def _scalar(field: FieldDescriptor, value: Any, at: str) -> Any:
    """A Python value checked (and for enums resolved) for a non-message field."""
    kind = field.type
    if kind == _TYPE.TYPE_ENUM and field.enum_type is not None:
        return _enum_number(field.enum_type, value, at)
    if kind in _INTS:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, float) and value.is_integer():
            value, ok = int(value), True
        expect = "an int"
    elif kind in _FLOATS:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        expect = "a number"
    elif kind == _TYPE.TYPE_BOOL:
        ok, expect = isinstance(value, bool), "a bool"
    elif kind == _TYPE.TYPE_STRING:
        ok, expect = isinstance(value, str), "a str"
    else:  # bytes
        ok = isinstance(value, (bytes, bytearray, memoryview))
        value, expect = bytes(value) if ok else value, "bytes"
    if not ok:
        raise ValueError(f"{at}: expected {expect}, got {type(value).__name__} {value!r}")
    return value


def _enum_number(enum_type: EnumDescriptor, value: Any, at: str) -> int:
    names = _enum_names(enum_type)
    if isinstance(value, enum.Enum):
        number = names.get(value.name)
        if number is not None:
            return number
        value = value.value  # an IntEnum member whose name the schema spells differently
    if isinstance(value, str):
        number = names.get(value)
        if number is not None:
            return number
    elif isinstance(value, int) and not isinstance(value, bool):
        if -(2**31) <= value < 2**31:
            return value  # an unknown number is kept (proto3 enums are open), never zeroed
    raise ValueError(
        f"{at}: {value!r} is not a value of {enum_type.full_name}; use one of "
        f"{', '.join(v.name for v in enum_type.values)} or its number"
    )


@functools.cache
def _enum_names(enum_type: EnumDescriptor) -> dict[str, int]:
    """Every spelling of each value: `GENRE_FICTION`, and `FICTION` without the prefix."""
    prefix = _upper_snake(enum_type.name) + "_"
    names: dict[str, int] = {}
    for value in enum_type.values:
        names.setdefault(value.name.removeprefix(prefix), value.number)
        names.setdefault(value.name.removeprefix(prefix).lower(), value.number)
    for value in enum_type.values:
        names[value.name] = value.number  # the full name always wins
    return names


@functools.cache
def _fields_by_key(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """Fields by proto name, and by JSON (camelCase) name as protobuf's JSON mapping does."""
    fields: dict[str, FieldDescriptor] = {f.json_name: f for f in descriptor.fields}
    fields.update((f.name, f) for f in descriptor.fields)
    return fields


def _upper_snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).upper()


# -- well-known types --------------------------------------------------------------------


def _time_filler(python_type: type, convert: str, expect: str) -> Callable[[Any, Any, str], None]:
    """The filler of a Timestamp or Duration: from `python_type` through the message's
    `convert` method, from its JSON string form (`expect` names it), or from a copy."""

    def fill(message: Any, value: Any, where: str) -> None:
        if isinstance(value, python_type):
            getattr(message, convert)(value)
        elif isinstance(value, str):
            _from_json(message, value, where, expect)
        elif isinstance(value, Message) and value.DESCRIPTOR is message.DESCRIPTOR:
            message.CopyFrom(value)
        else:
            raise ValueError(
                f"{where}: expected a {python_type.__name__}, got {type(value).__name__} {value!r}"
            )

    return fill


# a naive datetime is taken as UTC
_fill_timestamp = _time_filler(dt.datetime, "FromDatetime", "an RFC 3339 timestamp")
_fill_duration = _time_filler(dt.timedelta, "FromTimedelta", 'a duration like "1.5s"')


def _from_json(message: Any, text: str, where: str, expect: str) -> None:
    try:
        message.FromJsonString(text)
    except ValueError as exc:
        raise ValueError(f"{where}: expected {expect}, got {text!r}") from exc


def _fill_struct(message: Any, value: Any, where: str) -> None:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a dict, got {type(value).__name__} {value!r}")
    message.Clear()
    _json_like(lambda: message.update(_jsonable(value)), where)


def _fill_value(message: Any, value: Any, where: str) -> None:
    _json_like(lambda: message.CopyFrom(_wire.value(_jsonable(value))), where)


def _fill_list(message: Any, value: Any, where: str) -> None:
    _json_like(lambda: message.extend(_jsonable(list(value))), where)


def _fill_empty(message: Any, value: Any, where: str) -> None:
    if value:  # Empty carries nothing; dropping data without a word is not an option
        raise ValueError(f"{where}: google.protobuf.Empty takes no data, got {value!r}")


def _json_like(action: Callable[[], Any], where: str) -> None:
    try:
        action()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not JSON-like ({exc})") from exc


def _jsonable(value: Any) -> Any:
    """Datetimes and durations inside a Struct become strings, as protobuf's JSON has them."""
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(value)
        return ts.ToJsonString()
    if isinstance(value, dt.timedelta):
        d = duration_pb2.Duration()
        d.FromTimedelta(value)
        return d.ToJsonString()
    if isinstance(value, enum.Enum):
        return value.name
    return value


_WKT_FROM_PY: dict[str, Callable[[Any, Any, str], None]] = {
    "google.protobuf.Timestamp": _fill_timestamp,
    "google.protobuf.Duration": _fill_duration,
    "google.protobuf.Struct": _fill_struct,
    "google.protobuf.Value": _fill_value,
    "google.protobuf.ListValue": _fill_list,
    "google.protobuf.Empty": _fill_empty,
}
