"""Refusal of messages that must contain themselves, so have no finite value."""

from __future__ import annotations

from cello._errors import DefinitionError

from ..model import FieldDef, Kind, Label, MessageDef


def refuse_required_cycles(messages: list[MessageDef]) -> None:
    """A message that must contain itself (through fields without `| None`) has no finite value.

    Such a field would decode forever (an absent message reads as an empty one, which holds
    the field again), so it is refused here rather than failing every call.
    """
    by_name = {m.full_name: m for m in messages}

    def required(m: MessageDef) -> list[FieldDef]:
        return [
            f
            for f in m.fields
            if f.type.kind is Kind.MESSAGE
            and f.label is Label.SINGULAR
            and f.oneof is None
            and f.type.name in by_name
        ]

    done: set[str] = set()

    def visit(m: MessageDef, path: list[tuple[MessageDef, FieldDef]]) -> None:
        for f in required(m):
            target = by_name[f.type.name]
            trail = [*path, (m, f)]
            start = next((i for i, (seen, _) in enumerate(trail) if seen is target), None)
            if start is not None:
                first, field = trail[start]
                cycle = " → ".join(f"{owner.name}.{fd.python_name}" for owner, fd in trail[start:])
                assert first.python is not None
                raise DefinitionError(
                    f"{first.python.module}.{first.python.qualname}.{field.python_name}: "
                    f"{first.name} contains itself ({cycle}) through fields that cannot be None, "
                    "so no value of it can be built or decoded; make one of them Optional "
                    "(`| None = None`) or a list"
                )
            if target.full_name not in done:
                visit(target, trail)
        done.add(m.full_name)

    for m in messages:
        if m.full_name not in done:
            visit(m, [])
