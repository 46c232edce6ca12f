"""A rich schema: every mapping Cello supports, in one package."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from cello import Field, Fixed64, Float, Int32, SInt64, UInt32
from cello.grpc import GrpcRequest, GrpcService, grpc_method


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    NONE = 0
    LOW = 1
    HIGH = 5


@dataclass
class Tree:
    label: str
    children: list[Tree] = field(default_factory=list)
    parent_label: str | None = None


@dataclass
class Ping:
    pong: Pong | None = None


@dataclass
class Pong:
    ping: Ping | None = None
    depth: int = 0


@dataclass
class Image:
    url: str
    width: Annotated[int, UInt32] = 0


@dataclass
class Scalars:
    i64: int = 0
    i32: Annotated[int, Int32] = 0
    s64: Annotated[int, SInt64] = 0
    f64: Annotated[int, Fixed64] = 0
    single: Annotated[float, Float] = 0.0
    real: float = 0.0
    flag: bool = False
    text: str = ""
    raw: bytes = b""


@dataclass
class Item:
    name: str
    color: Color = Color.RED
    priority: Priority = Priority.NONE
    tags: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    by_id: dict[int, Image] = field(default_factory=dict)
    colors: list[Color] = field(default_factory=list)
    note: str | None = None
    quantity: int | None = None
    created: dt.datetime | None = None
    ttl: dt.timedelta = dt.timedelta(0)
    body: Image | str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    anything: Any = None
    values: list[Any] = field(default_factory=list)
    pinned: Annotated[int, Field(20)] = 0
    legacy: str = field(default="", metadata={"number": 30})
    tree: Tree | None = None
    scalars: Scalars | None = None


@dataclass
class ItemList:
    items: list[Item] = field(default_factory=list)


class Catalog(GrpcService):
    package = "rich.catalog.v1"

    @grpc_method
    async def GetItem(self, request: Item) -> Item:
        return request

    @grpc_method
    async def Wrapped(self, request: GrpcRequest[ItemList]) -> ItemList:
        return request.message  # type: ignore[return-value]

    @grpc_method
    async def search(
        self, query: str, limit: Annotated[int, Int32] = 10, color: Color | None = None
    ) -> ItemList:
        return ItemList()

    @grpc_method
    async def count(self, color: Color) -> int:
        return 0

    @grpc_method
    async def Watch(self, request: Item) -> AsyncIterator[Item]:
        yield request

    @grpc_method
    async def Upload(self, requests: AsyncIterator[Item]) -> ItemList:
        return ItemList([i async for i in requests])

    @grpc_method
    async def Sync(self, requests: AsyncIterator[Item]) -> AsyncIterator[Item]:
        async for item in requests:
            yield item

    @grpc_method
    async def Untyped(self, request):
        return {"ok": True}

    @grpc_method(stream=True)
    async def UntypedStream(self, request):
        yield {"n": 1}

    @grpc_method
    async def Ping(self) -> None:
        return None

    @grpc_method
    async def Graph(self, request: Ping) -> Tree:
        return Tree("root")
