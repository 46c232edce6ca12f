"""Definitions Cello must refuse, each with a clear message (used by test_errors.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Dict  # noqa: UP035  (a bare `Dict` is refused)

from cello import Field, Int32
from cello.grpc import GrpcService, grpc_method


@dataclass
class WithSet:
    tags: set[str]


@dataclass
class WithFloatKey:
    scores: dict[float, str]


@dataclass
class WithNestedList:
    grid: list[list[int]]


@dataclass
class WithBadMarker:
    name: Annotated[str, Int32]


@dataclass
class WithDuplicateNumbers:
    a: Annotated[int, Field(3)]
    b: Annotated[int, Field(3)]


@dataclass
class WithReservedNumber:
    a: Annotated[int, Field(19500)]


@dataclass
class WithOptionalList:
    items: list[int] | None


@dataclass
class WithClashingNames:
    userId: str  # noqa: N815
    user_id: str


@dataclass
class WithNoInit:
    a: int
    b: int = field(init=False, default=0)


@dataclass
class GetUserRequest:
    id: int


@dataclass
class WithBareList:
    tags: list  # type: ignore[type-arg]


@dataclass
class WithBareDict:
    scores: Dict  # type: ignore[type-arg]  # noqa: UP006


class NotADataclass:
    sku: str
    qty: int


@dataclass
class WithPlainClassField:
    item: NotADataclass


class PlainRequest(GrpcService):
    package = "bad.v1"

    @grpc_method
    async def Put(self, item: NotADataclass) -> None: ...


class PlainResponse(GrpcService):
    package = "bad.v1"

    @grpc_method
    async def Get(self) -> NotADataclass: ...


def service_using(message: type, package: str = "bad.v1") -> type[GrpcService]:
    """A one-method service whose request is `message`."""

    async def Call(self: object, request: message) -> message:  # type: ignore[valid-type]
        return request

    Call.__annotations__ = {"request": message, "return": message}
    namespace = {"package": package, "Call": grpc_method(Call), "__module__": __name__}
    return type(f"{message.__name__}Service", (GrpcService,), namespace)


class NoMethods(GrpcService):
    package = "bad.v1"


class SynthClash(GrpcService):
    package = "bad.v1"

    @grpc_method
    async def get_user(self, id: int) -> int:
        return id

    @grpc_method
    async def Other(self, request: GetUserRequest) -> GetUserRequest:
        return request


class StreamConflict(GrpcService):
    package = "bad.v1"

    @grpc_method(stream=False)
    async def Watch(self, request: GetUserRequest) -> AsyncIterator[GetUserRequest]:
        yield request


class UntypedParam(GrpcService):
    package = "bad.v1"

    @grpc_method
    async def Add(self, a: int, b) -> int:  # type: ignore[no-untyped-def]
        return a + b


class BadPackage(GrpcService):
    package = "Bad-Package"

    @grpc_method
    async def Call(self, request):  # type: ignore[no-untyped-def]
        return {}


class BadRpcName(GrpcService):
    package = "bad.v1"

    @grpc_method(name="Get User")
    async def call(self, request):  # type: ignore[no-untyped-def]
        return {}


class InjectedName(GrpcService):
    package = "bad.v1"
    name = "Svc { } service Evil { rpc X(Y) returns (Z); } //"

    @grpc_method
    async def Call(self, request):  # type: ignore[no-untyped-def]
        return {}


class TwoRpcsOneName(GrpcService):
    package = "bad.v1"

    @grpc_method
    async def get_user(self, request):  # type: ignore[no-untyped-def]
        return {}

    @grpc_method(name="GetUser")
    async def fetch(self, request):  # type: ignore[no-untyped-def]
        return {}
