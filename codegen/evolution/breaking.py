"""Breaking-change rules: what changed between the lock of the last build and a new schema.

Wire-breaking (errors; `cello-gen build` refuses them without `--allow-breaking`). These
cover buf's `WIRE` category, plus removed rpcs and changed packages:

- a field number now carries a wire-incompatible type. Compatible groups follow buf's
  FIELD_WIRE_COMPATIBLE_TYPE: {int32, int64, uint32, uint64, bool}, {sint32, sint64},
  {fixed32, sfixed32}, {fixed64, sfixed64}, and string → bytes (not back); anything else
  (double, float, enums, messages) must keep the same type, enums and messages by full name;
- a field's cardinality changed: singular (with or without presence) ↔ repeated ↔ map,
  or a map's key type changed incompatibly;
- a field moved into, out of, or between oneofs;
- an rpc's request type, response type or streaming kind changed;
- an rpc or a whole service was removed (clients get UNIMPLEMENTED), or a service moved to
  another package.

Removed fields and enum values are never reported: the build reserves their numbers and
names (buf's *_NO_DELETE_UNLESS_NUMBER_RESERVED rules hold by construction). A number is
never reused: numbering skips every number ever used, and an explicit number that is
reserved is a `DefinitionError` (see `numbering`). An explicit number taken over from a
field that is gone is a rename, checked by the type rules above.

JSON-breaking only (warnings; errors with `--strict`), in the spirit of buf's `WIRE_JSON`:

- a field or enum value renamed at the same number (the JSON key or value changes);
- a wire-compatible type change that JSON encodes differently (e.g. int32 → int64, which
  JSON writes as a string; only int32↔uint32, int64↔uint64, fixed32↔sfixed32 and
  fixed64↔sfixed64 keep their JSON form);
- a field or enum value that kept its name but moved to another number (old clients' values
  for it are dropped, without being misread).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..model import EnumDef, Label, MessageDef, Schema, ServiceDef
from .lock import Lock, LockedField, LockedRpc, locked_field, locked_rpc

_WIRE_GROUPS = {
    **dict.fromkeys(("int32", "int64", "uint32", "uint64", "bool"), "varint"),
    **dict.fromkeys(("sint32", "sint64"), "zigzag"),
    **dict.fromkeys(("fixed32", "sfixed32"), "i32"),
    **dict.fromkeys(("fixed64", "sfixed64"), "i64"),
}
_JSON_SAME = {
    frozenset(p)
    for p in (
        ("int32", "uint32"),
        ("int64", "uint64"),
        ("fixed32", "sfixed32"),
        ("fixed64", "sfixed64"),
    )
}


@dataclass(frozen=True, slots=True)
class Change:
    """One reported change: `subject` is a full name (`demo.v1.Book.title`)."""

    subject: str
    message: str
    breaking: bool  # wire-breaking; False: JSON-breaking only

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


def compare(previous: Lock, schema: Schema) -> list[Change]:
    """Every change from the lock to `schema` that breaks the wire or JSON, in a stable order.

    Messages and enums the lock does not know are new, so never breaking.
    """
    changes: list[Change] = []
    for file in schema.files:
        for message in file.messages:
            if message.full_name in previous.messages:
                changes += _message_changes(previous, message)
        for enum in file.enums:
            if enum.full_name in previous.enums:
                changes += _enum_changes(previous, enum)
    changes += _service_changes(previous, [s for f in schema.files for s in f.services])
    return changes


def wire_compatible(old: str, new: str) -> bool:
    """Whether a field of lock type `old` may become `new` (buf FIELD_WIRE_COMPATIBLE_TYPE)."""
    if old == new or (old, new) == ("string", "bytes") or was_flattened(old, new):
        return True
    group = _WIRE_GROUPS.get(old)
    return group is not None and group == _WIRE_GROUPS.get(new)


def json_compatible(old: str, new: str) -> bool:
    """Whether a wire-compatible type change also keeps the JSON form."""
    return old == new or frozenset((old, new)) in _JSON_SAME or was_flattened(old, new)


def was_flattened(old: str, new: str) -> bool:
    """Whether `new` is the nested type (`message p.Outer.Inner`) that Cello used to emit
    as the flattened `old` (`message p.OuterInner`): the same type, renamed by the upgrade,
    with the same numbers (the lock is read under the old name)."""
    kind, _, name = new.rpartition(" ")
    parts = name.split(".")
    return any(
        old == f"{kind} {'.'.join(parts[:i])}.{''.join(parts[i:])}".lstrip()
        for i in range(1, len(parts) - 1)
    )


def _message_changes(previous: Lock, message: MessageDef) -> Iterator[Change]:
    old_fields = previous.messages[message.full_name].fields
    by_number = {f.number: (name, f) for name, f in old_fields.items()}
    for field in message.fields:
        subject = f"{message.full_name}.{field.name}"
        new = locked_field(field)
        if field.name in old_fields and old_fields[field.name].number != field.number:
            was = old_fields[field.name].number
            yield Change(
                subject,
                f"moved from number {was} to {field.number}; values old clients send as "
                f"{was} are dropped",
                breaking=False,
            )
        if field.number not in by_number:
            continue
        old_name, old = by_number[field.number]
        if old_name != field.name:
            yield Change(
                subject,
                f"field {field.number} renamed from `{old_name}`; JSON clients use the old key",
                breaking=False,
            )
        yield from _field_changes(subject, old, new)


def _field_changes(subject: str, old: LockedField, new: LockedField) -> Iterator[Change]:
    n = new.number
    if _cardinality(old) != _cardinality(new):
        yield Change(
            subject,
            f"field {n} changed from {_cardinality(old)} to {_cardinality(new)}; old clients "
            "misread it. Give the new field another name, or pass --allow-breaking",
            breaking=True,
        )
        return
    pairs = [("type", old.type, new.type)]
    if old.label == new.label == Label.MAP.value:
        pairs.insert(0, ("map key type", old.key or "", new.key or ""))
    for what, before, after in pairs:
        if not wire_compatible(before, after):
            yield Change(
                subject,
                f"field {n} changed {what} from `{before}` to `{after}`, which old clients "
                "decode wrongly. Give the new field another name, or pass --allow-breaking",
                breaking=True,
            )
        elif not json_compatible(before, after):
            yield Change(
                subject,
                f"field {n} changed {what} from `{before}` to `{after}`: same wire format, "
                "different JSON",
                breaking=False,
            )
    if old.oneof != new.oneof:
        yield Change(subject, f"field {n} {_oneof_move(old.oneof, new.oneof)}", breaking=True)


def _cardinality(f: LockedField) -> str:
    if f.label == Label.MAP.value:
        return "a map"
    return "repeated" if f.label == Label.REPEATED.value else "singular"


def _oneof_move(old: str | None, new: str | None) -> str:
    if old is None:
        return f"moved into oneof `{new}`; old clients may set it together with its siblings"
    if new is None:
        return f"moved out of oneof `{old}`; old clients clear it when setting a sibling"
    return f"moved from oneof `{old}` to oneof `{new}`"


def _enum_changes(previous: Lock, enum: EnumDef) -> Iterator[Change]:
    old_values = previous.enums[enum.full_name].values
    by_number = {number: name for name, number in old_values.items()}
    for value in enum.values:
        subject = f"{enum.full_name}.{value.name}"
        old_number = old_values.get(value.name)
        if old_number is not None and old_number != value.number:
            yield Change(
                subject,
                f"moved from number {old_number} to {value.number}; old clients sending "
                f"{old_number} are not understood",
                breaking=False,
            )
        old_name = by_number.get(value.number)
        if old_name is not None and old_name != value.name:
            yield Change(
                subject,
                f"value {value.number} renamed from `{old_name}`; JSON clients use the old name",
                breaking=False,
            )


def _service_changes(previous: Lock, services: list[ServiceDef]) -> Iterator[Change]:
    current = {s.full_name: s for s in services}
    by_short = {s.name: s for s in services}
    for full_name, rpcs in sorted(previous.services.items()):
        service = current.get(full_name)
        if service is None:
            short = full_name.rsplit(".", 1)[-1]
            moved = by_short.get(short)
            if moved is not None:
                old_package = full_name.rpartition(".")[0]
                new_package = moved.full_name.rpartition(".")[0]
                message = f"package changed from `{old_package}` to `{new_package}`"
            else:
                message = f"service removed (rpcs {', '.join(sorted(rpcs))})"
            yield Change(full_name, message + "; old clients get UNIMPLEMENTED", breaking=True)
            continue
        methods = {m.name: m for m in service.methods}
        for name, old in sorted(rpcs.items()):
            method = methods.get(name)
            subject = f"{full_name}.{name}"
            if method is None:
                yield Change(subject, "rpc removed; old clients get UNIMPLEMENTED", breaking=True)
                continue
            yield from _rpc_changes(subject, old, locked_rpc(method))


def _rpc_changes(subject: str, old: LockedRpc, new: LockedRpc) -> Iterator[Change]:
    for what, before, after in (
        ("request type", old.request, new.request),
        ("response type", old.response, new.response),
        ("streaming kind", old.streaming, new.streaming),
    ):
        if before != after and not was_flattened(before, after):
            yield Change(
                subject,
                f"{what} changed from `{before}` to `{after}`; old clients fail. Add a new "
                "rpc instead, or pass --allow-breaking",
                breaking=True,
            )


# -- the schema diff that `check` prints and the reservations `build` reports -------------


def describe(previous: Lock, schema: Schema) -> list[str]:
    """The schema's changes since the lock, one line each: `+` added, `-` removed, `~` changed.

    Covers messages and their fields, enums and their values, services and their rpcs.
    A message or enum counts as removed when the lock's services reached it and the
    schema no longer has it (the lock keeps every message it ever saw).
    """
    lines: list[str] = []
    messages = {m.full_name: m for f in schema.files for m in f.messages}
    enums = {e.full_name: e for f in schema.files for e in f.enums}
    live_messages, live_enums = _reachable(previous)
    for name, message in messages.items():
        old = previous.messages.get(name)
        if old is None:
            lines.append(f"+ message {name}")
            continue
        new_fields = {f.name: locked_field(f) for f in message.fields}
        for field, now in new_fields.items():
            was = old.fields.get(field)
            if was is None:
                back = " (restored)" if field in old.removed else ""
                lines.append(f"+ field {name}.{field} = {now.number} ({_shape(now)}){back}")
            elif was.number != now.number:
                lines.append(f"~ field {name}.{field}: number {was.number} -> {now.number}")
            elif (was.type, was.label, was.key) != (now.type, now.label, now.key):
                lines.append(f"~ field {name}.{field}: {_shape(was)} -> {_shape(now)}")
        for field, was in old.fields.items():
            if field not in new_fields:
                lines.append(f"- field {name}.{field} = {was.number} (now reserved)")
    for name, enum in enums.items():
        old_enum = previous.enums.get(name)
        if old_enum is None:
            lines.append(f"+ enum {name}")
            continue
        values = {v.name: v.number for v in enum.values}
        for value, number in values.items():
            before = old_enum.values.get(value)
            if before is None:
                lines.append(f"+ value {name}.{value} = {number}")
            elif before != number:
                lines.append(f"~ value {name}.{value}: number {before} -> {number}")
        for value, number in old_enum.values.items():
            if value not in values:
                lines.append(f"- value {name}.{value} = {number} (now reserved)")
    lines += [f"- message {n}" for n in sorted(live_messages - set(messages))]
    lines += [f"- enum {n}" for n in sorted(live_enums - set(enums))]
    lines += _service_lines(previous, [s for f in schema.files for s in f.services])
    return lines


def _shape(f: LockedField) -> str:
    if f.label == Label.MAP.value:
        return f"map<{f.key}, {f.type}>"
    return f.type if f.label == Label.SINGULAR.value else f"{f.label} {f.type}"


def _reachable(lock: Lock) -> tuple[set[str], set[str]]:
    """The messages and enums the lock's services used: the last build's live types."""
    messages: set[str] = set()
    enums: set[str] = set()
    todo = [
        n for rpcs in lock.services.values() for r in rpcs.values() for n in (r.request, r.response)
    ]
    while todo:
        name = todo.pop()
        entry = lock.messages.get(name)
        if name in messages or entry is None:
            continue
        messages.add(name)
        for f in entry.fields.values():
            kind, _, target = f.type.partition(" ")
            if kind == "enum":
                enums.add(target)
            elif kind == "message":
                todo.append(target)
    return messages, enums


def _service_lines(previous: Lock, services: list[ServiceDef]) -> list[str]:
    lines = []
    for service in services:
        old = previous.services.get(service.full_name)
        if old is None:
            lines.append(f"+ service {service.full_name}")
            continue
        for method in service.methods:
            rpc = locked_rpc(method)
            subject = f"{service.full_name}.{method.name}"
            was = old.get(method.name)
            if was is None:
                lines.append(f"+ rpc {subject} ({rpc.request}) -> {rpc.response} [{rpc.streaming}]")
            elif was != rpc:
                lines.append(
                    f"~ rpc {subject}: ({was.request}) -> {was.response} [{was.streaming}] "
                    f"became ({rpc.request}) -> {rpc.response} [{rpc.streaming}]"
                )
        names = {m.name for m in service.methods}
        lines += [f"- rpc {service.full_name}.{n}" for n in sorted(old) if n not in names]
    current = {s.full_name for s in services}
    lines += [f"- service {n}" for n in sorted(previous.services) if n not in current]
    return lines


def reservations(previous: Lock, schema: Schema) -> tuple[list[str], list[str]]:
    """What a build of `schema` newly reserved, and which reserved names it brought back.

    Each item reads `demo.v1.Book.isbn (1)`.
    """
    reserved: list[str] = []
    restored: list[str] = []
    entries: list[tuple[str, dict[str, int], dict[str, int], tuple[str, ...]]] = []
    for file in schema.files:
        for m in file.messages:
            old = previous.messages.get(m.full_name)
            if old is not None:
                before = {n: f.number for n, f in old.fields.items()}
                gone = {n: f.number for n, f in old.removed.items()}
                now = {f.name: f.number for f in m.fields}
                entries.append((m.full_name, before | gone, now, old.reserved.names))
        for e in file.enums:
            old_enum = previous.enums.get(e.full_name)
            if old_enum is not None:
                now = {v.name: v.number for v in e.values}
                known = {**old_enum.removed, **old_enum.values}
                entries.append((e.full_name, known, now, old_enum.reserved.names))
    for full_name, known, now, was_reserved in entries:
        for name, number in known.items():
            if name not in now and name not in was_reserved:
                reserved.append(f"{full_name}.{name} ({number})")
            elif name in now and name in was_reserved:
                restored.append(f"{full_name}.{name} ({now[name]})")
    return reserved, restored
