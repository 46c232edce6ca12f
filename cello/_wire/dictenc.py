"""The runtime half of generated dict encoders: a typed handler's dict result in one call.

A stub's `_encd_X(d)` (rendered by `codegen/emit/dictenc.py`) builds the message from a
plain dict in one constructor call, for the common spellings only: proto-name keys, exact
`str`/`int`/`float`/`bool`/`bytes`, lists, dicts, `datetime`, `timedelta`, enum names,
members and numbers. Anything else (JSON-name keys, RFC 3339 strings, dataclasses, a float
for an int, ...) raises `OffPath`, and the encoder hands the whole dict to
`convert.dict_to_message`, which gives the same message or the error naming the field. So
the fast path only ever has to be right when it succeeds.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from . import wellknown as _wire
from .convert import M, _enum_names, _enum_number, _fill, dict_to_message

if TYPE_CHECKING:
    from google.protobuf.descriptor import EnumDescriptor


class OffPath(Exception):
    """A value the generated dict encoder leaves to the generic mapping."""


def off_path(value: object = None) -> NoReturn:
    """Leave this dict to the generic mapping (used inside generated expressions)."""
    raise OffPath


def dict_encoder(
    kwargs: Callable[[Any], dict[str, Any]], message_type: type[M]
) -> Callable[[Any], M]:
    """A dict → `message_type` encoder: `kwargs` builds the constructor's arguments (the
    generated `_kwd_X`), and whatever it does not take goes to `dict_to_message`."""

    def encode(data: Any) -> M:
        try:
            return message_type(**kwargs(data))
        except Exception:  # noqa: BLE001 - the generic mapping decides, and names the field
            return dict_to_message(data, message_type)

    return encode


class DictEnum:
    """One enum's spellings in a dict → its number, as `_enum_number` resolves them.

    Only exact `str`s, members of the user's enum class and `int`s are looked up here;
    other values (an `IntEnum` of another class, a bool) are off the path.
    """

    __slots__ = ("names", "members", "py_class")

    def __init__(self, wrapper: Any, py_class: type[enum.Enum]) -> None:
        descriptor: EnumDescriptor = wrapper.DESCRIPTOR
        self.names = dict(_enum_names(descriptor))
        self.members: dict[object, int] = {}
        for member in py_class:
            try:
                self.members[member] = _enum_number(descriptor, member, "")
            except ValueError:
                pass  # refused by the generic mapping too: left to it, for its error
        self.py_class = py_class

    def __call__(self, value: Any) -> int:
        kind = type(value)
        if kind is int:
            if -(2**31) <= value < 2**31:
                return value  # type: ignore[no-any-return]
        elif kind is str:
            number = self.names.get(value)
            if number is not None:
                return number
        elif kind is self.py_class:
            number = self.members.get(value)
            if number is not None:
                return number
        raise OffPath


def items(value: Any) -> list[Any] | tuple[Any, ...]:
    """A repeated field's list (or tuple) as given; any other iterable is off the path."""
    if type(value) is list or type(value) is tuple:
        return value
    raise OffPath


def keyed(value: Any, key_type: type) -> Any:
    """A map field's `(key, value)` pairs, from a plain dict whose keys are exactly
    `key_type` (a bool is not an int key, as in the generic mapping)."""
    if type(value) is dict and all(type(k) is key_type for k in value):
        return value.items()
    raise OffPath


def dict_timestamp(value: Any) -> dict[str, int]:
    """A `datetime`, or an RFC 3339 string in the usual form, as a Timestamp's fields: the
    numbers `FromDatetime` or `FromJsonString` give, without a temporary message."""
    kind = type(value)
    if kind is str:
        return _rfc3339(value)
    if kind is not dt.datetime:
        raise OffPath  # a subclass, a message: the generic mapping
    offset = value.utcoffset()
    if offset is None:
        delta = value - _wire._EPOCH_NAIVE
    elif offset.microseconds:
        raise OffPath  # `FromDatetime` keeps the local microsecond here; let it decide
    else:
        delta = value - _wire._EPOCH
    seconds = delta.days * 86400 + delta.seconds
    if not _wire._MIN_SECONDS <= seconds <= _wire._MAX_SECONDS:
        raise OffPath
    return {"seconds": seconds, "nanos": delta.microseconds * 1000}


# the form `Timestamp.ToJsonString` and `datetime.isoformat` write; `FromJsonString` (which
# takes a few more, through `strptime`) gives the same numbers for these
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{1,9}))?(?:Z|([+-])(\d\d):(\d\d))", re.ASCII
)
_DURATION = re.compile(r"-?\d+(?:\.\d*)?s", re.ASCII)


def _rfc3339(text: str) -> dict[str, int]:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise OffPath
    fraction, sign, off_h, off_m = match.groups()
    try:  # the date and time: checked as `strptime` checks them, but 50 times faster
        delta = dt.datetime.fromisoformat(text[:19]) - _wire._EPOCH_NAIVE
    except ValueError:
        raise OffPath from None
    seconds = delta.days * 86400 + delta.seconds
    nanos = round(float("0." + fraction) * 1e9) if fraction else 0  # as `FromJsonString`
    if sign:
        offset = (int(off_h) * 60 + int(off_m)) * 60
        seconds += -offset if sign == "+" else offset
    if not (_wire._MIN_SECONDS <= seconds <= _wire._MAX_SECONDS and nanos < 1_000_000_000):
        raise OffPath
    return {"seconds": seconds, "nanos": nanos}


def dict_duration(value: Any) -> dict[str, int]:
    """A `timedelta`, or a string like `"1.5s"`, as a Duration's fields: the numbers
    `FromTimedelta` or `FromJsonString` give."""
    kind = type(value)
    if kind is dt.timedelta:
        seconds, nanos = value.days * 86400 + value.seconds, value.microseconds * 1000
        if seconds < 0 and nanos > 0:  # protobuf's sign rule: nanos take the sign of seconds
            seconds, nanos = seconds + 1, nanos - 1_000_000_000
        return {"seconds": seconds, "nanos": nanos}
    if kind is not str or _DURATION.fullmatch(value) is None:
        raise OffPath
    point = value.find(".")  # from here on, `FromJsonString`'s arithmetic
    if point == -1:
        seconds, nanos = int(value[:-1]), 0
    else:
        seconds = int(value[:point])
        fraction = float(("-0" if value[0] == "-" else "0") + value[point:-1])
        nanos = int(round(fraction * 1e9))
    valid = (
        -_wire._MAX_DURATION_SECONDS <= seconds <= _wire._MAX_DURATION_SECONDS
        and -1_000_000_000 < nanos < 1_000_000_000
        and not (seconds > 0 > nanos or seconds < 0 < nanos)
    )
    if not valid:
        raise OffPath
    return {"seconds": seconds, "nanos": nanos}


def dict_message(value: Any, message_type: type[M]) -> M:
    """Any other well-known message (Struct, Value, Date...) from its dict value, built by
    the generic mapping; the constructor copies it in."""
    message = message_type()
    _fill(message, value, message.DESCRIPTOR.full_name)
    return message
