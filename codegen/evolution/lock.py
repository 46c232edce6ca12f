"""`cello.lock.json`: what a build was made from, and every number it ever handed out.

The lock sits beside the generated files and is committed with them. Besides the build's
`package` and `targets` (which the stub loader reads) it records, by full name:

    "messages": {"demo.v1.Book": {"fields": {"title": {"number": 2, "type": "string"}, ...},
                                  "reserved": {"names": ["isbn"], "numbers": [1]}}}
    "enums":    {"demo.v1.Genre": {"values": {"GENRE_FICTION": 1, ...}, "reserved": {...}}}
    "services": {"demo.v1.Books": {"GetBook": {"request": "demo.v1.GetBookRequest",
                                               "response": "demo.v1.Book", "streaming": "unary"}}}

A field's `type` is a scalar name, `message <full name>` or `enum <full name>`; `label`
(`optional`, `repeated`, `map`), `key` (map key type) and `oneof` appear when they apply.
Messages and enums that leave the schema stay in the lock, so if they come back their
numbers do too; delete an entry by hand to forget it. A message's removed fields (and an
enum's removed values) are kept under `removed`, as they were, beside their reservation:
`build --allow-breaking` lets such a name come back with its old number (undoing an
unreleased removal or rename).

Keys are protobuf full names, whatever `.proto` file a type is placed in, so moving types
between files changes nothing here. A nested type is keyed `demo.v1.Outer.Inner`; a lock
written before nested classes became nested types has it as `demo.v1.OuterInner`, and the
numbers are read from there when the nested name is not yet in the lock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cello._errors import GenerationError

from ..model import FieldDef, Kind, Label, MessageDef, MethodDef, Reserved, Schema, TypeRef
from ..schema.numbering import History

LOCK_FILE = "cello.lock.json"
LOCK_VERSION = 1
_WIDTH = 100  # a larger object of scalars (an enum's values) goes on one line if it fits
_INLINE_KEYS = 5  # a field or rpc entry always goes on one line


@dataclass(frozen=True, slots=True)
class LockedField:
    """A field as the last build emitted it."""

    number: int
    type: str
    label: str = Label.SINGULAR.value
    key: str | None = None
    oneof: str | None = None


@dataclass(frozen=True, slots=True)
class LockedMessage:
    """A message's fields by proto name, and its reservations."""

    fields: Mapping[str, LockedField]
    reserved: Reserved = field(default_factory=Reserved)
    removed: Mapping[str, LockedField] = field(default_factory=dict)  # reserved, as they were

    def history(self, *, restore: bool = False) -> History:
        """What numbering needs to know; `restore` lets removed names come back."""
        return History(
            {n: f.number for n, f in self.fields.items()},
            self.reserved,
            removed={n: f.number for n, f in self.removed.items()},
            restore=restore,
        )


@dataclass(frozen=True, slots=True)
class LockedEnum:
    """An enum's values by proto name, and its reservations."""

    values: Mapping[str, int]
    reserved: Reserved = field(default_factory=Reserved)
    removed: Mapping[str, int] = field(default_factory=dict)  # reserved values, as they were

    def history(self, *, restore: bool = False) -> History:
        """What numbering needs to know; `restore` lets removed names come back."""
        return History(dict(self.values), self.reserved, removed=self.removed, restore=restore)


@dataclass(frozen=True, slots=True)
class LockedRpc:
    """An rpc's request and response types and its streaming kind."""

    request: str
    response: str
    streaming: str  # "unary" | "client" | "server" | "bidi"


@dataclass(frozen=True, slots=True)
class Lock:
    """The whole lock; an empty one means "number by declaration order"."""

    package: str | None = None
    targets: tuple[str, ...] = ()
    messages: Mapping[str, LockedMessage] = field(default_factory=dict)
    enums: Mapping[str, LockedEnum] = field(default_factory=dict)
    services: Mapping[str, Mapping[str, LockedRpc]] = field(default_factory=dict)
    # set by `build --allow-breaking`: a reserved name that is back takes its old number again
    restore: bool = False

    def message_history(self, full_name: str) -> History | None:
        """The numbering history of a message, if the lock has one."""
        entry = self.messages.get(full_name)
        return entry.history(restore=self.restore) if entry is not None else None

    def enum_history(self, full_name: str) -> History | None:
        """The numbering history of an enum, if the lock has one."""
        entry = self.enums.get(full_name)
        return entry.history(restore=self.restore) if entry is not None else None


# -- model → lock --------------------------------------------------------------------------


def type_key(ref: TypeRef) -> str:
    """How the lock spells a type: `int64`, `message demo.v1.Book`, `enum demo.v1.Genre`."""
    return ref.name if ref.kind is Kind.SCALAR else f"{ref.kind.value} {ref.name}"


def streaming_key(method: MethodDef) -> str:
    """`unary`, `client`, `server` or `bidi`."""
    kinds = {(False, False): "unary", (True, False): "client", (False, True): "server"}
    return kinds.get((method.client_streaming, method.server_streaming), "bidi")


def locked_field(f: FieldDef) -> LockedField:
    """The lock entry of a model field.

    A oneof member is `singular` whichever Python form declares it (a declared member is
    `T | None` in Python, but its wire is the short form's), so switching forms is no change.
    """
    label = Label.SINGULAR if f.oneof is not None else f.label
    return LockedField(f.number, type_key(f.type), label.value, f.key_type, f.oneof)


def locked_rpc(m: MethodDef) -> LockedRpc:
    """The lock entry of a model rpc (request and response are always messages)."""
    return LockedRpc(m.request.name, m.response.name, streaming_key(m))


def lock_from_schema(
    schema: Schema, *, previous: Lock, package: str | None, targets: tuple[str, ...]
) -> Lock:
    """The lock after a build of `schema`: its numbers and reservations, plus the history
    of messages and enums it no longer has."""
    messages: dict[str, LockedMessage] = dict(previous.messages)
    enums: dict[str, LockedEnum] = dict(previous.enums)
    services: dict[str, dict[str, LockedRpc]] = {}
    for file in schema.files:
        for m in file.messages:
            messages[m.full_name] = _locked_message(m, previous.messages.get(m.full_name))
        for e in file.enums:
            values = {v.name: v.number for v in e.values}
            before = previous.enums.get(e.full_name)
            removed = {}
            if before is not None:
                removed = {**before.removed, **before.values}
            removed = {n: v for n, v in sorted(removed.items()) if n not in values}
            enums[e.full_name] = LockedEnum(values, e.reserved.lock_only(), removed)
        for s in file.services:
            services[s.full_name] = {m.name: locked_rpc(m) for m in s.methods}
    return Lock(package, targets, messages, enums, services)


def _locked_message(m: MessageDef, before: LockedMessage | None) -> LockedMessage:
    fields = {f.name: locked_field(f) for f in m.fields}
    removed = {**before.removed, **before.fields} if before is not None else {}
    gone = {n: f for n, f in sorted(removed.items()) if n not in fields}
    return LockedMessage(fields, m.reserved.lock_only(), gone)


# -- JSON ----------------------------------------------------------------------------------


def read_lock(directory: Path) -> Lock:
    """The lock in `directory`, or an empty one.

    Raises:
        GenerationError: the file is not a valid lock.
    """
    path = directory / LOCK_FILE
    if not path.exists():
        return Lock()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise GenerationError(f"{path}: not valid JSON ({exc}); restore it from git") from exc
    return parse_lock(data, source=str(path))


def parse_lock(data: Any, *, source: str) -> Lock:
    """A lock from its JSON form (also accepts the older `{"package", "targets"}` form).

    Raises:
        GenerationError: an entry is malformed, naming it.
    """
    version = data.get("version", LOCK_VERSION) if isinstance(data, dict) else LOCK_VERSION
    if not isinstance(version, int) or version > LOCK_VERSION:
        raise GenerationError(
            f"{source}: lock version {version!r} is newer than this cello-gen understands "
            f"({LOCK_VERSION}); upgrade cello-grpc"
        )
    where = source
    try:
        messages = {}
        for where, entry in _items(data, "messages", source):
            fields = {n: _field(f) for n, f in entry["fields"].items()}
            removed = {n: _field(f) for n, f in entry.get("removed", {}).items()}
            messages[where] = LockedMessage(fields, _reserved(entry), removed)
        enums = {}
        for where, entry in _items(data, "enums", source):
            enums[where] = LockedEnum(
                {n: _int(v) for n, v in entry["values"].items()},
                _reserved(entry),
                {n: _int(v) for n, v in entry.get("removed", {}).items()},
            )
        services = {}
        for where, entry in _items(data, "services", source):
            services[where] = {n: LockedRpc(**r) for n, r in entry.items()}
        targets = tuple(str(t) for t in data.get("targets", ()))
        return Lock(data.get("package"), targets, messages, enums, services)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise GenerationError(
            f"{source}: entry {where!r} is malformed ({type(exc).__name__}: {exc}); "
            "restore the file from git"
        ) from exc


def _items(data: Any, key: str, source: str) -> list[tuple[str, Any]]:
    if not isinstance(data, dict):
        raise TypeError("the lock must be a JSON object")
    section = data.get(key, {})
    if not isinstance(section, dict):
        raise TypeError(f"`{key}` must be an object")
    return sorted(section.items())


def _field(data: Mapping[str, Any]) -> LockedField:
    extra = set(data) - {"number", "type", "label", "key", "oneof"}
    if extra:
        raise ValueError(f"unknown keys {sorted(extra)}")
    label = Label(data.get("label", Label.SINGULAR.value)).value
    return LockedField(
        _int(data["number"]), str(data["type"]), label, data.get("key"), data.get("oneof")
    )


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    return value


def _reserved(entry: Mapping[str, Any]) -> Reserved:
    section = entry.get("reserved", {})
    return Reserved(
        numbers=tuple(sorted(_int(n) for n in section.get("numbers", ()))),
        names=tuple(sorted(str(n) for n in section.get("names", ()))),
    )


def lock_to_json(lock: Lock) -> dict[str, Any]:
    """The JSON form; empty and default parts are left out."""
    return {
        "version": LOCK_VERSION,
        "package": lock.package,
        "targets": list(lock.targets),
        "messages": {
            name: {"fields": {n: _field_json(f) for n, f in m.fields.items()}}
            | _reserved_json(m.reserved)
            | ({"removed": {n: _field_json(f) for n, f in m.removed.items()}} if m.removed else {})
            for name, m in lock.messages.items()
        },
        "enums": {
            name: {"values": dict(e.values)}
            | _reserved_json(e.reserved)
            | ({"removed": dict(e.removed)} if e.removed else {})
            for name, e in lock.enums.items()
        },
        "services": {
            name: {
                rpc: {"request": r.request, "response": r.response, "streaming": r.streaming}
                for rpc, r in rpcs.items()
            }
            for name, rpcs in lock.services.items()
        },
    }


def _field_json(f: LockedField) -> dict[str, Any]:
    out: dict[str, Any] = {"number": f.number, "type": f.type}
    if f.label != Label.SINGULAR.value:
        out["label"] = f.label
    if f.key is not None:
        out["key"] = f.key
    if f.oneof is not None:
        out["oneof"] = f.oneof
    return out


def _reserved_json(reserved: Reserved) -> dict[str, Any]:
    section: dict[str, Any] = {}
    if reserved.numbers:
        section["numbers"] = list(reserved.numbers)
    if reserved.names:
        section["names"] = list(reserved.names)
    return {"reserved": section} if section else {}


def dump_lock(lock: Lock) -> str:
    """The lock's text: sorted keys, two-space indent, one line per field, final newline."""
    return _dump(lock_to_json(lock), 0) + "\n"


def _dump(value: Any, indent: int) -> str:
    """JSON with an object of scalars (a field, an rpc) on one line, objects of objects
    spread out, so a diff of the lock shows one line per changed field."""
    if isinstance(value, dict) and value:
        inline = json.dumps(value, sort_keys=True, separators=(", ", ": "))
        flat = not any(isinstance(v, dict) for v in value.values())
        if flat and (len(value) <= _INLINE_KEYS or indent + len(inline) <= _WIDTH):
            return inline
        pad = " " * (indent + 2)
        items = [f"{pad}{json.dumps(k)}: {_dump(value[k], indent + 2)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def write_lock(directory: Path, lock: Lock) -> Path:
    """Write the lock deterministically, leaving the file untouched if nothing changed."""
    path = directory / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dump_lock(lock)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8", newline="\n")
    return path
