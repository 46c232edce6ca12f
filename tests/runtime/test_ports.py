"""Port sharing only when asked, and a drain that health checks can see."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cello.grpc import GrpcConfig, GrpcServer

from .conftest import start_server
from .services import EchoService


@pytest.mark.parametrize("web", [False, True], ids=["grpc-port", "web-port"])
async def test_a_second_server_on_a_port_in_use_is_an_error(stubs_dir: Path, web: bool) -> None:
    first = await start_server(stubs_dir, GrpcConfig(enable_web=True, web_port=0))
    try:
        config = GrpcConfig(enable_web=web, web_port=first.web_port or 0)
        second = GrpcServer(
            host="127.0.0.1", port=0 if web else first.port, config=config, stubs_dir=stubs_dir
        )
        second.register_service(EchoService())
        port = first.web_port if web else first.port
        with pytest.raises(RuntimeError, match=rf"{port}.*in use.*reuse_port=True"):
            await second.start()
        assert second.web_port is None
    finally:
        await first.stop(0)


async def test_reuse_port_lets_two_servers_share_both_ports(stubs_dir: Path) -> None:
    shared = GrpcConfig(enable_web=True, web_port=0, reuse_port=True)
    first = await start_server(stubs_dir, shared)
    second = None
    try:
        assert first.web_port is not None
        again = GrpcConfig(enable_web=True, web_port=first.web_port, reuse_port=True)
        second = GrpcServer(host="127.0.0.1", port=first.port, config=again, stubs_dir=stubs_dir)
        second.register_service(EchoService())
        await second.start()
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


async def test_a_check_during_the_drain_delay_sees_not_serving(stubs_dir: Path) -> None:
    server = await start_server(stubs_dir, GrpcConfig(drain_delay_secs=1.5))
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="rt.v1.EchoService")
        assert (await health.Check(request)).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.ensure_future(server.stop(1))
        await asyncio.sleep(0.2)
        assert (await health.Check(request)).status == health_pb2.HealthCheckResponse.NOT_SERVING
        overall = await health.Check(health_pb2.HealthCheckRequest())
        assert overall.status == health_pb2.HealthCheckResponse.NOT_SERVING
        # new rpcs are still served while the drain is announced
        echo = channel.unary_unary("/rt.v1.EchoService/Nothing")
        await echo(b"", timeout=5)
        await stopping
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health.Check(request, timeout=2)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
