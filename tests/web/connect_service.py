"""A service exercising what Connect's JSON mapping and GET calls care about."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from google.rpc import error_details_pb2

from cello import current_call
from cello.grpc import GrpcError, GrpcService, grpc_method


class Shade(enum.IntEnum):
    PALE = 0
    DEEP = 1


@dataclass
class ItemKey:
    item_id: int = 0


@dataclass
class Item:
    item_id: int = 0
    display_name: str = ""
    shade: Shade = Shade.PALE
    created: dt.datetime | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class Count:
    n: int = 0
    fail_at: int = 0  # 0: never


@dataclass
class Tick:
    i: int = 0


STATE: dict[str, object] = {}


class ConnectProbe(GrpcService):
    package = "connecttest.v1"

    @grpc_method(idempotent=True)
    async def Lookup(self, request: ItemKey) -> Item:
        """Side-effect free: callable with GET."""
        if request.item_id < 0:
            raise GrpcError(GrpcError.NOT_FOUND, f"no item {request.item_id}")
        if request.item_id == 13:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field="item_id", description="unlucky"
            )
            raise GrpcError(
                GrpcError.INVALID_ARGUMENT,
                "unlucky id",
                details=[error_details_pb2.BadRequest(field_violations=[violation])],
                metadata={"x-why": "superstition"},
            )
        call = current_call()
        STATE["metadata"] = call.metadata.to_dict()
        STATE["protocol"] = call.protocol
        await call.send_headers({"x-served-by": "probe"})
        call.set_trailers({"x-item": str(request.item_id)})
        created = dt.datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=dt.UTC)
        return Item(request.item_id, f"item {request.item_id}", Shade.DEEP, created, ["a"])

    @grpc_method
    async def Save(self, request: Item) -> Item:
        STATE["saved"] = request
        return request

    @grpc_method
    async def Slow(self, request: ItemKey) -> Item:
        STATE["slow_remaining"] = current_call().time_remaining()
        await asyncio.sleep(request.item_id / 1000)
        return Item(request.item_id)

    @grpc_method
    async def Countdown(self, request: Count) -> AsyncIterator[Tick]:
        current_call().set_trailers({"x-counted": str(request.n)})
        for i in range(request.n):
            if request.fail_at and i == request.fail_at:
                raise GrpcError(GrpcError.ABORTED, f"stopped at {i}")
            yield Tick(i)

    @grpc_method
    async def Gather(self, requests: AsyncIterator[Tick]) -> Count:
        return Count(n=len([t async for t in requests]))
