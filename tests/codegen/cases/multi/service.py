"""Two packages from one module, and a message shared by two services of one package."""

from __future__ import annotations

from dataclasses import dataclass

from cello.grpc import GrpcService, grpc_method


@dataclass
class Money:
    currency: str
    units: int = 0


class Billing(GrpcService):
    package = "acme.billing.v1"

    @grpc_method
    async def Charge(self, request: Money) -> Money:
        return request


class Refunds(GrpcService):
    package = "acme.billing.v1"

    @grpc_method
    async def Refund(self, request: Money) -> Money:
        return request


class Audit(GrpcService):
    package = "acme.audit.v1"
    name = "AuditLog"

    @grpc_method
    async def Record(self, request: Money) -> Money:
        return request
