"""A service whose server streams return each shape a stream handler may return."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from cello import GrpcService, grpc_method


@dataclass
class Item:
    n: int = 0


class Countdown:
    """An async iterator that is not a generator: iterated as it is."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __aiter__(self) -> Countdown:
        return self

    async def __anext__(self) -> Item:
        if self.n == 0:
            raise StopAsyncIteration
        self.n -= 1
        return Item(self.n)


class Holder:
    """An async iterable without `__anext__` of its own."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __aiter__(self) -> Countdown:
        return Countdown(self.n)


class Streams(GrpcService):
    package = "streams.v1"

    @grpc_method
    async def Generated(self, request: Item) -> AsyncIterator[Item]:
        for i in reversed(range(request.n)):
            yield Item(i)

    @grpc_method
    async def Iterator(self, request: Item) -> AsyncIterator[Item]:
        return Countdown(request.n)  # type: ignore[return-value]

    @grpc_method
    async def Iterable(self, request: Item) -> AsyncIterator[Item]:
        return Holder(request.n)  # type: ignore[return-value]

    @grpc_method
    async def Listed(self, request: Item) -> AsyncIterator[Item]:
        return [Item(i) for i in reversed(range(request.n))]  # type: ignore[return-value]

    @grpc_method
    def Synced(self, request: Item) -> Iterator[Item]:
        return [Item(i) for i in reversed(range(request.n))]  # type: ignore[return-value]

    @grpc_method
    async def Single(self, request: Item) -> AsyncIterator[Item]:
        return Item(request.n)  # type: ignore[return-value]
