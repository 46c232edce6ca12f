"""The proto3 JSON mapping of Connect: protobuf's `json_format`, strict where it is lenient.

Python's `json_format` departs from the reference implementations (protobuf's C++ printer,
Go's protojson, which connect-go and `buf curl` use) in ways a server must not pass on:

- a `bytes` value that is not base64 is decoded from whichever base64 characters it
  happens to hold (`"!!!***"` becomes empty bytes). `parse` refuses it, naming the field;
  standard and URL-safe base64 are accepted, padded or not, as proto3 JSON allows;
- a key repeated in one object is accepted, the last value winning. `parse` refuses it,
  naming the key;
- JSON nested deeper than Python's stack raises `RecursionError`. `parse` refuses it;
- an integral number in a `Struct` or `Value` is printed `4.0`. `dumps` prints `4`, as the
  reference printers do and as Cello's dict mapping reads it (`int`), so a Connect JSON
  client sees what a gRPC client sees.

Where to look is found once per message type (the fields that can hold base64 or a
Struct somewhere below); a type with neither is never walked.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from .wellknown import _number

_STRUCTS = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_SHOWN = 40  # characters of a bad value quoted in an error
# json_format refuses messages nested deeper than 100 (its max_recursion_depth); JSON
# deeper than the Python stack fails before it can count
_TOO_DEEP = "nested too deeply; proto3 JSON messages nest at most 100 levels"


class JsonError(ValueError):
    """A request body that is not valid proto3 JSON for its message; the text says why."""


def parse(raw: bytes, message_type: Any, *, ignore_unknown_fields: bool = False) -> Message:
    """The `message_type` message of the JSON text `raw` (empty: the default message).

    Raises:
        JsonError: not JSON, a repeated key, nesting too deep, a value that does not fit
            its field, an unknown field (unless `ignore_unknown_fields`), or a `bytes`
            value that is not base64.
    """
    descriptor = message_type.DESCRIPTOR
    name = descriptor.full_name
    try:
        data = json.loads(raw or b"{}", object_pairs_hook=_unique_keys)
    except RecursionError:
        raise JsonError(f"invalid JSON for {name}: {_TOO_DEEP}") from None
    except ValueError as exc:  # JSONDecodeError, a repeated key, bad UTF-8
        raise JsonError(f"invalid JSON for {name}: {exc}") from None
    if not isinstance(data, dict) and not name.startswith("google.protobuf."):
        raise JsonError(f"invalid JSON for {name}: expected an object, got {type(data).__name__}")
    try:
        # before ParseDict, whose own check misses most bad base64; the walk goes only
        # where base64 can be, and as deep as the JSON is
        if name == "google.protobuf.BytesValue":
            _check_base64(data, name, "value")
        for container, slot, where in _leaves(data, descriptor, base64=True):
            _check_base64(container[slot], name, f"field {where}")
        message: Message = json_format.ParseDict(
            data, message_type(), ignore_unknown_fields=ignore_unknown_fields
        )
    except JsonError:
        raise
    except RecursionError:
        raise JsonError(f"invalid JSON for {name}: {_TOO_DEEP}") from None
    except (json_format.ParseError, TypeError, ValueError) as exc:
        # json_format names the field in ParseError; a few mismatches (a wrapper given
        # an object) escape as TypeError
        problem = _with_enum_names(" ".join(str(exc).split()), message_type)
        raise JsonError(f"invalid JSON for {name}: {problem}") from None
    return message


def dumps(message: Message) -> bytes:
    """`message` as canonical proto3 JSON text (UTF-8), integral Struct numbers as `4`."""
    descriptor = message.DESCRIPTOR
    if descriptor.full_name in _STRUCTS:
        data = _integral(json_format.MessageToDict(message))
    elif _fields(descriptor, False):
        data = json_format.MessageToDict(message)
        for container, slot, _ in _leaves(data, descriptor, base64=False):
            container[slot] = _integral(container[slot])
    else:
        text: str = json_format.MessageToJson(message, indent=None, ensure_ascii=False)
        return text.encode("utf-8")
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"key {json.dumps(key)} appears twice in one object; send it once")
            seen.add(key)
    return data


def _check_base64(value: Any, name: str, where: str) -> None:
    """Refuse a string that is not base64 (any other value is json_format's to refuse)."""
    if isinstance(value, str) and not _is_base64(value):
        shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
        raise JsonError(
            f"invalid JSON for {name}: {where}: {json.dumps(shown)} is not base64; "
            "send standard or URL-safe base64 (padding optional)"
        )


def _is_base64(text: str) -> bool:
    if not _BASE64.fullmatch(text):
        return False
    body = text.rstrip("=")
    if len(body) % 4 == 1:  # no base64 text leaves one character over
        return False
    return len(body) == len(text) or len(text) % 4 == 0  # padding pads to whole quads


def _integral(value: Any) -> Any:
    """A Struct's JSON value with integral numbers as `int` (as `_wire.from_value` has them)."""
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def _leaves(
    data: Any, descriptor: Any, *, base64: bool, path: str = ""
) -> Iterator[tuple[Any, Any, str]]:
    """Where the JSON object `data` of a `descriptor` message holds a base64 value (or, with
    `base64=False`, a Struct, Value or ListValue): (container, key or index, path) each."""
    fields = _fields(descriptor, base64)
    if not fields or not isinstance(data, dict):
        return
    for key, value in list(data.items()):
        field = fields.get(key)
        if field is None or value is None:
            continue
        where = path + key
        entry = field.message_type
        # a value of the wrong shape is left for json_format to refuse
        if entry is not None and field.is_repeated and entry.GetOptions().map_entry:
            field = entry.fields_by_name["value"]
            keys = list(value) if isinstance(value, dict) else []
            slots = [(value, k, f"{where}[{json.dumps(k)}]") for k in keys]
        elif field.is_repeated:
            count = len(value) if isinstance(value, list) else 0
            slots = [(value, i, f"{where}[{i}]") for i in range(count)]
        else:
            slots = [(data, key, where)]
        for container, slot, at in slots:
            if _is_leaf(field, base64):
                yield container, slot, at
            elif field.message_type is not None:
                yield from _leaves(
                    container[slot], field.message_type, base64=base64, path=at + "."
                )


@functools.cache
def _fields(descriptor: Any, base64: bool) -> dict[str, Any]:
    """The fields of `descriptor` that hold a leaf somewhere, by JSON key (its JSON name and,
    as parsing accepts both, its proto name)."""
    found: dict[str, Any] = {}
    for field in descriptor.fields:
        if _reaches(field, base64, set()):
            found[field.json_name] = found[field.name] = field
    return found


def _reaches(field: Any, base64: bool, seen: set[str]) -> bool:
    if _is_leaf(field, base64):
        return True
    message = field.message_type
    # Any's JSON is its packed message's, which json_format resolves itself
    if message is None or message.full_name in seen or message.full_name == "google.protobuf.Any":
        return False
    seen.add(message.full_name)
    return any(_reaches(f, base64, seen) for f in message.fields)


def _is_leaf(field: Any, base64: bool) -> bool:
    message = field.message_type
    if base64:
        return bool(
            field.type == field.TYPE_BYTES
            or (message is not None and message.full_name == "google.protobuf.BytesValue")
        )
    return message is not None and message.full_name in _STRUCTS


_BAD_ENUM = re.compile(r"Invalid enum value (\S+) for enum type ([\w.]+)")


def _with_enum_names(problem: str, message_type: Any) -> str:
    """json_format's "Invalid enum value TOOLS for enum type shop.Category", plus the names
    the JSON mapping takes, and the one meant when the enum's prefix was left out."""
    found = _BAD_ENUM.search(problem)
    if found is None:
        return problem
    try:
        enum_type = message_type.DESCRIPTOR.file.pool.FindEnumTypeByName(found[2])
    except KeyError:
        return problem
    names = [value.name for value in enum_type.values]
    meant = [name for name in names if name.endswith(f"_{found[1]}")]
    guess = f" (did you mean {meant[0]}?)" if len(meant) == 1 else ""
    return f"{problem.rstrip('.')}; use one of {', '.join(names)}{guess} or its number"
