"""Field numbers: explicit numbers win, the rest follow declaration order."""

from __future__ import annotations

from collections.abc import Sequence

from cello._errors import DefinitionError

MAX_FIELD_NUMBER = 536_870_911
RESERVED_RANGE = range(19_000, 20_000)  # reserved by protobuf itself


def check_number(number: int, *, where: str) -> int:
    """Raise unless `number` is a usable field number."""
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_FIELD_NUMBER:
        raise DefinitionError(f"{where}: field number {number!r} must be 1..{MAX_FIELD_NUMBER}")
    if number in RESERVED_RANGE:
        raise DefinitionError(f"{where}: field numbers 19000-19999 are reserved by protobuf")
    return number


def assign_numbers(
    slots: Sequence[tuple[str, int | None]], *, where: str, taken: Sequence[int] = ()
) -> list[int]:
    """Number fields: `(name, explicit number or None)` in declaration order.

    Numbers in `taken` (e.g. reserved ones) are never handed out.
    """
    used: dict[int, str] = {}
    for name, number in slots:
        if number is None:
            continue
        check_number(number, where=f"{where}.{name}")
        if number in used:
            raise DefinitionError(
                f"{where}.{name}: field number {number} is also given to {used[number]}"
            )
        if number in taken:
            raise DefinitionError(f"{where}.{name}: field number {number} is reserved")
        used[number] = name
    blocked = set(used) | set(taken)
    result: list[int] = []
    candidate = 1
    for _name, number in slots:
        if number is None:
            while candidate in blocked or candidate in RESERVED_RANGE:
                candidate += 1
            number = candidate
            blocked.add(number)
        result.append(number)
    return result
