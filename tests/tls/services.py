"""A service whose handlers look at the caller's TLS identity (module level for the stubs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cello.grpc import GrpcError, GrpcRequest, GrpcService, grpc_method


@dataclass
class Who:
    subject: str = ""
    common_name: str = ""
    dns_names: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    verified: bool = False


@dataclass
class Nothing:
    pass


@dataclass
class Count:
    upto: int
    pause_ms: int = 0


class VaultService(GrpcService):
    package = "tlstest.v1"

    @grpc_method
    async def Whoami(self, request: GrpcRequest[Nothing]) -> Who:
        identity = request.peer_identity
        if identity is None:
            return Who()
        return Who(
            identity.subject,
            identity.common_name or "",
            list(identity.dns_names),
            list(identity.uris),
            list(identity.ip_addresses),
            list(identity.emails),
            verified=True,
        )

    @grpc_method
    async def Secret(self, request: GrpcRequest[Nothing]) -> str:
        """Only alice may read it: authorisation by certificate identity."""
        identity = request.peer_identity
        if identity is None or identity.common_name != "alice":
            who = identity.subject if identity is not None else "an anonymous client"
            raise GrpcError(GrpcError.PERMISSION_DENIED, f"{who} may not read the secret")
        return "the eagle lands at noon"

    @grpc_method
    async def Echo(self, text: str) -> str:
        return text

    @grpc_method
    async def Counter(self, request: Count) -> AsyncIterator[int]:
        for i in range(request.upto):
            if request.pause_ms:
                await asyncio.sleep(request.pause_ms / 1000)
            yield i
