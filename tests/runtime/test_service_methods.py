"""A public `async def` without `@grpc_method` is not served: registering it warns (issue 21,
defect 2.6), unless it is `_private` or marked `@not_rpc`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import grpc
import grpc.aio
import pytest

import cello
import cello.grpc
from cello import CelloWarning, DefinitionError, GrpcServer
from cello.grpc import GrpcService, grpc_method, not_rpc
from cello.testing import serve

HERE = __name__


@dataclass
class Stock:
    sku: str
    qty: int = 0


class Forgetful(GrpcService):
    @grpc_method
    async def get(self, request: Stock) -> Stock:
        return Stock(request.sku, await self.lookup(request.sku))

    async def lookup(self, sku: str) -> int:  # meant as an rpc, decorator forgotten
        return len(sku)


class Careful(GrpcService):
    @grpc_method
    async def get(self, request: Stock) -> Stock:
        return Stock(request.sku, await self.lookup(request.sku) + await self._cache(request.sku))

    @not_rpc
    async def lookup(self, sku: str) -> int:
        return len(sku)

    async def _cache(self, sku: str) -> int:
        return 0

    def describe(self) -> str:  # a sync helper is common, and never an rpc on its own
        return "careful"


class Overriding(Careful):
    async def get(self, request: Stock) -> Stock:  # replaces the rpc; the decorator is lost
        return request


async def _status_of(address: str, path: str) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            await channel.unary_unary(path)(b"", timeout=10)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


async def test_a_public_async_method_without_grpc_method_warns_and_is_not_served() -> None:
    with pytest.warns(CelloWarning) as caught:
        manager = serve(Forgetful())
        srv = await manager.__aenter__()
    try:
        (warning,) = caught
        assert str(warning.message) == (
            f"{HERE}.Forgetful.lookup is a public `async def` without @grpc_method, so it is "
            "not served; add @grpc_method, or name it `_lookup`, or mark it @not_rpc"
        )
        (binding,) = srv.server.bindings.values()
        assert [m.name for m in binding.methods] == ["Get"]
        path = f"/{binding.full_name}"
        assert await _status_of(srv.address, f"{path}/Lookup") == grpc.StatusCode.UNIMPLEMENTED
        reply = await srv.channel.call("Forgetful", "Get", {"sku": "abc"})
        assert reply.data == {"sku": "abc", "qty": 3}
    finally:
        await manager.__aexit__(None, None, None)


async def test_private_and_not_rpc_helpers_are_served_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async with serve(Careful()) as srv:
            reply = await srv.channel.call("Careful", "Get", {"sku": "abcd"})
    assert reply.data == {"sku": "abcd", "qty": 4}


def test_overriding_an_rpc_without_the_decorator_warns() -> None:
    server = GrpcServer("127.0.0.1", 0)
    with pytest.warns(CelloWarning) as caught:
        server.register_service(Overriding())
    assert [str(w.message) for w in caught] == [
        f"{HERE}.Overriding.get overrides the rpc Careful.get without @grpc_method, so it is "
        "not served; add @grpc_method, or name it `_get`, or mark it @not_rpc"
    ]
    assert caught[0].filename == __file__  # points at the register_service() call


def test_grpc_method_and_not_rpc_together_are_refused() -> None:
    async def both(self: object) -> None: ...

    with pytest.raises(DefinitionError, match="both @grpc_method and @not_rpc; keep one"):
        not_rpc(grpc_method(both))
    with pytest.raises(DefinitionError, match="both @grpc_method and @not_rpc; keep one"):
        grpc_method(not_rpc(both))


def test_not_rpc_is_exported_from_cello_and_cello_grpc() -> None:
    assert cello.not_rpc is cello.grpc.not_rpc is not_rpc
    assert issubclass(cello.CelloWarning, UserWarning)
