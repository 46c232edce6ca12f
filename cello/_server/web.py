"""The server's ASGI app: the endpoints plus health (and, on `h2`, reflection) as endpoints.

On `aio`/`threads` the web port gets `Health/Check` only, for HTTP probes; grpcio serves
health and reflection on the gRPC port. On `h2` there is no grpcio server, so health
(`Check`, `Watch`) and reflection are endpoints of the one app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._call.context import CallContext
from .._call.endpoint import Endpoint, endpoint
from .._definitions.config import GrpcConfig
from .._errors import GrpcError
from .ports import HEALTH_SERVICE

if TYPE_CHECKING:
    from .._protocols import GrpcWebApp
    from .reflection import Health


def build_web_app(
    config: GrpcConfig,
    endpoints: list[Endpoint],
    extra: list[Endpoint],
    *,
    openapi: bytes | None = None,
) -> GrpcWebApp:
    """The ASGI app serving `endpoints` and `extra` with the server's web settings (and
    `openapi`, the OpenAPI document served at `/openapi.json`, if given)."""
    from .._protocols import GrpcWebApp

    return GrpcWebApp(
        [*endpoints, *extra],
        max_message_size=config.max_message_size,
        allowed_origins=config.web_origins,
        allowed_headers=config.web_allowed_headers,
        body_timeout=config.web_body_timeout,
        compression=config.compression,
        json_ignore_unknown_fields=config.web_json_ignore_unknown_fields,
        openapi=openapi,
    )


def h2_services(config: GrpcConfig, names: list[str]) -> tuple[list[Endpoint], Health | None]:
    """Health (`Check`, `Watch`) and reflection as endpoints, with the `Health` to drive."""
    from .reflection import Health, reflection_endpoints

    endpoints: list[Endpoint] = []
    health = None
    if config.health:
        health = Health(None)
        endpoints += health.endpoints()
    if config.reflection:
        endpoints += reflection_endpoints([*names, *([HEALTH_SERVICE] if health else [])])
    return endpoints, health


def web_health(
    config: GrpcConfig, known: Callable[[str], bool], health: Callable[[], Health | None]
) -> list[Endpoint]:
    """`grpc.health.v1.Health/Check` for the web port (HTTP probes), outside the middleware
    and the concurrency limit like the native one. `health()` is the gRPC port's `Health`
    once the server has started (None before: every known service is SERVING)."""
    if not config.health:
        return []
    from grpc_health.v1 import health_pb2

    from .reflection import unknown_service

    serving = health_pb2.HealthCheckResponse.SERVING

    async def check(request: Any, call: CallContext) -> Any:
        if not (request.service == "" or known(request.service)):
            raise GrpcError(GrpcError.NOT_FOUND, unknown_service(request.service))
        current = health()
        status = serving if current is None else current.status(request.service)
        return health_pb2.HealthCheckResponse(status=status)

    method = f"/{HEALTH_SERVICE}/Check"
    request, response = health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
    return [endpoint(method, request, response, check)]
