"""UUID, Decimal, date, time, Literal, tuple and NewType fields round-trip through bytes."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cello import WireError
from cello._wire.stubs import load_bindings

from .cases.types import service as types

_BINDING = load_bindings([types.Orders])["golden.types.v1.Orders"]
_METHODS = {m.name: m for m in _BINDING.methods}

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10)
decimals = st.decimals(allow_nan=False, allow_infinity=False)
dates = st.dates()
times = st.times().map(lambda t: t.replace(fold=0))  # naive, to the microsecond
lines = st.builds(
    types.Line,
    sku=text.map(types.Sku),
    price=decimals,
    quantity=st.integers(-(2**63), 2**63 - 1),
)
orders = st.builds(
    types.Order,
    id=st.integers(-(2**63), 2**63 - 1).map(types.OrderId),
    ref=st.uuids(),
    total=decimals,
    status=st.sampled_from(["open", "paid", "void"]),
    lines=st.lists(lines, max_size=3).map(tuple),
    tags=st.lists(text, max_size=3).map(tuple),
    refunds=st.lists(decimals, max_size=3),
    by_sku=st.dictionaries(text, decimals, max_size=3),
    parent=st.none() | st.uuids(),
    related=st.lists(st.uuids(), max_size=3),
    channel=st.none() | st.sampled_from(["web", "shop"]),
    due=dates,
    opens=st.none() | times,
    holidays=st.lists(dates, max_size=3),
    when=st.none() | dates | times,
)


def _round_trip(method: str, value: Any) -> Any:
    binding = _METHODS[method]
    wire = binding.encode_request(value).SerializeToString()
    return binding.decode_request(binding.request_type.FromString(wire))


def _decimals(order: types.Order) -> list[str]:
    # Decimal("1.0") == Decimal("1.00"): the string form must keep the exponent too
    found = [order.total, *order.refunds, *order.by_sku.values(), *(x.price for x in order.lines)]
    return sorted(map(str, found))


@settings(max_examples=60, deadline=None)
@given(orders)
def test_order_round_trips_exactly(order: types.Order) -> None:
    back = _round_trip("Put", order)
    assert back == order
    assert _decimals(back) == _decimals(order)
    assert isinstance(back.lines, tuple) and isinstance(back.tags, tuple)


@given(st.uuids(), st.none() | st.sampled_from(["EUR", "USD"]))
def test_synthesized_request_with_uuid_and_literal(ref: uuid.UUID, currency: str | None) -> None:
    sent = {"ref": ref} if currency is None else {"ref": ref, "currency": currency}
    assert _round_trip("Total", sent) == sent


def _order(**fields: Any) -> Any:
    pb2 = _METHODS["Put"].request_type
    base = {"ref": str(uuid.UUID(int=1)), "total": "1.5", "status": "open"}
    message = pb2(**{**base, **{k: v for k, v in fields.items() if k != "due"}})
    message.due.year, message.due.month, message.due.day = fields.get("due", (2024, 2, 29))
    return message


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"ref": "not-a-uuid"}, "Order.ref: 'not-a-uuid' is not a UUID"),
        ({"total": "1.5e"}, "Order.total: '1.5e' is not a decimal number"),
        ({"total": "NaN"}, "Order.total: 'NaN' is not a decimal number"),
        ({"status": "lost"}, "Order.status: 'lost' is not one of"),
        ({"due": (2024, 2, 0)}, "Order.due: 2024-02-00 is not a full calendar date"),
    ],
    ids=["uuid", "decimal", "nan", "literal", "partial-date"],
)
def test_bad_values_on_the_wire_are_refused(fields: dict[str, Any], fragment: str) -> None:
    binding = _METHODS["Put"]
    with pytest.raises(WireError, match=fragment.replace(".", r"\.")):
        binding.decode_request(_order(**fields))


def test_values_outside_the_mapping_are_refused_when_sent() -> None:
    encode = _METHODS["Put"].encode_request
    order = types.Order(types.OrderId(1), uuid.UUID(int=1), Decimal("1"))
    with pytest.raises(ValueError, match="finite"):
        encode(types.Order(types.OrderId(1), uuid.UUID(int=1), Decimal("Infinity")))
    with pytest.raises(ValueError, match="'lost' is not one of"):
        order.status = "lost"  # type: ignore[assignment]
        encode(order)
    with pytest.raises(ValueError, match="no time zone"):
        encode(
            types.Order(
                types.OrderId(1), uuid.UUID(int=1), Decimal("1"), opens=dt.time(tzinfo=dt.UTC)
            )
        )
