"""Conversions between Python values and well-known protobuf types, used by generated stubs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from google.protobuf import duration_pb2, empty_pb2, struct_pb2, timestamp_pb2

EMPTY = empty_pb2.Empty()
_MAX_SAFE_INT = 2**53


def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """`datetime` → Timestamp; a naive datetime is taken as UTC."""
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def from_timestamp(ts: timestamp_pb2.Timestamp) -> dt.datetime:
    """Timestamp → timezone-aware UTC `datetime`."""
    result: dt.datetime = ts.ToDatetime(tzinfo=dt.UTC)
    return result


def duration(value: dt.timedelta | None) -> duration_pb2.Duration | None:
    """`timedelta` → Duration."""
    if value is None:
        return None
    d = duration_pb2.Duration()
    d.FromTimedelta(value)
    return d


def from_duration(d: duration_pb2.Duration) -> dt.timedelta:
    """Duration → `timedelta`."""
    result: dt.timedelta = d.ToTimedelta()
    return result


def struct(value: Mapping[str, Any] | None) -> struct_pb2.Struct | None:
    """A JSON-like dict → Struct."""
    if value is None:
        return None
    s = struct_pb2.Struct()
    s.update(value)
    return s


def value(obj: Any) -> struct_pb2.Value:
    """Any JSON-like Python value → Value."""
    v = struct_pb2.Value()
    if obj is None:
        v.null_value = struct_pb2.NULL_VALUE
    elif isinstance(obj, bool):
        v.bool_value = obj
    elif isinstance(obj, (int, float)):
        v.number_value = obj
    elif isinstance(obj, str):
        v.string_value = obj
    elif isinstance(obj, Mapping):
        v.struct_value.SetInParent()  # so an empty dict is still a struct, not "no value"
        v.struct_value.update(obj)
    elif isinstance(obj, (list, tuple)):
        v.list_value.SetInParent()
        v.list_value.extend(obj)
    else:
        raise TypeError(f"{type(obj).__name__} is not JSON-like and cannot be a protobuf Value")
    return v


def _number(x: float) -> int | float:
    # Struct carries every number as a double; integral ones came from ints in practice.
    return int(x) if x.is_integer() and -_MAX_SAFE_INT <= x <= _MAX_SAFE_INT else x


def from_value(v: struct_pb2.Value) -> Any:
    """Value → Python, integral numbers back to `int`."""
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        return _number(v.number_value)
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "struct_value":
        return from_struct(v.struct_value)
    if kind == "list_value":
        return [from_value(x) for x in v.list_value.values]
    return None


def from_struct(s: struct_pb2.Struct) -> dict[str, Any]:
    """Struct → dict, integral numbers back to `int` (so `{"id": 1}` stays `{"id": 1}`).

    Protobuf maps have no order, so keys come back sorted: the same dict every time.
    """
    return {k: from_value(v) for k, v in sorted(s.fields.items())}


def empty_in(_: Any = None) -> empty_pb2.Empty:
    """Anything → Empty (for rpcs that take or return nothing)."""
    return EMPTY


def empty_out(_: Any) -> None:
    """Empty → None."""
    return None
