"""Server reflection (v1 and v1alpha) and health checking for a Cello server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from .._call.context import CallContext
from .._call.endpoint import Endpoint, endpoint
from .._errors import GrpcError

V1_SERVICE = "grpc.reflection.v1.ServerReflection"


def add_reflection(server: Any, service_names: Iterable[str], *, sync: bool = False) -> None:
    """Serve reflection under both names (with grpc's sync servicer on a sync server).

    grpcio-reflection only ships v1alpha; v1 is the same protocol with identical messages
    under a new package, and recent tools (buf curl, grpcurl) ask for v1 first. The
    package name never appears on the wire, so the v1alpha messages serve v1 as they are.
    """
    # grpcio-reflection loads only when reflection is on; health is on by default
    from grpc_reflection.v1alpha import reflection, reflection_pb2
    from grpc_reflection.v1alpha._async import ReflectionServicer

    _describe_v1(reflection_pb2.DESCRIPTOR)
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


def reflection_endpoints(service_names: Iterable[str]) -> list[Endpoint]:
    """Reflection v1 and v1alpha as endpoints (a bidi stream each), for transports with no
    grpc server: grpc_reflection's protocol logic, on Cello's call layer."""
    from grpc_reflection.v1alpha import reflection, reflection_pb2
    from grpc_reflection.v1alpha._async import ReflectionServicer

    _describe_v1(reflection_pb2.DESCRIPTOR)
    names = sorted({*service_names, reflection.SERVICE_NAME, V1_SERVICE})
    servicer = ReflectionServicer(names)

    def info(requests: Any, call: CallContext) -> Any:
        return servicer.ServerReflectionInfo(requests, None)

    request, response = (
        reflection_pb2.ServerReflectionRequest,
        reflection_pb2.ServerReflectionResponse,
    )
    return [
        endpoint(
            f"/{service}/ServerReflectionInfo",
            request,
            response,
            info,
            client_streaming=True,
            server_streaming=True,
        )
        for service in (reflection.SERVICE_NAME, V1_SERVICE)
    ]


class Health:
    """`grpc.health.v1.Health`, reporting each registered service.

    With a grpc `server` (grpc.aio, or grpc's sync server with `sync=True`), grpc_health's
    servicer is added to it; without one, `endpoints()` serves `Check` and `Watch` on any
    transport.
    """

    def __init__(self, server: Any, *, sync: bool = False) -> None:
        self.servicer: Any = None
        self._status: dict[str, int] = {}
        if server is not None:
            self.servicer = _SyncServicer(self._status) if sync else _AioServicer(self._status)
        self._sync = sync
        self._changed = asyncio.Event()
        if server is not None:
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
            elif self.servicer is not None:
                await self.servicer.set(name, status)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def endpoints(self) -> list[Endpoint]:
        """`Check` and `Watch`, outside any middleware and concurrency limit (probes must
        answer when the server is busy)."""
        service = "/grpc.health.v1.Health/"
        request, response = health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
        return [
            endpoint(service + "Check", request, response, self._check),
            endpoint(service + "Watch", request, response, self._watch, server_streaming=True),
        ]

    async def _check(self, request: Any, call: CallContext) -> Any:
        if request.service not in self._status:
            raise GrpcError(GrpcError.NOT_FOUND, unknown_service(request.service))
        return health_pb2.HealthCheckResponse(status=self._status[request.service])

    async def _watch(self, request: Any, call: CallContext) -> AsyncIterator[Any]:
        # as grpc_health's servicer: the status now (SERVICE_UNKNOWN for an unknown
        # service, not an error), then each change, until the client leaves
        last = None
        while True:
            changed = self._changed
            status = self.status(request.service)
            if status != last:
                last = status
                yield health_pb2.HealthCheckResponse(status=status)
            await changed.wait()


def unknown_service(service: str) -> str:
    """The message of the NOT_FOUND a health `Check` of an unserved service gets, on every
    transport and protocol."""
    return f"unknown service {service!r}"


class _AioServicer(HealthServicer):  # type: ignore[misc]
    """grpc_health's servicer (its `Watch`), with a `Check` that names the unknown service
    (grpc_health's says nothing), read from `Health`'s statuses as on `h2`."""

    def __init__(self, statuses: dict[str, int]) -> None:
        super().__init__()
        self._statuses = statuses

    async def Check(self, request: Any, context: Any) -> Any:
        status = self._statuses.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, unknown_service(request.service))
        return health_pb2.HealthCheckResponse(status=status)


class _SyncServicer(health.HealthServicer):  # type: ignore[misc]
    """The same for grpc's sync server (`transport="threads"`)."""

    def __init__(self, statuses: dict[str, int]) -> None:
        super().__init__()
        self._statuses = statuses

    def Check(self, request: Any, context: Any) -> Any:
        status = self._statuses.get(request.service)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, unknown_service(request.service))
        return health_pb2.HealthCheckResponse(status=status)


def _describe_v1(v1alpha: Any) -> None:
    """Put a v1 copy of the reflection protocol (`v1alpha`, the file descriptor of the
    v1alpha one) in the pool, so reflection can describe itself."""
    from google.protobuf import descriptor_pb2, descriptor_pool

    pool = descriptor_pool.Default()
    try:
        pool.FindServiceByName(V1_SERVICE)
        return
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto()
    v1alpha.CopyToProto(file)
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
