"""grpc-go's `test/grpc_testing/test.proto` (package `grpc.testing`) written code-first.

Only the declarations matter for the contract; the handlers are a small working echo.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from cello import Int32, enum_options
from cello.grpc import GrpcService, grpc_method

__cello_file__ = "test/grpc_testing/test.proto"
__cello_options__ = {"go_package": "google.golang.org/grpc/test/grpc_testing"}


@dataclass
class Empty:
    pass


@enum_options(prefix=False)
class PayloadType(enum.IntEnum):
    """The type of payload that should be returned."""

    COMPRESSABLE = 0
    UNCOMPRESSABLE = 1
    RANDOM = 2


@dataclass
class Payload:
    """A block of data, to simply increase gRPC message size."""

    type: PayloadType = PayloadType.COMPRESSABLE
    body: bytes = b""


@dataclass
class SimpleRequest:
    """Unary request."""

    response_type: PayloadType = PayloadType.COMPRESSABLE
    response_size: Annotated[int, Int32] = 0
    payload: Payload | None = None
    fill_username: bool = False
    fill_oauth_scope: bool = False


@dataclass
class SimpleResponse:
    """Unary response, as configured by the request."""

    payload: Payload | None = None
    username: str = ""
    oauth_scope: str = ""


@dataclass
class StreamingInputCallRequest:
    """Client-streaming request."""

    payload: Payload | None = None


@dataclass
class StreamingInputCallResponse:
    """Client-streaming response."""

    aggregated_payload_size: Annotated[int, Int32] = 0


@dataclass
class ResponseParameters:
    """Configuration for a particular response."""

    size: Annotated[int, Int32] = 0
    interval_us: Annotated[int, Int32] = 0


@dataclass
class StreamingOutputCallRequest:
    """Server-streaming request."""

    response_type: PayloadType = PayloadType.COMPRESSABLE
    response_parameters: list[ResponseParameters] = field(default_factory=list)
    payload: Payload | None = None


@dataclass
class StreamingOutputCallResponse:
    """Server-streaming response, as configured by the request and parameters."""

    payload: Payload | None = None


def _payload(size: int) -> Payload:
    return Payload(PayloadType.COMPRESSABLE, bytes(size))


class TestService(GrpcService):
    """A simple service to test the various types of RPCs and experiment with
    performance with various types of payload."""

    package = "grpc.testing"

    @grpc_method
    async def EmptyCall(self, request: Empty) -> Empty:
        """One empty request followed by one empty response."""
        return Empty()

    @grpc_method
    async def UnaryCall(self, request: SimpleRequest) -> SimpleResponse:
        """One request followed by one response."""
        return SimpleResponse(payload=_payload(request.response_size))

    @grpc_method
    async def StreamingOutputCall(
        self, request: StreamingOutputCallRequest
    ) -> AsyncIterator[StreamingOutputCallResponse]:
        """One request followed by a sequence of responses (streamed download)."""
        for parameters in request.response_parameters:
            yield StreamingOutputCallResponse(_payload(parameters.size))

    @grpc_method
    async def StreamingInputCall(
        self, requests: AsyncIterator[StreamingInputCallRequest]
    ) -> StreamingInputCallResponse:
        """A sequence of requests followed by one response (streamed upload)."""
        total = 0
        async for request in requests:
            total += len(request.payload.body) if request.payload else 0
        return StreamingInputCallResponse(total)

    @grpc_method
    async def FullDuplexCall(
        self, requests: AsyncIterator[StreamingOutputCallRequest]
    ) -> AsyncIterator[StreamingOutputCallResponse]:
        """A sequence of requests with each request served by the server immediately."""
        async for request in requests:
            for parameters in request.response_parameters:
                yield StreamingOutputCallResponse(_payload(parameters.size))

    @grpc_method(implemented=False)
    async def HalfDuplexCall(
        self, requests: AsyncIterator[StreamingOutputCallRequest]
    ) -> AsyncIterator[StreamingOutputCallResponse]:
        """A sequence of requests followed by a sequence of responses."""
