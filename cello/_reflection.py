"""Server reflection (v1 and v1alpha) and health checking for a Cello server."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

V1_SERVICE = "grpc.reflection.v1.ServerReflection"


def add_reflection(server: Any, service_names: Iterable[str], *, sync: bool = False) -> None:
    """Serve reflection under both names (with grpc's sync servicer on a sync server).

    grpcio-reflection only ships v1alpha; v1 is the same protocol with identical messages
    under a new package, and recent tools (buf curl, grpcurl) ask for v1 first. The
    package name never appears on the wire, so the v1alpha messages serve v1 as they are.
    """
    _describe_v1()
    names = sorted({*service_names, reflection.SERVICE_NAME, V1_SERVICE})
    servicer = reflection.ReflectionServicer(names) if sync else ReflectionServicer(names)
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

    def __init__(self, server: Any, *, sync: bool = False) -> None:
        self.servicer: Any = health.HealthServicer() if sync else HealthServicer()
        self._sync = sync
        self._status: dict[str, int] = {}
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    def status(self, service_name: str) -> int:
        """The `HealthCheckResponse.ServingStatus` last set for `service_name`."""
        return int(self._status.get(service_name, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN))

    async def set_all(self, service_names: Iterable[str], serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *service_names):
            self._status[name] = status
            if self._sync:
                self.servicer.set(name, status)
            else:
                await self.servicer.set(name, status)


def _describe_v1() -> None:
    """Put a v1 copy of the reflection protocol in the pool, so reflection can describe itself."""
    pool = descriptor_pool.Default()
    try:
        pool.FindServiceByName(V1_SERVICE)
        return
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file)
    old, new = file.package, V1_SERVICE.rsplit(".", 1)[0]
    file.name = "grpc/reflection/v1/reflection.proto"
    file.package = new
    for message in file.message_type:
        for field in message.field:
            if field.HasField("type_name"):  # proto2: assigning "" would mark it as set
                field.type_name = field.type_name.replace(f".{old}.", f".{new}.")
    for method in file.service[0].method:
        method.input_type = method.input_type.replace(f".{old}.", f".{new}.")
        method.output_type = method.output_type.replace(f".{old}.", f".{new}.")
    file.ClearField("options")
    pool.Add(file)
