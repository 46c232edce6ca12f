"""A service whose messages hold what proto3 JSON is strict about: bytes, nesting, Struct."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from cello.grpc import GrpcService, grpc_method


@dataclass
class Blob:
    name: str = ""
    data: bytes = b""
    parts: list[bytes] = field(default_factory=list)
    named: dict[str, bytes] = field(default_factory=dict)
    child: Blob | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class JsonProbe(GrpcService):
    package = "jsontest.v1"

    @grpc_method(idempotent=True)
    async def Echo(self, request: Blob) -> Blob:
        return request

    @grpc_method
    async def Twice(self, request: Blob) -> AsyncIterator[Blob]:
        yield request
        yield request
