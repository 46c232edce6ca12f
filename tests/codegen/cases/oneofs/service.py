"""Services with oneofs: numbered short-form members, declared members of one Python type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cello import Field, Int32, Int64
from cello.grpc import GrpcService, grpc_method

__cello_package__ = "oneofs.v1"


@dataclass
class Numbered:
    """The short form, numbered per member, as a published contract numbers them."""

    value: Annotated[str, Field(7)] | Annotated[int, Field(1)] | None = None
    tag: Annotated[str, Field(2)] = ""


@dataclass
class Value:
    """Declared members: two of one Python type, and chosen names."""

    big: Annotated[int | None, Int64, Field(1, oneof="kind")] = None
    label: Annotated[str, Field(2, json_name="labelText")] = ""
    small: Annotated[int | None, Int32, Field(3, oneof="kind")] = None
    text: Annotated[str | None, Field(4, oneof="kind")] = None
    other_text: Annotated[str | None, Field(5, oneof="kind")] = None


class OneofService(GrpcService):
    @grpc_method
    async def echo(self, request: Value) -> Value:
        return request

    @grpc_method
    async def echo_numbered(self, request: Numbered) -> Numbered:
        return request

    @grpc_method
    async def both_set(self, request: Value) -> Value:
        """Answers an object with two members of one oneof set: refused, not sent."""
        return Value(big=1, small=2)
