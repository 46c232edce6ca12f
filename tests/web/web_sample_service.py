"""A hand-written sample service (no codegen) used by the gRPC-Web tests.

Handlers work on `_pb2` messages and a `CallContext`, built into endpoints directly.
Messages are protobuf well-known types, so both the Python tests and the
browser page can use them without generated code.
"""

from __future__ import annotations

import asyncio
import threading

from google.protobuf import struct_pb2, wrappers_pb2

from cello import GrpcError
from cello._call.endpoint import endpoint

SERVICE = "cello.test.Sample"

# Observations made by the behaviors, read by the tests.
STATE: dict = {"sleep_cancelled": None, "sleep_time_remaining": None}
STREAM_RELEASE = threading.Event()


async def echo(request: wrappers_pb2.StringValue, call) -> wrappers_pb2.StringValue:
    """Echoes the value; special values exercise errors and metadata."""
    echoed = call.metadata.get("x-echo")
    if echoed is not None:
        await call.send_headers((("x-echo-initial", echoed),))
        call.set_trailers((("x-echo-trailing", echoed), ("x-trailer-bin", b"\x00\x01\xfe")))
    value = request.value
    if value == "abort":
        raise GrpcError(GrpcError.NOT_FOUND, "no such thing: caf\u00e9 100%\nnext line")
    if value == "boom":
        raise RuntimeError("secret internal detail: password=hunter2")
    if value.startswith("big:"):
        return wrappers_pb2.StringValue(value="x" * int(value[4:]))
    return wrappers_pb2.StringValue(value="echo: " + value)


async def describe(request: wrappers_pb2.StringValue, call) -> struct_pb2.Struct:
    """Reports what the call context saw, as a Struct."""
    out = struct_pb2.Struct()
    md = {}
    for key, value in call.metadata:
        md[key] = value.hex() if isinstance(value, bytes) else value
    remaining = call.time_remaining()
    out.update(
        {
            "metadata": md,
            "peer": call.peer,
            "time_remaining": remaining if remaining is not None else -1,
            "cancelled": call.cancelled,
            "protocol": call.protocol,
            "request": request.value,
        }
    )
    return out


async def sleep(request: wrappers_pb2.StringValue, call) -> wrappers_pb2.StringValue:
    STATE["sleep_cancelled"] = None
    STATE["sleep_time_remaining"] = call.time_remaining()
    try:
        await asyncio.sleep(float(request.value))
    except asyncio.CancelledError:
        STATE["sleep_cancelled"] = call.cancelled
        raise
    return wrappers_pb2.StringValue(value="slept")


async def count(request: struct_pb2.Struct, call):
    """Server streaming: yields n StringValues; optional 'fail_after' aborts mid-stream."""
    n = int(request["n"]) if "n" in request else 3
    fail_after = int(request["fail_after"]) if "fail_after" in request else -1
    for i in range(n):
        if i == fail_after:
            raise GrpcError(GrpcError.OUT_OF_RANGE, f"stopped after {i}")
        yield wrappers_pb2.StringValue(value=f"item-{i}")
    call.set_trailers((("x-count", str(n)),))


async def gated(request: wrappers_pb2.StringValue, call):
    """Yields one item, then waits (up to 5 s) for the test to release the second one."""
    yield wrappers_pb2.StringValue(value="first")
    for _ in range(500):
        if STREAM_RELEASE.is_set():
            yield wrappers_pb2.StringValue(value="released")
            return
        await asyncio.sleep(0.01)
    yield wrappers_pb2.StringValue(value="timed-out")


async def upload(request_iterator, call):
    total = 0
    async for item in request_iterator:
        total += len(item.value)
    return wrappers_pb2.StringValue(value=str(total))


def endpoints():
    sv, st = wrappers_pb2.StringValue, struct_pb2.Struct

    def ep(name, handler, request=sv, response=sv, **kinds):
        return endpoint(f"/{SERVICE}/{name}", request, response, handler, **kinds)

    return [
        ep("Echo", echo),
        ep("Describe", describe, response=st),
        ep("Sleep", sleep),
        ep("Count", count, request=st, server_streaming=True),
        ep("Gated", gated, server_streaming=True),
        ep("Upload", upload, client_streaming=True),
    ]
