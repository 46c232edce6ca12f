"""A service exercising the call layer (module level, so generated stubs import it)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from google.rpc import error_details_pb2

from cello import GrpcError, GrpcRequest, GrpcService, current_call, grpc_method
from tests.loop_event import AnyLoopEvent

STATE: dict[str, Any] = {}
EVENTS: dict[str, AnyLoopEvent] = {}


def event(name: str) -> AnyLoopEvent:
    """An event the tests and the handlers share, whichever loop each runs on."""
    return EVENTS.setdefault(name, AnyLoopEvent())


@dataclass
class Note:
    text: str = ""


@dataclass
class Reply:
    text: str = ""
    auth: str = ""
    protocol: str = ""


def bad_request() -> error_details_pb2.BadRequest:
    violation = error_details_pb2.BadRequest.FieldViolation(field="text", description="too short")
    return error_details_pb2.BadRequest(field_violations=[violation])


class CallService(GrpcService):
    package = "calltest.v1"

    @grpc_method
    async def Hello(self, request: Note) -> Reply:
        call = current_call()
        STATE["request"] = call.request
        text = request.text
        if text == "boom":
            raise RuntimeError("secret detail: password=hunter2")
        if text == "keyerror":
            raise KeyError("no such note")
        if text == "rich":
            raise GrpcError(GrpcError.INVALID_ARGUMENT, "bad note", details=[bad_request()])
        if text == "huge":
            raise GrpcError(GrpcError.FAILED_PRECONDITION, "x" * 100_000)
        if text == "headers-then-error":
            await call.send_headers({"x-early": "yes"})
            raise GrpcError(GrpcError.NOT_FOUND, "gone", metadata={"x-why": "deleted"})
        if text == "gzip":
            call.set_compression("gzip")
            return Reply(text="z" * 2000)
        if text == "large":
            return Reply(text="z" * 2000)
        if text == "log":  # a record from inside a handler (the observability tests)
            logging.getLogger("calltest").warning("inside the handler")
        if text == "slow":
            await event("release").wait()
        return Reply(text=text, auth=str(call.auth or ""), protocol=call.protocol)

    @grpc_method
    async def Watch(self, request: Note) -> AsyncIterator[Reply]:
        call = current_call()
        if request.text == "empty":
            call.set_trailers({"x-count": "0"})
            return
        if request.text == "early":
            await call.send_headers({"x-early": "yes"})
            await event("release").wait()
            yield Reply(text="after")
            return
        for i in range(3):
            yield Reply(text=f"{request.text}-{i}")
        if request.text == "fail":
            raise KeyError("stream item")
        call.set_trailers({"x-count": "3"})

    @grpc_method
    async def Collect(self, requests: AsyncIterator[Note]) -> Reply:
        # read before the first message arrives (the client may send none)
        STATE["collect_metadata"] = current_call().metadata.get_all("x-id")
        event("collect-started").set()
        texts = [note.text async for note in requests]
        return Reply(text=",".join(texts))

    @grpc_method
    async def Envelope(self, request: GrpcRequest[Note]) -> Reply:
        call = request.context
        same = call is current_call()
        ids = ",".join(str(v) for v in call.metadata.get_all("x-id"))
        return Reply(
            text=f"{same}:{ids}:{request.metadata.get('x-id', '')}", protocol=call.protocol
        )
