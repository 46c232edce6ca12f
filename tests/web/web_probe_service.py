"""A Cello service for the gRPC-Web tests of metadata, deadlines, streams and limits.

The typed catalogue calls use `examples.library`; this service reports what a handler
sees of the call, so the tests can check it is the same over gRPC-Web as over gRPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cello.grpc import GrpcError, GrpcRequest, GrpcResponse, GrpcService, grpc_method


@dataclass
class Probe:
    text: str = ""
    millis: int = 0
    size: int = 0


@dataclass
class Seen:
    text: str
    metadata: dict[str, str] = field(default_factory=dict)
    peer: str = ""
    remaining: float | None = None


# What the handlers observed, read by the tests; reset by the server fixture.
STATE: dict[str, object] = {}


def event(name: str) -> asyncio.Event:
    """An event shared by a test and the handlers (one event loop per test)."""
    found = STATE.setdefault(name, asyncio.Event())
    assert isinstance(found, asyncio.Event)
    return found


class ProbeService(GrpcService):
    package = "cello.webtest.v1"

    @grpc_method
    async def Inspect(self, request: GrpcRequest[Probe]) -> Seen:
        assert request.message is not None
        seen = {
            key: value.hex() if isinstance(value, bytes) else str(value)
            for key, value in request.metadata.items()
            if key.startswith("x-")
        }
        reply = Seen(
            text=request.message.text,
            metadata=seen,
            peer=str(request.peer),
            remaining=request.time_remaining,
        )
        return GrpcResponse(  # type: ignore[return-value]
            reply,
            metadata={"x-served-by": "cello", "x-raw-bin": b"\x00\xffcello"},
            trailers={"x-trailer": "t1"},
        )

    @grpc_method
    async def Fail(self, request: Probe) -> Seen:
        if request.text == "with-metadata":
            raise GrpcError(GrpcError.PERMISSION_DENIED, "go away", metadata={"x-reason": "policy"})
        if request.text == "response-error":
            return GrpcResponse.error(GrpcError.FAILED_PRECONDITION, "not yet")  # type: ignore[return-value]
        raise RuntimeError("secret database password is hunter2")

    @grpc_method
    async def Count(self, request: Probe) -> AsyncIterator[Seen]:
        for i in range(request.size):
            yield Seen(text=f"{request.text}-{i}")
        if request.text == "fail":
            raise GrpcError(GrpcError.OUT_OF_RANGE, f"stopped after {request.size}")

    @grpc_method
    async def Ticks(self, request: Probe) -> AsyncIterator[Seen]:
        """Ticks until the client goes away; records that it was cancelled."""
        try:
            for i in range(10_000):
                yield Seen(text=f"tick-{i}")
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            event("ticks-cancelled").set()
            raise

    @grpc_method
    async def Slow(self, request: GrpcRequest[Probe]) -> Seen:
        assert request.message is not None
        event("slow-started").set()
        try:
            await asyncio.sleep(request.message.millis / 1000)
        except asyncio.CancelledError:
            STATE["slow-cancelled-seen"] = request.cancelled
            event("slow-cancelled").set()
            raise
        return Seen(text="slow")

    @grpc_method
    async def Big(self, request: Probe) -> Seen:
        return Seen(text="x" * request.size)

    @grpc_method
    async def Gather(self, requests: AsyncIterator[Probe]) -> Seen:
        return Seen(text=",".join([p.text async for p in requests]))
