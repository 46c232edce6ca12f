"""Definitions that try to smuggle text into generated code, or that name things oddly."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from cello.grpc import GrpcResponse, GrpcService, grpc_method


@dataclass
class Pwned:
    x: int = 0


Pwned.__module__ = "tests.codegen.names_cases\nprint('pwned')"


@dataclass
class Msg:
    x: int = 0


Msg.__qualname__ = "Ghost.Msg"  # does not lead back to the class


@dataclass
class Node:
    label: str
    child: Node


@dataclass
class Left:
    right: Right


@dataclass
class Right:
    left: Left


@dataclass
class Fine:
    children: list[Fine] = field(default_factory=list)
    by_name: dict[str, Fine] = field(default_factory=dict)
    next: Fine | None = None
    either: Fine | int | None = None


@dataclass
class Soft:
    type: str = ""
    match: int = 0
    case: bool = False
    _: str = ""


class Clash(enum.Enum):
    fooBar = 1
    FOO_BAR = 2


# a non-ASCII member name: Python normalizes `ﬁ` to `fi` in source, so make it directly
Unicode = enum.Enum("Unicode", {"café": 1}, module=__name__)


@dataclass
class google:  # noqa: N801 - a message named like the package of well-known types
    when: dt.datetime | None = None
    ttl: dt.timedelta | None = None


@dataclass
class Book:
    title: str = ""


class Typed(GrpcService):
    package = "names.v1"

    @grpc_method
    async def Get(self, request: Book) -> GrpcResponse[Book]:
        return GrpcResponse.ok(request)


class Shadow(GrpcService):
    package = "names.shadow.v1"

    @grpc_method
    async def Echo(self, request: google) -> google:
        return request


class SoftNames(GrpcService):
    package = "names.soft.v1"

    @grpc_method
    async def Echo(self, request: Soft) -> Soft:
        return request

    @grpc_method
    async def Params(self, type: str, match: int = 0) -> str:
        return f"{type}/{match}"
