"""A returned value of the wrong type is located: the server log names the field (issue 21,
defect 2.7), while the client sees INTERNAL without the text."""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest

from cello import GrpcError, Int32
from cello.grpc import GrpcService, grpc_method
from cello.testing import assert_status, serve


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Item:
    sku: str
    qty: int = 0
    colour: Colour = Colour.RED
    small: Annotated[int, Int32] = 0


@dataclass
class Order:
    items: list[Item] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    gift: Item | None = None


@dataclass
class Which:
    case: str


@dataclass
class Other:
    case: str


GOOD = [Item("a", 1), Item("b", 2)]
ITEMS: dict[str, Any] = {
    "qty": Item("a", qty="three"),  # type: ignore[arg-type]
    "enum": Item("a", colour="RED"),  # type: ignore[arg-type]
    "int32": Item("a", small=2**40),
}
ORDERS: dict[str, Any] = {
    "list": Order(items=[*GOOD, Item("c", qty="three")]),  # type: ignore[arg-type]
    "map": Order(counts={"a": 1, "b": "two"}),  # type: ignore[dict-item]
    "optional": Order(gift=Item("g", qty=1.5)),  # type: ignore[arg-type]
    "list-of-str": Order(items=["a"]),  # type: ignore[list-item]
}


class Shop(GrpcService):
    package = "misfit.v1"

    @grpc_method
    async def get_item(self, request: Which) -> Item:
        return ITEMS[request.case]  # type: ignore[no-any-return]

    @grpc_method
    async def get_order(self, request: Which) -> Order:
        return ORDERS[request.case]  # type: ignore[no-any-return]

    @grpc_method
    async def watch(self, request: Which) -> AsyncIterator[Item]:
        yield GOOD[0]
        yield ITEMS[request.case]

    @grpc_method
    async def wrong_class(self, request: Which) -> Item:
        return Other("x")  # type: ignore[return-value]


@pytest.fixture
async def shop() -> AsyncIterator[Any]:
    async with serve(Shop()) as srv:
        yield srv


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cello.grpc"]


@pytest.mark.parametrize(
    ("method", "case", "located"),
    [
        ("GetItem", "qty", "Item.qty: expected int, got str 'three'"),
        ("GetItem", "enum", "Item.colour: expected Colour, got str 'RED'"),
        (
            "GetItem",
            "int32",
            "Item.small: 1099511627776 is out of range for int32 (-2147483648..2147483647)",
        ),
        ("GetOrder", "list", "Order.items[2].qty: expected int, got str 'three'"),
        ("GetOrder", "map", "Order.counts['b']: expected int, got str 'two'"),
        ("GetOrder", "optional", "Order.gift.qty: expected int, got float 1.5"),
        ("GetOrder", "list-of-str", "Order.items[0]: expected Item, got str 'a'"),
    ],
    ids=["field", "enum", "int32-range", "nested-list", "map-value", "optional", "list-item"],
)
async def test_the_log_names_the_field_and_the_client_sees_only_internal(
    shop: Any, caplog: pytest.LogCaptureFixture, method: str, case: str, located: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="cello.grpc"):
        reply = await shop.channel.call("Shop", method, {"case": case})
    assert_status(reply, GrpcError.INTERNAL)
    assert reply.message == "Internal server error"
    (line,) = _logged(caplog)
    assert line.startswith(f"misfit.v1.Shop/{method} returned ")
    assert line.endswith(f": {located}"), line


async def test_a_streamed_item_is_located_too(shop: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="cello.grpc"):
        reply = await shop.channel.call("Shop", "Watch", {"case": "qty"})
    assert_status(reply, GrpcError.INTERNAL)
    (line,) = _logged(caplog)
    assert line.endswith(": Item.qty: expected int, got str 'three'"), line


async def test_a_result_of_the_wrong_class_keeps_the_encoders_message(
    shop: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cello.grpc"):
        reply = await shop.channel.call("Shop", "WrongClass", {"case": "x"})
    assert_status(reply, GrpcError.INTERNAL)
    (record,) = [r for r in caplog.records if r.name == "cello.grpc"]
    assert record.getMessage().endswith("expected misfit.v1.Item")
    assert record.exc_info is not None and "got Other" in str(record.exc_info[1])
