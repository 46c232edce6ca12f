"""A collector service in its own package, using messages of three other packages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from cello import Field, Int64
from cello.grpc import GrpcService, grpc_method

from .trace import ResourceSpans

__cello_package__ = "telemetry.collector.trace.v1"
__cello_file__ = "trace_service.proto"


@dataclass
class ExportTraceServiceRequest:
    resource_spans: Annotated[list[ResourceSpans], Field(1)] = field(default_factory=list)


@dataclass
class ExportTracePartialSuccess:
    rejected_spans: Annotated[int, Int64, Field(1)] = 0
    error_message: Annotated[str, Field(2)] = ""


@dataclass
class ExportTraceServiceResponse:
    partial_success: Annotated[ExportTracePartialSuccess | None, Field(1)] = None


class TraceService(GrpcService):
    """Receives spans: answers how many it rejected (spans without a name)."""

    received: list[ResourceSpans]

    def __init__(self) -> None:
        self.received = []

    @grpc_method
    async def export(self, request: ExportTraceServiceRequest) -> ExportTraceServiceResponse:
        self.received += request.resource_spans
        rejected = sum(
            1
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
            if not span.name
        )
        if not rejected:
            return ExportTraceServiceResponse()
        return ExportTraceServiceResponse(
            ExportTracePartialSuccess(rejected, f"{rejected} spans without a name")
        )
