"""Services exercised by the runtime tests (module level, so generated stubs import them)."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cello.grpc import GrpcError, GrpcRequest, GrpcResponse, GrpcService, grpc_method
from tests.loop_event import AnyLoopEvent


class Mood(enum.Enum):
    HAPPY = "happy"
    GRUMPY = "grumpy"


@dataclass
class Ping:
    text: str
    count: int = 0
    mood: Mood | None = None
    sent: dt.datetime | None = None


@dataclass
class Pong:
    text: str
    count: int = 0
    seen: dict[str, str] = field(default_factory=dict)
    remaining: float | None = None


@dataclass
class Blob:
    data: bytes


EVENTS: dict[str, AnyLoopEvent] = {}


def event(name: str) -> AnyLoopEvent:
    """An event the tests and the handlers share, whichever loop each runs on."""
    return EVENTS.setdefault(name, AnyLoopEvent())


class EchoService(GrpcService):
    package = "rt.v1"

    @grpc_method
    async def Echo(self, request: Ping) -> Pong:
        return Pong(text=request.text, count=request.count + 1)

    @grpc_method
    async def Inspect(self, request: GrpcRequest[Ping]) -> Pong:
        assert request.message is not None
        seen = {k: str(v) for k, v in request.metadata.items() if k.startswith("x-")}
        seen["data.text"] = str(request.data["text"])
        seen["peer"] = str(request.peer)
        return Pong(text=request.message.text, seen=seen, remaining=request.time_remaining)

    @grpc_method
    async def add(self, a: int, b: int = 10) -> int:
        return a + b

    @grpc_method
    async def Nothing(self) -> None:
        return None

    @grpc_method
    async def Fail(self, request: Ping) -> Pong:
        if request.text == "not-found":
            raise GrpcError(GrpcError.NOT_FOUND, "no such thing")
        if request.text == "response-error":
            return GrpcResponse.error(code=GrpcError.PERMISSION_DENIED, message="go away")  # type: ignore[return-value]
        if request.text == "with-metadata":
            return GrpcResponse(  # type: ignore[return-value]
                Pong(text="meta"),
                metadata={"x-request-id": "abc123"},
                trailers={"x-trailer": "t1"},
            )
        raise RuntimeError("secret database password is hunter2")

    @grpc_method
    async def Count(self, request: Ping) -> AsyncIterator[Pong]:
        for i in range(request.count):
            yield Pong(text=request.text, count=i)

    @grpc_method
    async def Forever(self, request: Ping) -> AsyncIterator[Pong]:
        try:
            i = 0
            while True:
                yield Pong(text="tick", count=i)
                i += 1
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            event("forever-cancelled").set()
            raise

    @grpc_method
    async def Slow(self, request: Ping) -> Pong:
        event("slow-started").set()
        await asyncio.sleep(request.count / 1000)
        return Pong(text="slow")

    @grpc_method
    async def Sum(self, requests: AsyncIterator[Ping]) -> Pong:
        total = 0
        texts = []
        async for ping in requests:
            total += ping.count
            texts.append(ping.text)
        return Pong(text=",".join(texts), count=total)

    @grpc_method
    async def Shout(self, requests: AsyncIterator[Ping]) -> AsyncIterator[Pong]:
        async for ping in requests:
            yield Pong(text=ping.text.upper(), count=ping.count)

    @grpc_method
    async def Size(self, request: Blob) -> Blob:
        return Blob(data=request.data[:10])


class DictService(GrpcService):
    """The seed's untyped style."""

    package = "rt.v1"

    @grpc_method
    async def Get(self, request):
        return GrpcResponse.ok({"id": request.data.get("id"), "name": "Alice", "ratio": 0.5})

    @grpc_method(stream=True)
    async def List(self, request):
        return GrpcResponse.ok({"users": [{"id": 1}, {"id": 2}]})

    @grpc_method(stream=True)
    async def Many(self, request):
        for i in range(request.data.get("n", 0)):
            yield {"i": i}

    @grpc_method(client_stream=True)
    async def Collect(self, requests):
        ids = [r.data["id"] async for r in requests]
        return {"ids": ids}

    @grpc_method
    async def Plain(self, request):
        return {"echo": request.data, "meta": request.metadata.get("auth")}
