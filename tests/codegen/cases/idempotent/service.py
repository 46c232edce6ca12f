"""`@grpc_method(idempotent=True)`: `idempotency_level = NO_SIDE_EFFECTS` in the `.proto`."""

from __future__ import annotations

from dataclasses import dataclass

from cello.grpc import GrpcService, grpc_method


@dataclass
class Key:
    name: str = ""


@dataclass
class Entry:
    name: str = ""
    value: int = 0


class KeyValue(GrpcService):
    package = "idempotent.v1"

    @grpc_method(idempotent=True)
    async def Get(self, request: Key) -> Entry:
        """Read an entry; safe to retry and to cache."""
        return Entry(name=request.name)

    @grpc_method
    async def Put(self, request: Entry) -> Entry:
        return request
