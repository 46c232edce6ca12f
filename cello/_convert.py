"""Protobuf messages ↔ plain dicts for the dynamic (dict-style) API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from . import _wire

_WKT_TO_PY = {
    "google.protobuf.Struct": _wire.from_struct,
    "google.protobuf.Value": _wire.from_value,
    "google.protobuf.Timestamp": _wire.from_timestamp,
    "google.protobuf.Duration": _wire.from_duration,
    "google.protobuf.Empty": lambda _m: {},
}


def message_to_dict(message: Message) -> Any:
    """A message as a dict keyed by proto field names, every field present.

    Unlike protobuf's JSON mapping, 64-bit integers stay `int`, enums are their names,
    Timestamps are `datetime`, and Struct is a plain dict.
    """
    special: Any = _WKT_TO_PY.get(message.DESCRIPTOR.full_name)
    if special is not None:
        return special(message)
    result: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.has_presence and not message.HasField(field.name):
            if not _in_real_oneof(field):
                result[field.name] = None  # absent optional field: None, like the dataclass
            continue
        value = getattr(message, field.name)
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            result[field.name] = {k: _value(value_field, v) for k, v in value.items()}
        elif field.is_repeated:
            result[field.name] = [_value(field, v) for v in value]
        else:
            result[field.name] = _value(field, value)
    return result


def _in_real_oneof(field: FieldDescriptor) -> bool:
    """True for oneof members; proto3 `optional` fields sit in a synthetic one-field oneof."""
    oneof = field.containing_oneof
    return oneof is not None and not (len(oneof.fields) == 1 and oneof.name == f"_{field.name}")


def _is_map(field: FieldDescriptor) -> bool:
    return bool(
        field.is_repeated
        and field.message_type is not None
        and field.message_type.GetOptions().map_entry
    )


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_to_dict(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    return value


def dict_to_message(data: Any, message_type: type[Message]) -> Message:
    """A dict (or a message, passed through) → a message of `message_type`.

    Raises:
        ValueError: the dict does not fit the message (unknown field, wrong type).
    """
    if isinstance(data, message_type):
        return data
    name = message_type.DESCRIPTOR.full_name
    message = message_type()
    if name == "google.protobuf.Struct":
        message.update(data or {})
        return message
    if name == "google.protobuf.Empty":
        return message
    if not isinstance(data, Mapping):
        raise ValueError(f"{name} needs a dict, got {type(data).__name__}")
    try:
        return json_format.ParseDict(_jsonable(data), message)
    except json_format.ParseError as exc:
        raise ValueError(f"request does not fit {name}: {exc}") from exc


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat") and hasattr(value, "tzinfo"):
        ts = _wire.timestamp(value)
        return ts.ToJsonString() if ts is not None else None
    if hasattr(value, "total_seconds"):
        d = _wire.duration(value)
        return d.ToJsonString() if d is not None else None
    return value
