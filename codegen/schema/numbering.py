"""Field and enum numbers: explicit numbers win, then the lock, then the lowest never used.

Without a lock (a first build, or stubs generated on the fly) numbers follow declaration
order. With one, a name keeps the number it was given once, whatever the order; a name
that disappeared leaves its number *and* name reserved, so neither is ever handed out again.
A new name gets the lowest number never used (not live, not reserved): small numbers
encode in one byte, and every number ever used is live or reserved in the lock, so the
lowest free one is as safe as `max + 1`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from cello._errors import DefinitionError

from ..model import Reserved

MAX_FIELD_NUMBER = 536_870_911
RESERVED_RANGE = range(19_000, 20_000)  # reserved by protobuf itself


class Slot(NamedTuple):
    """One field or enum value to number: its proto name, an explicit number, and where
    the user wrote it (`module.Class.field`) for error messages."""

    name: str
    number: int | None
    where: str


@dataclass(frozen=True, slots=True)
class History:
    """What the lock remembers of one message or enum: live numbers by name, and reserved."""

    numbers: Mapping[str, int] = field(default_factory=dict)
    reserved: Reserved = field(default_factory=Reserved)
    removed: Mapping[str, int] = field(default_factory=dict)  # reserved names' old numbers
    restore: bool = False  # a reserved name in use again takes back its old number

    def restoring(self, slots: Sequence[Slot]) -> History:
        """With `restore`, the removed names the slots use again become live once more."""
        back = {
            s.name: self.removed[s.name]
            for s in slots
            if self.restore
            and s.name in self.reserved.names
            and s.name in self.removed
            and s.number in (None, self.removed[s.name])
        }
        if not back:
            return self
        reserved = Reserved(
            numbers=tuple(n for n in self.reserved.numbers if n not in back.values()),
            names=tuple(n for n in self.reserved.names if n not in back),
        )
        return History({**self.numbers, **back}, reserved, self.removed, self.restore)


@dataclass(frozen=True, slots=True)
class Numbering:
    """The numbers of the slots, in order, and what the message or enum must reserve."""

    numbers: tuple[int, ...]
    reserved: Reserved


def check_number(number: int, *, where: str) -> int:
    """Raise unless `number` is a usable field number."""
    if (
        not isinstance(number, int)
        or isinstance(number, bool)
        or not 1 <= number <= MAX_FIELD_NUMBER
    ):
        raise DefinitionError(f"{where}: field number {number!r} must be 1..{MAX_FIELD_NUMBER}")
    if number in RESERVED_RANGE:
        raise DefinitionError(f"{where}: field numbers 19000-19999 are reserved by protobuf")
    return number


def assign_numbers(
    slots: Sequence[Slot],
    *,
    history: History | None = None,
    enum: bool = False,
    declared: Reserved | None = None,
) -> Numbering:
    """Number message fields (or, with `enum=True`, enum values).

    Args:
        slots: in declaration order.
        history: the lock's record of this message or enum; None numbers from scratch.
        enum: enum values may be 0 or negative and are not range-checked here; automatic
            numbers start at 1 because 0 is the `*_UNSPECIFIED` value.
        declared: what the class reserves itself; automatic numbers skip it (the caller
            refuses a field using it, naming the declaration).

    Raises:
        DefinitionError: an explicit number is invalid, given twice, reserved, or locked to
            another field; or a name is reserved by a removed field.
    """
    history = (history or History()).restoring(slots)
    what = "value" if enum else "field"
    explicit = _explicit(slots, history, enum=enum, what=what)
    blocked = set(explicit) | set(history.numbers.values()) | set(history.reserved.numbers)
    numbers: list[int] = []
    candidate = 1
    for slot in slots:
        number = slot.number
        if number is None:
            number = history.numbers.get(slot.name)
            if number is not None and number in explicit:
                raise DefinitionError(
                    f"{explicit[number].where}: {what} number {number} is locked to "
                    f"`{slot.name}` in cello.lock.json; drop the explicit number or pick one "
                    "never used"
                )
        if number is None:
            candidate = _free(candidate, blocked, declared, enum=enum, where=slot.where)
            number = candidate
            blocked.add(number)
        numbers.append(number)
    return Numbering(tuple(numbers), _reserved(slots, numbers, history, enum=enum))


def _free(
    candidate: int, blocked: set[int], declared: Reserved | None, *, enum: bool, where: str
) -> int:
    """The lowest number from `candidate` on that nothing blocks (declared ranges are jumped
    over whole: `1000 to max` must not be walked number by number)."""
    while True:
        if candidate in blocked or (not enum and candidate in RESERVED_RANGE):
            candidate += 1
            continue
        ranges = declared.declared_ranges if declared else ()
        inside = [b for a, b in ranges if a <= candidate <= b]
        if not inside:
            break
        candidate = max(inside) + 1
    if not enum and candidate > MAX_FIELD_NUMBER:
        raise DefinitionError(f"{where}: no field number is left; give it an explicit number")
    return candidate


def _explicit(slots: Sequence[Slot], history: History, *, enum: bool, what: str) -> dict[int, Slot]:
    """Validate explicit numbers and reserved names; the explicit numbers and their slots."""
    used: dict[int, Slot] = {}
    for slot in slots:
        if slot.name in history.reserved.names:
            old = history.removed.get(slot.name)
            undo = (
                f", or, if its removal was never released, pass --allow-breaking to bring it "
                f"back as {what} {old}"
                if old is not None
                else ""
            )
            raise DefinitionError(
                f"{slot.where}: the name `{slot.name}` belonged to a removed {what} and is "
                f"reserved in cello.lock.json (JSON clients may still send it); choose another "
                f"name{undo}"
            )
        if slot.number is None:
            continue
        if not enum:
            check_number(slot.number, where=slot.where)
        if slot.number in used:
            raise DefinitionError(
                f"{slot.where}: {what} number {slot.number} is also given to "
                f"{used[slot.number].where}"
            )
        if slot.number in history.reserved.numbers:
            raise DefinitionError(
                f"{slot.where}: {what} number {slot.number} is reserved (a removed {what} used "
                "it, and old clients may still send it); pick a number never used"
            )
        used[slot.number] = slot
    return used


def _reserved(
    slots: Sequence[Slot], numbers: Sequence[int], history: History, *, enum: bool
) -> Reserved:
    """Everything reserved before, plus the numbers and names the lock had that are gone."""
    live_numbers = set(numbers)
    live_names = {slot.name for slot in slots}
    gone = {n for n in history.numbers.values() if n not in live_numbers}
    if enum:
        gone.discard(0)  # proto3 always has a zero value; it is renamed, never removed
    names = {n for n in history.numbers if n not in live_names}
    return Reserved(
        numbers=tuple(sorted(set(history.reserved.numbers) | gone)),
        names=tuple(sorted(set(history.reserved.names) | names)),
    )
