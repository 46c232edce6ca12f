"""Find the field of a handler's result whose value does not fit its type hint.

Only the error path calls this: the generated encoder runs first, at full speed, and when
it fails (a `TypeError` such as "'str' object cannot be interpreted as an integer", which
names no field), the result is walked again against the type hints to name the field:
``Order.items[2].qty: expected int, got str 'three'``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import functools
import types
import typing
import uuid
from collections import abc
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from .._definitions.markers import ScalarMarker
from .._definitions.messages import GrpcResponse

_PLAIN: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (float, int),
    str: (str,),
    bytes: (bytes, bytearray, memoryview),
    bool: (bool,),
    dt.datetime: (dt.datetime,),
    dt.timedelta: (dt.timedelta,),
    dt.date: (dt.date,),
    dt.time: (dt.time,),
    uuid.UUID: (uuid.UUID,),
    decimal.Decimal: (decimal.Decimal,),
}
_RANGES: dict[str, tuple[int, int]] = {
    "int32": (-(2**31), 2**31 - 1),
    "sint32": (-(2**31), 2**31 - 1),
    "sfixed32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "fixed32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "sint64": (-(2**63), 2**63 - 1),
    "sfixed64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "fixed64": (0, 2**64 - 1),
}
_ITERATORS: tuple[Any, ...] = (abc.AsyncIterator, abc.AsyncIterable, abc.AsyncGenerator)
_ITERATORS += (abc.Iterator, abc.Iterable, abc.Generator)


def misfit(result: Any, handler: Any) -> str | None:
    """The field of `result`, a message returned by `handler`, whose value misfits its hint.

    A result of another class than the handler's return type is left alone: the encoder's
    own error ("expected Book, got Other") says it better than a walk of the wrong class.

    Args:
        result: what the handler returned (or yielded, for a server stream).
        handler: the user's method, whose return annotation names the message class.

    Returns:
        ``Message.path.to.field: expected T, got type value``, or None if no field is to
        blame (a value out of this walk's knowledge, or a result of the wrong class).
    """
    cls = type(result)
    if not _fields(cls) or not _is_expected(cls, _return_hint(handler)):
        return None
    return _message(result, cls.__name__)


def _return_hint(handler: Any) -> Any:
    try:
        hint = get_type_hints(handler, include_extras=True).get("return")
    except Exception:  # unresolvable annotations: trust the result's own class
        return None
    if get_origin(hint) in _ITERATORS and get_args(hint):
        hint = get_args(hint)[0]
    if get_origin(hint) is GrpcResponse:
        hint = get_args(hint)[0]
    return None if hint is Any or hint is GrpcResponse else hint


def _is_expected(cls: type, hint: Any) -> bool:
    """`cls` is the return hint's class (or one redefined under its name, as a notebook
    does), or the handler is not annotated."""
    if hint is None:
        return True
    hint = _unwrap(hint)[0]
    if get_origin(hint) in (Union, types.UnionType):
        return any(_is_expected(cls, member) for member in get_args(hint))
    return isinstance(hint, type) and (
        issubclass(cls, hint)
        or (cls.__qualname__, cls.__module__) == (hint.__qualname__, hint.__module__)
    )


def _check(value: Any, hint: Any, path: str) -> str | None:
    """What is wrong with `value` as a `hint`, or None if it fits (or cannot be judged)."""
    hint, marker = _unwrap(hint)
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        members = get_args(hint)
        if value is None and type(None) in members:
            return None
        found = [_check(value, member, path) for member in members if member is not type(None)]
        if None in found:
            return None
        return found[0] if len(found) == 1 else _expected(path, _describe(hint), value)
    if origin in (list, tuple, abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return _expected(path, _describe(hint), value)
        item = (get_args(hint) or (Any,))[0]
        return _first(_check(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (dict, abc.Mapping) or hint in (dict, abc.Mapping):
        if not isinstance(value, abc.Mapping):
            return _expected(path, _describe(hint), value)
        key, item = get_args(hint) or (Any, Any)
        return _first(
            _check(k, key, f"{path}[{k!r}]") or _check(v, item, f"{path}[{k!r}]")
            for k, v in value.items()
        )
    if origin is Literal:
        choices = get_args(hint)
        return None if value in choices else _expected(path, _describe(hint), value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        fits = isinstance(value, hint) or (issubclass(hint, int) and _is_int(value))
        return None if fits else _expected(path, hint.__name__, value)
    if isinstance(hint, type) and _fields(hint):
        if not isinstance(value, hint) and type(value).__qualname__ != hint.__qualname__:
            return _expected(path, hint.__name__, value)
        return _message(value, path)
    if hint in _PLAIN:
        return _scalar(value, hint, marker, path)
    return None  # Any, Struct values, types this walk does not know: not blamed


def _scalar(value: Any, hint: Any, marker: ScalarMarker | None, path: str) -> str | None:
    kinds = _PLAIN[hint]
    if hint in (int, float) and isinstance(value, bool):
        return _expected(path, hint.__name__, value)
    if not isinstance(value, kinds):
        return _expected(path, hint.__name__, value)
    if hint is int and isinstance(value, int):
        scalar = marker.proto_type if marker is not None else "int64"
        low, high = _RANGES.get(scalar, _RANGES["int64"])
        if not low <= value <= high:
            return f"{path}: {value} is out of range for {scalar} ({low}..{high})"
    return None


def _message(obj: Any, path: str) -> str | None:
    """The first misfit among the fields of a dataclass or pydantic object."""
    hints = _hints(type(obj))  # type: ignore[arg-type]  # classes hash
    for name in _fields(type(obj)):
        if name in hints:
            found = _check(getattr(obj, name, None), hints[name], f"{path}.{name}")
            if found:
                return found
    return None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    try:
        return get_type_hints(cls, include_extras=True)
    except Exception:  # a field this walk cannot judge is not blamed
        return {}


def _fields(cls: type) -> tuple[str, ...]:
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    model_fields = getattr(cls, "__pydantic_fields__", None)
    return tuple(model_fields) if isinstance(model_fields, dict) else ()


def _unwrap(hint: Any) -> tuple[Any, ScalarMarker | None]:
    """`Annotated[int, Int32]` → `(int, Int32)`; a `NewType` is its base type."""
    marker = None
    while True:
        if isinstance(hint, typing.NewType):
            hint = hint.__supertype__
        elif get_origin(hint) is Annotated:
            hint, *extras = get_args(hint)
            marker = next((e for e in extras if isinstance(e, ScalarMarker)), marker)
        else:
            return hint, marker


def _first(found: abc.Iterable[str | None]) -> str | None:
    return next((f for f in found if f), None)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expected(path: str, expected: str, value: Any) -> str:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{path}: expected {expected}, got {type(value).__name__} {shown}"


def _describe(hint: Any) -> str:
    if isinstance(hint, type) and not get_args(hint):
        return hint.__name__
    return repr(hint).replace("typing.", "").replace("collections.abc.", "")
