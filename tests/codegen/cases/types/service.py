"""Golden case: UUID, Decimal, date, time, Literal, tuple[T, ...] and NewType fields."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, NewType

from cello import GrpcService, grpc_method

OrderId = NewType("OrderId", int)
Sku = NewType("Sku", str)


@dataclass
class Line:
    sku: Sku
    price: Decimal
    quantity: int = 1


@dataclass
class Order:
    id: OrderId
    ref: uuid.UUID
    total: Decimal
    status: Literal["open", "paid", "void"] = "open"
    lines: tuple[Line, ...] = ()
    tags: tuple[str, ...] = ()
    refunds: list[Decimal] = field(default_factory=list)
    by_sku: dict[str, Decimal] = field(default_factory=dict)
    parent: uuid.UUID | None = None
    related: list[uuid.UUID] = field(default_factory=list)
    channel: Literal["web", "shop"] | None = None
    due: dt.date = dt.date(2000, 1, 1)
    opens: dt.time | None = None
    holidays: list[dt.date] = field(default_factory=list)
    when: dt.date | dt.time | None = None


class Orders(GrpcService):
    package = "golden.types.v1"

    @grpc_method
    async def Put(self, order: Order) -> Order:
        return order

    @grpc_method
    async def Total(self, ref: uuid.UUID, currency: Literal["EUR", "USD"] = "EUR") -> Decimal:
        return Decimal("0")
