"""Port sharing only when asked, and a drain that health checks can see (issue 16 items 5, 9)."""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cello import GrpcConfig
from tests.runtime.ports import Port, make_server, start

from .raw import SERVICE

HELLO = f"{SERVICE}/Hello"


@pytest.mark.parametrize("web", [False, True], ids=["grpc-port", "web-port"])
async def test_a_second_server_on_a_port_in_use_is_an_error(web: bool) -> None:
    """grpcio turns SO_REUSEPORT on by default: the second server used to start silently
    and take half the connections."""
    if web and GrpcConfig().transport == "h2":
        pytest.skip("transport h2 serves gRPC-Web on the gRPC port: no web port of its own")
    first = await start()
    try:
        taken = first.web_port if web else first.port
        assert taken is not None
        second = make_server(web_port=taken) if web else make_server(port=taken)
        with pytest.raises(RuntimeError, match=rf"{taken}.*in use.*reuse_port=True"):
            await second.start()
        assert second.web_port is None
    finally:
        await first.stop(0)


async def test_reuse_port_lets_two_servers_share_both_ports() -> None:
    first = await start(reuse_port=True)
    second = None
    try:
        assert first.web_port is not None
        # transport h2 serves gRPC-Web on its one port: a web_port of its own is refused
        h2 = GrpcConfig().transport == "h2"
        web = {} if h2 else {"web_port": first.web_port}
        second = await start(port=first.port, reuse_port=True, **web)
        assert (second.port, second.web_port) == (first.port, first.web_port)
        await first.stop(0)
        # the second server alone answers now, on the shared port
        async with grpc.aio.insecure_channel(first.address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await first.stop(0)
        if second is not None:
            await second.stop(0)


async def test_a_check_during_the_drain_delay_sees_not_serving() -> None:
    """A new `Check` used to get UNAVAILABLE at once: only an open `Watch` saw the drain."""
    server = await start(drain_delay_secs=1.5, enable_web=False)
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=SERVICE[1:])
        assert (await health.Check(request)).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.ensure_future(server.stop(1))
        await asyncio.sleep(0.2)
        assert (await health.Check(request)).status == health_pb2.HealthCheckResponse.NOT_SERVING
        overall = await health.Check(health_pb2.HealthCheckRequest())
        assert overall.status == health_pb2.HealthCheckResponse.NOT_SERVING
        # new rpcs are still served while the drain is announced
        port = Port("grpc", server)
        served = await port.call(HELLO, port.types(HELLO)[0](text="x"))
        assert served.code == 0
        await stopping
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health.Check(request, timeout=2)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
