"""Exact-contract features: two files in one package, nested types, bare enum value names,
protobuf keywords as field names, comments (hostile ones too), file options, a declared rpc.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated

from cello import Doc, Int32, enum_options
from cello.grpc import GrpcService, grpc_method

__cello_file__ = "test.proto"  # the service; the types below ask for messages.proto
__cello_options__ = {
    "go_package": 'example.com/contracts"; option x = "y\\',  # quoted, not injected
    "cc_enable_arenas": True,
}


@enum_options(prefix=False)
class PayloadType(enum.IntEnum):
    """The type of payload that should be returned. */ } message Evil {"""

    __cello_file__ = "messages.proto"

    COMPRESSABLE = 0


@dataclass
class Money:
    __cello_file__ = "messages.proto"

    units: int = 0


# Inside `Envelope` the name `Money` means its nested class to a type checker, but the
# top-level one to `typing.get_type_hints`; the alias says the same to both.
TopMoney = Money


@dataclass
class Payload:
    """A block of data, to simply increase gRPC message size.

    Second paragraph.\r\n} // not the end\x00\x1b[31m
    """

    __cello_file__ = "messages.proto"

    type: Annotated[PayloadType, Doc("The type of data in body.")] = PayloadType.COMPRESSABLE
    body: Annotated[bytes, Doc("Primary contents of payload.\n*/ }\nservice X {")] = b""


@dataclass
class EchoStatus:
    __cello_file__ = "messages.proto"

    code: Annotated[int, Int32] = 0
    message: str = ""  # a protobuf keyword, and the name the contract uses


@dataclass
class Envelope:
    """Nested types: a message and an enum inside, and a nested name shadowing a top-level one."""

    __cello_file__ = "messages.proto"

    @enum_options(prefix=False)
    class Kind(enum.IntEnum):
        UNKNOWN = 0
        DIRECT = 1

    @dataclass
    class Money:
        """Shadows the top-level Money inside Envelope."""

        cents: int = 0

    @dataclass
    class Header:
        @dataclass
        class Entry:
            kind: Envelope.Kind  # the enclosing class's names are not in scope for a default
            key: str = ""

        entries: list[Envelope.Header.Entry] = field(default_factory=list)

    kind: Kind = Kind.UNKNOWN
    header: Header | None = None
    local: Envelope.Money | None = None
    total: TopMoney | None = None  # the top-level one: written `.contracts.v1.Money` in Envelope
    payload: Payload | None = None
    status: EchoStatus | None = None
    message: str = ""


class TestService(GrpcService):
    """A service in test.proto using the types of messages.proto.

    Ends the comment? */
    """

    package = "contracts.v1"

    @grpc_method
    async def UnaryCall(self, request: Envelope) -> Envelope:
        """One request followed by one response."""
        return request

    @grpc_method
    async def Nested(self, request: Envelope.Header) -> Envelope.Header.Entry:
        if request.entries:
            return request.entries[0]
        return Envelope.Header.Entry(Envelope.Kind.UNKNOWN)

    @grpc_method(implemented=False)
    async def UnimplementedCall(self, request: Payload) -> Payload:
        """A call that no server should implement."""
