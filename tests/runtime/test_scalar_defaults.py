"""A message field's non-zero Python default holds for every client, not only Cello's.

Requests are sent as a Go, Node or Connect peer sends them: built with the generated `_pb2`
class, or as Connect JSON, leaving the defaulted fields out.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import grpc
import grpc.aio
import httpx
import pytest

from cello.grpc import GrpcConfig, GrpcServer, GrpcService, grpc_method


class Order(enum.IntEnum):
    ASCENDING = 0
    DESCENDING = 1


@dataclass
class ListReq:
    limit: int = 100
    name: str = "all"
    ratio: float = 0.5
    strict: bool = True
    order: Order = Order.DESCENDING
    mode: Literal["fast", "slow"] = "slow"
    tags: list[str] = field(default_factory=list)
    offset: int = 0  # the proto3 zero value: no presence needed


@dataclass
class ListReply:
    seen: str


class Lister(GrpcService):
    package = "celloscalar.v1"

    @grpc_method
    async def List(self, request: ListReq) -> ListReply:
        r = request
        return ListReply(f"{r.limit}|{r.name}|{r.ratio}|{r.strict}|{r.order.name}|{r.mode}")


ALL_DEFAULTS = "100|all|0.5|True|DESCENDING|slow"


@pytest.fixture
async def server() -> AsyncIterator[GrpcServer]:
    srv = GrpcServer("127.0.0.1", 0, GrpcConfig(enable_web=True, web_port=0))
    srv.register_service(Lister())
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop(0)


async def _grpc(server: GrpcServer, request: Any) -> str:
    (binding,) = server.bindings["celloscalar.v1.Lister"].methods
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = channel.unary_unary(
            "/celloscalar.v1.Lister/List",
            request_serializer=type(request).SerializeToString,
            response_deserializer=binding.response_type.FromString,  # type: ignore[attr-defined]
        )
        reply = await call(request)
    return str(reply.seen)


def _request_type(server: GrpcServer) -> Any:
    (binding,) = server.bindings["celloscalar.v1.Lister"].methods
    return binding.request_type


async def test_a_raw_pb2_request_leaving_defaulted_fields_out_gets_the_defaults(
    server: GrpcServer,
) -> None:
    assert await _grpc(server, _request_type(server)()) == ALL_DEFAULTS


async def test_a_zero_sent_explicitly_is_kept_not_replaced_by_the_default(
    server: GrpcServer,
) -> None:
    request = _request_type(server)(limit=0, name="", ratio=0.0, strict=False, order=0, mode="fast")
    assert await _grpc(server, request) == "0||0.0|False|ASCENDING|fast"


async def test_connect_json_without_the_fields_gets_the_defaults(server: GrpcServer) -> None:
    headers = {"content-type": "application/json", "connect-protocol-version": "1"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.web_port}") as client:
        empty = await client.post("/celloscalar.v1.Lister/List", json={}, headers=headers)
        some = await client.post(
            "/celloscalar.v1.Lister/List", json={"limit": "0", "name": "x"}, headers=headers
        )
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"seen": ALL_DEFAULTS}
    assert some.json() == {"seen": "0|x|0.5|True|DESCENDING|slow"}


def test_the_proto_marks_defaulted_scalars_optional(server: GrpcServer) -> None:
    fields = _request_type(server).DESCRIPTOR.fields_by_name
    presence = {name: f.has_presence for name, f in fields.items()}
    assert presence == {
        "limit": True,
        "name": True,
        "ratio": True,
        "strict": True,
        "order": True,
        "mode": True,
        "tags": False,
        "offset": False,
    }
