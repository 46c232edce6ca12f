"""A service for the standalone client's TLS and error-detail tests (module level for cello-gen)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from google.rpc import error_details_pb2

from cello.grpc import GrpcError, GrpcService, grpc_method


@dataclass
class Note:
    text: str = ""


def refusal() -> GrpcError:
    """INVALID_ARGUMENT with two `google.rpc` details, as a validating handler sends it."""
    violation = error_details_pb2.BadRequest.FieldViolation(field="text", description="too short")
    info = error_details_pb2.ErrorInfo(
        reason="NOTE_TOO_SHORT", domain="notes.example", metadata={"min": "3"}
    )
    return GrpcError(
        GrpcError.INVALID_ARGUMENT,
        "bad note",
        details=[error_details_pb2.BadRequest(field_violations=[violation]), info],
    )


class NoteService(GrpcService):
    package = "clienttest.v1"

    @grpc_method
    async def Echo(self, request: Note) -> Note:
        return request

    @grpc_method
    async def Refuse(self, request: Note) -> Note:
        raise refusal()

    @grpc_method
    async def RefuseLater(self, request: Note) -> AsyncIterator[Note]:
        """One message, then the refusal: details must survive a stream's trailers too."""
        yield request
        raise refusal()
