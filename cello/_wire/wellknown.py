"""Conversions between Python values and well-known protobuf types, used by generated stubs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal as Decimal
from decimal import InvalidOperation
from typing import Any, NoReturn, TypeVar, overload
from uuid import UUID as UUID

from google.protobuf import duration_pb2, empty_pb2, struct_pb2, timestamp_pb2
from google.type import date_pb2, timeofday_pb2

from .._errors import WireError

EMPTY = empty_pb2.Empty()
_MAX_SAFE_INT = 2**53
# the range of google.protobuf.Timestamp (0001-01-01 .. 9999-12-31), which `datetime` also has
_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799
_MAX_DURATION_SECONDS = 315576000000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class WireEnum(dict[int, V]):
    """Wire number → Python enum member for one field.

    Generated stubs build one per enum field at import, so decoding stays one dict lookup;
    `__missing__` runs only for a number the enum lacks. Enums are open, as proto3 says: such
    a number (a newer peer's member) decodes as a plain `int`, which the encoder sends back
    unchanged. A closed enum (`@enum_options(closed=True)`) refuses it.
    """

    __slots__ = ("where", "enum", "closed")

    def __init__(
        self,
        where: str,
        enum: str,
        members: Mapping[int, V],
        *,
        zero: V | None = None,
        closed: bool = False,
    ) -> None:
        super().__init__(members)
        if zero is not None and 0 not in self:
            self[0] = zero  # the field's Python default stands for "unset"
        self.where = where
        self.enum = enum
        self.closed = closed

    def __missing__(self, number: int) -> V:
        if number == 0:
            raise WireError(
                f"{self.where}: required enum {self.enum} is unset (0) and has no member 0; "
                "the sender must set it, or give the field a default"
            )
        if not self.closed:
            return number  # type: ignore[return-value]  # an unknown member, kept as an int
        raise WireError(
            f"{self.where}: {number} is not a number of enum {self.enum} (sent by a newer "
            "schema?); add the member to the Python enum, have the sender use a known value, "
            "or drop `@enum_options(closed=True)` to accept unknown numbers"
        )


class PyEnum(dict[K, V]):
    """Python enum member → wire number; a plain `int` passes through unless the enum is
    closed (an unknown member decoded from a newer peer); anything else is a TypeError."""

    __slots__ = ("enum", "closed")

    def __init__(self, enum: str, members: Mapping[K, V], *, closed: bool = False) -> None:
        super().__init__(members)
        self.enum = enum
        self.closed = closed

    def __missing__(self, value: object) -> V:
        if not self.closed and type(value) is int and -(2**31) <= value < 2**31:
            return value  # type: ignore[return-value]
        raise TypeError(f"expected a member of {self.enum}, got {type(value).__name__} {value!r}")


def default_of(cls: type, name: str) -> Any:
    """The default of dataclass field `name` (calling its factory), evaluated once at import."""
    model_fields = getattr(cls, "model_fields", None)  # a pydantic model
    if isinstance(model_fields, dict) and not dataclasses.is_dataclass(cls):
        return model_fields[name].get_default(call_default_factory=True)
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def absent(where: str) -> NoReturn:
    """Refuse a required message-typed field that is not on the wire (a generated decoder)."""
    raise WireError(
        f"{where}: required field is absent; the sender must set it, "
        "or give the field a default or make it Optional"
    )


def unset_oneof(where: str) -> WireError:
    """The error a generated decoder raises when a required oneof has no member set."""
    return WireError(
        f"{where}: none of the oneof's members is set and the field has no default; "
        "the sender must set one, or make the field Optional"
    )


def redefined(value: object, cls: type[T], message: Any) -> T:
    """`value` if its class is `cls` defined again under the same name, else a TypeError.

    A notebook that re-runs a cell makes a new class of the same name; instances of either
    carry the same fields. Generated encoders call this only after `isinstance` failed.
    """
    kind = type(value)
    if kind.__qualname__ == cls.__qualname__ and kind.__module__ == cls.__module__:
        return value  # type: ignore[return-value]
    expected = f"{message.DESCRIPTOR.full_name} ({cls.__module__}.{cls.__qualname__})"
    raise wrong_type(expected, value)


def wrong_type(expected: str, value: object) -> TypeError:
    """The error a generated encoder raises for a value of the wrong type."""
    return TypeError(f"expected {expected}, got {type(value).__name__}")


def oneof_conflict(value: object, where: str, members: tuple[str, ...]) -> TypeError:
    """The error a generated encoder raises for an object with two members of one declared
    oneof set: protobuf keeps only the last, so the peer would see another value."""
    cls = type(value)
    both = [name for name in members if getattr(value, name, None) is not None]
    listed = " and ".join(f"{cls.__module__}.{cls.__qualname__}.{name}" for name in both)
    return TypeError(
        f"{where}: {listed} are all set, but they are members of one oneof, which holds one "
        "value; set the others to None"
    )


def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """`datetime` → Timestamp; a naive datetime is taken as UTC."""
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def timestamp_fields(value: dt.datetime | None) -> dict[str, int] | None:
    """`datetime` → the fields of a Timestamp, for a message constructor (None stays None).

    The same numbers as `Timestamp.FromDatetime` (a naive datetime is taken as UTC), by
    arithmetic instead of `utctimetuple` and `calendar.timegm`, at a fifth of the cost.
    """
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime for a Timestamp, got {type(value).__name__}")
    delta = value - (_EPOCH_NAIVE if value.utcoffset() is None else _EPOCH)
    seconds = delta.days * 86400 + delta.seconds
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:  # an offset can push year 1 or 9999 out
        raise ValueError(f"{value!r} is outside the range of a Timestamp")
    return {"seconds": seconds, "nanos": delta.microseconds * 1000}


def duration_fields(value: dt.timedelta | None) -> dict[str, int] | None:
    """`timedelta` → the fields of a Duration, as `Duration.FromTimedelta` sets them."""
    if value is None:
        return None
    if not isinstance(value, dt.timedelta):
        raise TypeError(f"expected a timedelta for a Duration, got {type(value).__name__}")
    seconds, nanos = value.days * 86400 + value.seconds, value.microseconds * 1000
    if seconds < 0 and nanos > 0:  # protobuf's sign rule: nanos take the sign of seconds
        seconds, nanos = seconds + 1, nanos - 1_000_000_000
    return {"seconds": seconds, "nanos": nanos}


def from_timestamp(ts: timestamp_pb2.Timestamp, where: str = "Timestamp") -> dt.datetime:
    """Timestamp → timezone-aware UTC `datetime`.

    Raises:
        WireError: the value is invalid or finer than a microsecond, which `datetime`
            cannot hold; it is refused rather than rounded.
    """
    seconds, nanos = ts.seconds, ts.nanos
    if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000):
        raise WireError(
            f"{where}: Timestamp(seconds={seconds}, nanos={nanos}) is outside the valid range "
            "0001-01-01..9999-12-31"
        )
    if nanos % 1000:
        raise WireError(
            f"{where}: Timestamp(seconds={seconds}, nanos={nanos}) is finer than a microsecond, "
            "which Python's datetime cannot hold; truncate it to microseconds before sending"
        )
    # checked above, so exact; `ToDatetime` would check again and convert the zone
    return _EPOCH + dt.timedelta(0, seconds, nanos // 1000)  # positional: twice as fast


def duration(value: dt.timedelta | None) -> duration_pb2.Duration | None:
    """`timedelta` → Duration."""
    if value is None:
        return None
    d = duration_pb2.Duration()
    d.FromTimedelta(value)
    return d


def from_duration(d: duration_pb2.Duration, where: str = "Duration") -> dt.timedelta:
    """Duration → `timedelta`.

    Raises:
        WireError: the value is invalid (out of range, or seconds and nanos of opposite
            signs) or finer than a microsecond, which `timedelta` cannot hold.
    """
    seconds, nanos = d.seconds, d.nanos
    valid = (
        -_MAX_DURATION_SECONDS <= seconds <= _MAX_DURATION_SECONDS
        and -1_000_000_000 < nanos < 1_000_000_000
        and not (seconds > 0 > nanos or seconds < 0 < nanos)
    )
    if not valid:
        raise WireError(f"{where}: Duration(seconds={seconds}, nanos={nanos}) is not valid")
    if nanos % 1000:
        raise WireError(
            f"{where}: Duration(seconds={seconds}, nanos={nanos}) is finer than a microsecond, "
            "which Python's timedelta cannot hold; truncate it to microseconds before sending"
        )
    return dt.timedelta(0, seconds, nanos // 1000)  # exact: checked above; positional: faster


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
    # -0.0 stays a float: as an int it would come back as +0.0.
    negative_zero = x == 0 and math.copysign(1, x) < 0
    if x.is_integer() and -_MAX_SAFE_INT <= x <= _MAX_SAFE_INT and not negative_zero:
        return int(x)
    return x


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


# -- Python types carried in a string ------------------------------------------------------


@overload
def enc_uuid(value: UUID) -> str: ...
@overload
def enc_uuid(value: None) -> None: ...
def enc_uuid(value: UUID | None) -> str | None:
    """A UUID's canonical form, `8-4-4-4-12` lowercase hex (None passes through)."""
    if value is None:
        return None
    if not isinstance(value, UUID):
        raise wrong_type("uuid.UUID", value)
    return str(value)


def dec_uuid(text: str, where: str) -> UUID:
    """A UUID from the wire (any form `uuid.UUID` reads); anything else is refused."""
    try:
        return UUID(text)
    except ValueError:
        raise WireError(f"{where}: {text!r} is not a UUID") from None


@overload
def enc_decimal(value: Decimal) -> str: ...
@overload
def enc_decimal(value: None) -> None: ...
def enc_decimal(value: Decimal | None) -> str | None:
    """A Decimal in `google.type.Decimal`'s string form; NaN and infinities are refused
    (None passes through)."""
    if value is None:
        return None
    if not isinstance(value, Decimal):
        raise wrong_type("decimal.Decimal", value)
    if not value.is_finite():
        raise ValueError(f"{value} has no decimal string form; send a finite Decimal")
    return str(value)


def dec_decimal(text: str, where: str) -> Decimal:
    """A Decimal from its string form ("" — an unset proto3 string — is 0); exact, never a float."""
    if not text:
        return Decimal(0)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise WireError(f"{where}: {text!r} is not a decimal number") from None
    if not value.is_finite() or text.strip() != text or "_" in text:
        raise WireError(f"{where}: {text!r} is not a decimal number")
    return value


class Choices:
    """A `Literal` field's strings: a value outside them is refused, sent or received."""

    __slots__ = ("where", "choices")

    def __init__(self, where: str, choices: tuple[str, ...]) -> None:
        self.where = where
        self.choices = frozenset(choices)

    def _refusal(self, value: object) -> str:
        listed = ", ".join(sorted(map(repr, self.choices)))
        return f"{self.where}: {value!r} is not one of {listed}"

    @overload
    def enc(self, value: str) -> str: ...
    @overload
    def enc(self, value: None) -> None: ...
    def enc(self, value: str | None) -> str | None:
        """The value to send (None passes through); ValueError if it is not a choice."""
        if value is not None and value not in self.choices:
            raise ValueError(self._refusal(value))
        return value

    def dec(self, text: str) -> Any:
        """The received value; WireError if it is not a choice."""
        if text not in self.choices:
            raise WireError(self._refusal(text))
        return text


# -- google.type: calendar dates and times of day ------------------------------------------


@overload
def date(value: dt.date) -> date_pb2.Date: ...
@overload
def date(value: None) -> None: ...
def date(value: dt.date | None) -> date_pb2.Date | None:
    """A `datetime.date` as a `google.type.Date` (None passes through)."""
    if value is None:
        return None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise wrong_type("datetime.date", value)
    return date_pb2.Date(year=value.year, month=value.month, day=value.day)


def from_date(d: date_pb2.Date, where: str = "Date") -> dt.date:
    """A full `google.type.Date`; a partial one (year, month or day 0) has no `date`."""
    try:
        return dt.date(d.year, d.month, d.day)
    except ValueError:
        raise WireError(
            f"{where}: {d.year:04}-{d.month:02}-{d.day:02} is not a full calendar date "
            "(google.type.Date allows 0 parts, datetime.date does not)"
        ) from None


@overload
def time_of_day(value: dt.time) -> timeofday_pb2.TimeOfDay: ...
@overload
def time_of_day(value: None) -> None: ...
def time_of_day(value: dt.time | None) -> timeofday_pb2.TimeOfDay | None:
    """A `datetime.time` as a `google.type.TimeOfDay`; an aware time is refused (the type
    has no zone). None passes through."""
    if value is None:
        return None
    if not isinstance(value, dt.time):
        raise wrong_type("datetime.time", value)
    if value.tzinfo is not None:
        raise ValueError(f"{value}: google.type.TimeOfDay has no time zone; send a naive time")
    return timeofday_pb2.TimeOfDay(
        hours=value.hour,
        minutes=value.minute,
        seconds=value.second,
        nanos=value.microsecond * 1000,
    )


def from_time_of_day(t: timeofday_pb2.TimeOfDay, where: str = "TimeOfDay") -> dt.time:
    """A `datetime.time`; nanoseconds below a microsecond must be 0 (nothing is dropped)."""
    micros, rest = divmod(t.nanos, 1000)
    try:
        if rest:
            raise ValueError
        return dt.time(t.hours, t.minutes, t.seconds, micros)
    except ValueError:
        raise WireError(
            f"{where}: {t.hours:02}:{t.minutes:02}:{t.seconds:02}.{t.nanos:09} is not a "
            "datetime.time (24:00, leap seconds and sub-microsecond nanos have none)"
        ) from None
