"""The seed page's public API: envelopes, errors, config, service discovery, registration."""

from __future__ import annotations

import pytest

from cello import App, DefinitionError, GrpcConfig
from cello.grpc import GrpcError, GrpcRequest, GrpcResponse, GrpcServer, GrpcService, grpc_method

from .services import DictService, EchoService


def test_grpc_request_properties() -> None:
    request = GrpcRequest(
        service="UserService", method="GetUser", data={"id": 1}, metadata={"auth": "token123"}
    )
    assert (request.service, request.method, request.data, request.metadata) == (
        "UserService",
        "GetUser",
        {"id": 1},
        {"auth": "token123"},
    )
    assert request.time_remaining is None and request.peer is None and not request.cancelled


def test_grpc_response_constructors() -> None:
    ok = GrpcResponse.ok({"id": 1, "name": "Alice"})
    assert (ok.data, ok.status_code, ok.message, ok.is_ok) == (
        {"id": 1, "name": "Alice"},
        0,
        "OK",
        True,
    )
    err = GrpcResponse.error(code=5, message="User not found")
    assert (err.status_code, err.message, err.is_ok) == (5, "User not found", False)
    custom = GrpcResponse(
        data={"id": 1}, status_code=0, message="OK", metadata={"request-id": "abc123"}
    )
    assert custom.metadata == {"request-id": "abc123"}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("OK", 0),
        ("CANCELLED", 1),
        ("UNKNOWN", 2),
        ("INVALID_ARGUMENT", 3),
        ("DEADLINE_EXCEEDED", 4),
        ("NOT_FOUND", 5),
        ("ALREADY_EXISTS", 6),
        ("PERMISSION_DENIED", 7),
        ("RESOURCE_EXHAUSTED", 8),
        ("FAILED_PRECONDITION", 9),
        ("ABORTED", 10),
        ("OUT_OF_RANGE", 11),
        ("UNIMPLEMENTED", 12),
        ("INTERNAL", 13),
        ("UNAVAILABLE", 14),
        ("DATA_LOSS", 15),
        ("UNAUTHENTICATED", 16),
    ],
)
def test_grpc_error_has_all_standard_codes(name: str, code: int) -> None:
    import grpc

    assert getattr(GrpcError, name) == code == grpc.StatusCode[name].value[0]


def test_grpc_error_carries_code_and_message() -> None:
    error = GrpcError(code=GrpcError.NOT_FOUND, message="User not found")
    assert (error.code, error.message, error.status_name) == (5, "User not found", "NOT_FOUND")
    with pytest.raises(ValueError, match="0..16"):
        GrpcError(code=99)


def test_config_defaults_match_the_seed() -> None:
    config = GrpcConfig()
    assert (
        config.port,
        config.max_message_size,
        config.reflection,
        config.enable_web,
        config.keepalive_secs,
        config.concurrency_limit,
    ) == (50051, 4_194_304, False, False, 60, 100)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"port": -1},
        {"port": 70000},
        {"max_message_size": 0},
        {"keepalive_secs": 0},
        {"concurrency_limit": 0},
        {"port": "50051"},
    ],
    ids=["negative-port", "big-port", "zero-size", "zero-keepalive", "zero-limit", "str-port"],
)
def test_config_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="GrpcConfig"):
        GrpcConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        (
            {"transport": "h2", "enable_web": True, "web_port": 8081},
            ["transport='h2', web_port=8081", "on `port` (50051)", "drop web_port"],
        ),
        (
            {"transport": "h2", "keepalive_secs": 30},
            ["transport='h2', keepalive_secs=30", "no keepalive pings", "drop keepalive_secs"],
        ),
        (
            {"transport": "aio", "web_port": 8081},
            ["GrpcConfig(web_port=8081) without enable_web=True", "add enable_web=True"],
        ),
        (
            {"transport": "threads", "web_port": 9000},
            ["GrpcConfig(web_port=9000) without enable_web=True", "add enable_web=True"],
        ),
    ],
    ids=["h2-web-port", "h2-keepalive", "aio-web-port-unserved", "threads-web-port-unserved"],
)
def test_config_refuses_settings_the_transport_would_ignore(
    kwargs: dict[str, object], fragments: list[str]
) -> None:
    """`transport="h2"` used to drop a configured `web_port=8081` without a word."""
    with pytest.raises(ValueError) as caught:
        GrpcConfig(**kwargs)  # type: ignore[arg-type]
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"transport": "h2", "web_port": 0},  # any free port: met by the h2 port
        {"transport": "h2", "port": 9000, "web_port": 9000},
        {"transport": "h2", "keepalive_secs": 60},
        {"transport": "aio", "web_port": 0},
        {"transport": "aio", "enable_web": True, "web_port": 8081},
        {"transport": "threads", "enable_web": True, "web_port": 8081, "keepalive_secs": 30},
    ],
    ids=["h2-any-port", "h2-same-port", "h2-default-keepalive", "aio-any-port", "aio", "threads"],
)
def test_config_accepts_settings_the_transport_uses(kwargs: dict[str, object]) -> None:
    config = GrpcConfig(**kwargs)  # type: ignore[arg-type]
    assert all(getattr(config, name) == value for name, value in kwargs.items())


@pytest.mark.parametrize("transport", ["threads", "h2", "envoy"])
def test_interceptors_are_refused_where_grpc_aio_does_not_run_them(transport: str) -> None:
    """The one setting outside GrpcConfig: `interceptors=` on the server."""
    import grpc.aio

    class Interceptor(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
            return await continuation(details)

    config = GrpcConfig(transport=transport)
    with pytest.raises(DefinitionError) as caught:
        GrpcServer("127.0.0.1", 0, config, interceptors=[Interceptor()])
    assert f"transport={transport!r} cannot run: use middleware=" in str(caught.value)


class OrderService(GrpcService):
    name = "OrderService"

    @grpc_method
    async def CreateOrder(self, request):  # type: ignore[no-untyped-def]
        return GrpcResponse.ok({"order_id": "123"})

    @grpc_method
    async def GetOrder(self, request):  # type: ignore[no-untyped-def]
        return GrpcResponse.ok({"id": request.data.get("id"), "status": "pending"})


def test_get_methods_lists_rpcs_in_declaration_order() -> None:
    assert OrderService().get_methods() == [
        {"name": "CreateOrder", "stream": False, "client_stream": False},
        {"name": "GetOrder", "stream": False, "client_stream": False},
    ]
    kinds = {m["name"]: (m["stream"], m["client_stream"]) for m in EchoService().get_methods()}
    assert kinds["Count"] == (True, False) and kinds["Sum"] == (False, True)
    assert kinds["Shout"] == (True, True) and kinds["Add"] == (False, False)


def test_service_name_defaults_to_class_name() -> None:
    assert EchoService.name == "EchoService" and OrderService.name == "OrderService"


def test_register_service_errors() -> None:
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(EchoService())
    assert list(server.get_services()) == ["EchoService"]
    with pytest.raises(DefinitionError, match="already registered"):
        server.register_service(EchoService())
    with pytest.raises(DefinitionError, match="instance"):
        server.register_service(DictService)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="not a GrpcService"):
        server.register_service(object())  # type: ignore[arg-type]


def test_sync_client_streaming_method_is_refused_at_decoration() -> None:
    # a plain `def` is an rpc run in a thread (tests/runtime/test_sync_handlers.py), but a
    # request stream is read with `async for`
    with pytest.raises(DefinitionError, match="async def"):

        class Bad(GrpcService):
            @grpc_method(client_stream=True)
            def Upload(self, requests):  # type: ignore[no-untyped-def]
                return {}


def test_app_requires_enable_grpc() -> None:
    import asyncio

    with pytest.raises(RuntimeError, match="enable_grpc"):
        asyncio.run(App().serve())
