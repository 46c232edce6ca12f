"""A hand-written sample service (no codegen) used by the gRPC-Web tests.

Messages are protobuf well-known types, so both the Python tests and the
browser page can use them without generated code.
"""

from __future__ import annotations

import asyncio
import threading

import grpc
from google.protobuf import struct_pb2, wrappers_pb2

SERVICE = "cello.test.Sample"

# Observations made by the behaviors, read by the tests.
STATE: dict = {"sleep_cancelled": None, "sleep_time_remaining": None}
STREAM_RELEASE = threading.Event()

_sv = dict(
    request_deserializer=wrappers_pb2.StringValue.FromString,
    response_serializer=wrappers_pb2.StringValue.SerializeToString,
)


async def echo(request: wrappers_pb2.StringValue, context) -> wrappers_pb2.StringValue:
    """Echoes the value; special values exercise errors and metadata."""
    md = dict(context.invocation_metadata())
    if "x-echo" in md:
        await context.send_initial_metadata((("x-echo-initial", md["x-echo"]),))
        context.set_trailing_metadata(
            (("x-echo-trailing", md["x-echo"]), ("x-trailer-bin", b"\x00\x01\xfe"))
        )
    value = request.value
    if value == "abort":
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: caf\u00e9 100%\nnext line")
    if value == "set-code":
        context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
        context.set_details("precondition failed")
        return wrappers_pb2.StringValue(value="ignored")
    if value == "boom":
        raise RuntimeError("secret internal detail: password=hunter2")
    if value.startswith("big:"):
        return wrappers_pb2.StringValue(value="x" * int(value[4:]))
    return wrappers_pb2.StringValue(value="echo: " + value)


async def describe(request: wrappers_pb2.StringValue, context) -> struct_pb2.Struct:
    """Reports what the servicer context saw, as a Struct."""
    out = struct_pb2.Struct()
    md = {}
    for key, value in context.invocation_metadata():
        md[key] = value.hex() if isinstance(value, bytes) else value
    out.update(
        {
            "metadata": md,
            "peer": context.peer(),
            "time_remaining": context.time_remaining()
            if context.time_remaining() is not None
            else -1,
            "cancelled": context.cancelled(),
            "done": context.done(),
            "request": request.value,
        }
    )
    return out


async def sleep(request: wrappers_pb2.StringValue, context) -> wrappers_pb2.StringValue:
    STATE["sleep_cancelled"] = None
    STATE["sleep_time_remaining"] = context.time_remaining()
    try:
        await asyncio.sleep(float(request.value))
    except asyncio.CancelledError:
        STATE["sleep_cancelled"] = context.cancelled()
        raise
    return wrappers_pb2.StringValue(value="slept")


async def count(request: struct_pb2.Struct, context):
    """Server streaming: yields n StringValues; optional 'fail_after' aborts mid-stream."""
    n = int(request["n"]) if "n" in request else 3
    fail_after = int(request["fail_after"]) if "fail_after" in request else -1
    for i in range(n):
        if i == fail_after:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE, f"stopped after {i}")
        yield wrappers_pb2.StringValue(value=f"item-{i}")
    context.set_trailing_metadata((("x-count", str(n)),))


async def gated(request: wrappers_pb2.StringValue, context):
    """Yields one item, then waits (up to 5 s) for the test to release the second one."""
    yield wrappers_pb2.StringValue(value="first")
    for _ in range(500):
        if STREAM_RELEASE.is_set():
            yield wrappers_pb2.StringValue(value="released")
            return
        await asyncio.sleep(0.01)
    yield wrappers_pb2.StringValue(value="timed-out")


async def upload(request_iterator, context):
    total = 0
    async for item in request_iterator:
        total += len(item.value)
    return wrappers_pb2.StringValue(value=str(total))


def handlers():
    return [
        grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Echo": grpc.unary_unary_rpc_method_handler(echo, **_sv),
                "Describe": grpc.unary_unary_rpc_method_handler(
                    describe,
                    request_deserializer=wrappers_pb2.StringValue.FromString,
                    response_serializer=struct_pb2.Struct.SerializeToString,
                ),
                "Sleep": grpc.unary_unary_rpc_method_handler(sleep, **_sv),
                "Count": grpc.unary_stream_rpc_method_handler(
                    count,
                    request_deserializer=struct_pb2.Struct.FromString,
                    response_serializer=wrappers_pb2.StringValue.SerializeToString,
                ),
                "Gated": grpc.unary_stream_rpc_method_handler(gated, **_sv),
                "Upload": grpc.stream_unary_rpc_method_handler(upload, **_sv),
            },
        )
    ]
