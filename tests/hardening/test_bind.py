"""Loopback by default, and the startup lines name the real bind address (issue 16 item 7)."""

from __future__ import annotations

import asyncio
import socket

import grpc
import grpc.aio
import pytest

from cello import App, GrpcConfig
from cello.grpc import GrpcServer
from tests.tls.services import VaultService


def test_default_host_is_the_loopback() -> None:
    assert GrpcConfig().host == "127.0.0.1"
    assert GrpcServer().host == "127.0.0.1"


async def health(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        await check(b"", timeout=5)


@pytest.mark.parametrize(
    ("host", "bound", "reach"),
    [
        ("127.0.0.1", "127.0.0.1", "this machine only"),
        ("localhost", "localhost", "this machine only"),  # the seed page's spelling
        ("[::]", "[::]", "all interfaces"),
        ("0.0.0.0", "0.0.0.0", "all interfaces"),
    ],
    ids=["loopback", "localhost", "ipv6-wildcard", "ipv4-wildcard"],
)
async def test_endpoints_name_the_real_bind_address(host: str, bound: str, reach: str) -> None:
    server = GrpcServer(host=host, port=0)
    server.register_service(VaultService())
    await server.start()
    try:
        assert server.bind_address == f"{bound}:{server.port}"
        assert server.listeners == [f"gRPC (plaintext, {reach}) on {bound}:{server.port}"]
        await health(server.address)  # `address` stays connectable
    finally:
        await server.stop(0)


def other_addresses() -> list[str]:
    """Addresses of this machine other than 127.0.0.1: 127.0.0.2 (all of 127/8 is the
    loopback on Linux) and the address of the default route, if there is one."""
    found = ["127.0.0.2"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.255", 9))  # no packet is sent: this only picks a route
            found.append(probe.getsockname()[0])
        except OSError:
            pass
    return sorted({a for a in found if a != "127.0.0.1"})


def reachable(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("host", "open_elsewhere"),
    [(None, False), ("0.0.0.0", True)],
    ids=["default-loopback-only", "explicit-all-interfaces"],
)
async def test_default_server_is_not_reachable_on_other_addresses(
    host: str | None, open_elsewhere: bool
) -> None:
    server = GrpcServer(host=host, port=0)
    server.register_service(VaultService())
    await server.start()
    try:
        for address in other_addresses():
            assert reachable(address, server.port) is open_elsewhere, address
        await health(server.address)
    finally:
        await server.stop(0)


async def test_app_prints_bind_address_and_plaintext(capsys: pytest.CaptureFixture[str]) -> None:
    app = App()
    app.enable_grpc(GrpcConfig(port=0))
    app.register_service(VaultService())
    stop = asyncio.Event()
    serving = asyncio.create_task(app.serve(stop=stop))
    try:
        for _ in range(1000):
            if "cello: serving" in (out := capsys.readouterr().out):
                break
            await asyncio.sleep(0.01)
        assert app.grpc_server is not None
        assert out.splitlines()[0] == (
            "cello: serving gRPC (plaintext, this machine only) on "
            f"127.0.0.1:{app.grpc_server.port}"
        )
    finally:
        stop.set()
        await asyncio.wait_for(serving, 10)
