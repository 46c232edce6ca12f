"""Server reflection (v1 and v1alpha) and health checking for a Cello server."""

from __future__ import annotations

from collections.abc import Iterable

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

V1_SERVICE = "grpc.reflection.v1.ServerReflection"


def add_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    """Serve reflection under both names.

    grpcio-reflection only ships v1alpha; v1 is the same protocol with identical messages
    under a new package, and recent tools (buf curl, grpcurl) ask for v1 first. The
    package name never appears on the wire, so the v1alpha messages serve v1 as they are.
    """
    names = sorted({*service_names, reflection.SERVICE_NAME, V1_SERVICE})
    servicer = ReflectionServicer(names)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    for service in (reflection.SERVICE_NAME, V1_SERVICE):
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),)
        )


class Health:
    """`grpc.health.v1.Health`, reporting each registered service."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self.servicer = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    async def set_all(self, service_names: Iterable[str], serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *service_names):
            await self.servicer.set(name, status)
