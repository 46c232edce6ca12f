"""`grpc.health.v1` written code-first: the descriptor equals grpcio-health-checking's."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cello import enum_options
from cello.grpc import GrpcError, GrpcService, grpc_method

# the name grpcio-health-checking's copy was compiled under (grpc-proto has grpc/health/v1/)
__cello_file__ = "grpc_health/v1/health.proto"
__cello_options__ = {
    "csharp_namespace": "Grpc.Health.V1",
    "go_package": "google.golang.org/grpc/health/grpc_health_v1",
    "java_multiple_files": True,
    "java_outer_classname": "HealthProto",
    "java_package": "io.grpc.health.v1",
    "objc_class_prefix": "GrpcHealthV1",
}


@dataclass
class HealthCheckRequest:
    service: str = ""


@dataclass
class HealthCheckResponse:
    @enum_options(prefix=False)
    class ServingStatus(enum.IntEnum):
        UNKNOWN = 0
        SERVING = 1
        NOT_SERVING = 2
        SERVICE_UNKNOWN = 3  # Used only by the Watch method.

    status: ServingStatus = ServingStatus.UNKNOWN


@dataclass
class HealthListRequest:
    pass


@dataclass
class HealthListResponse:
    """The statuses of all known services."""

    statuses: dict[str, HealthCheckResponse] = field(default_factory=dict)


class Health(GrpcService):
    """Health is gRPC's mechanism for checking whether a server is able to handle RPCs."""

    package = "grpc.health.v1"

    def __init__(self, statuses: dict[str, HealthCheckResponse.ServingStatus] | None = None):
        self.statuses = dict(statuses or {})

    @grpc_method
    async def Check(self, request: HealthCheckRequest) -> HealthCheckResponse:
        """Check gets the health of the specified service.

        If the requested service is unknown, the call will fail with status NOT_FOUND.
        """
        if request.service not in self.statuses:
            raise GrpcError(GrpcError.NOT_FOUND, f"unknown service {request.service!r}")
        return HealthCheckResponse(self.statuses[request.service])

    @grpc_method(implemented=False)
    async def List(self, request: HealthListRequest) -> HealthListResponse:
        """List provides a non-atomic snapshot of the health of all the known services."""

    @grpc_method
    async def Watch(self, request: HealthCheckRequest) -> AsyncIterator[HealthCheckResponse]:
        """Performs a watch for the serving status of the requested service."""
        unknown = HealthCheckResponse.ServingStatus.SERVICE_UNKNOWN
        yield HealthCheckResponse(self.statuses.get(request.service, unknown))
