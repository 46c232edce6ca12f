"""A TestService for the four interop compression cases, as grpc's interop test
descriptions (doc/interop-test-descriptions.md) define them.

Code-first, in a package of its own (`cello.interop.v1`): `grpc.testing` is taken in the
test process by the contract case of tests/codegen/cases/grpc_testing, whose older
messages lack `expect_compressed` and `response_compressed`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from cello import GrpcError, Int32, current_call
from cello.grpc import GrpcService, grpc_method


@dataclass
class BoolValue:
    value: bool = False


@dataclass
class Payload:
    body: bytes = b""


@dataclass
class SimpleRequest:
    response_size: Annotated[int, Int32] = 0
    payload: Payload | None = None
    response_compressed: BoolValue | None = None
    expect_compressed: BoolValue | None = None


@dataclass
class SimpleResponse:
    payload: Payload | None = None


@dataclass
class StreamingInputCallRequest:
    payload: Payload | None = None
    expect_compressed: BoolValue | None = None


@dataclass
class StreamingInputCallResponse:
    aggregated_payload_size: Annotated[int, Int32] = 0


@dataclass
class ResponseParameters:
    size: Annotated[int, Int32] = 0
    compressed: BoolValue | None = None


@dataclass
class StreamingOutputCallRequest:
    response_parameters: list[ResponseParameters] = field(default_factory=list)


@dataclass
class StreamingOutputCallResponse:
    payload: Payload | None = None


def _check_compressed(expect: BoolValue | None) -> None:
    """INVALID_ARGUMENT when the client announced a compressed message that was not (the
    case's feature probe); a transport that cannot tell (None) is not checked."""
    arrived = current_call().request_compressed
    if expect is not None and expect.value and arrived is False:
        raise GrpcError(GrpcError.INVALID_ARGUMENT, "expected a compressed request message")


class TestService(GrpcService):
    package = "cello.interop.v1"

    @grpc_method
    async def UnaryCall(self, request: SimpleRequest) -> SimpleResponse:
        _check_compressed(request.expect_compressed)
        if request.response_compressed is not None and request.response_compressed.value:
            current_call().set_compression("gzip")
        return SimpleResponse(Payload(bytes(request.response_size)))

    @grpc_method
    async def StreamingInputCall(
        self, requests: AsyncIterator[StreamingInputCallRequest]
    ) -> StreamingInputCallResponse:
        total = 0
        async for request in requests:
            _check_compressed(request.expect_compressed)
            total += len(request.payload.body) if request.payload else 0
        return StreamingInputCallResponse(total)

    @grpc_method
    async def StreamingOutputCall(
        self, request: StreamingOutputCallRequest
    ) -> AsyncIterator[StreamingOutputCallResponse]:
        call = current_call()
        call.set_compression("gzip")
        for parameters in request.response_parameters:
            if parameters.compressed is None or not parameters.compressed.value:
                call.disable_next_message_compression()
            yield StreamingOutputCallResponse(Payload(bytes(parameters.size)))
