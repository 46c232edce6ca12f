"""The gRPC-Web port over HTTPS (and mTLS), called with httpx over real connections."""

from __future__ import annotations

import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cello import PeerIdentity, peer_identity_from_auth_context
from cello._security.identity import auth_context_from_asgi_scope
from cello._transports.uvicorn import serve_web
from cello.grpc import GrpcServer

from .conftest import Pki, start, tls_config

VAULT = "tlstest.v1.VaultService"


def client_context(pki: Pki, client: Any = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.cert_path))
    if client is not None:
        context.load_cert_chain(client.cert_path, client.key_path)
    return context


def frame(payload: bytes) -> bytes:
    return struct.pack(">BI", 0, len(payload)) + payload


def first_message(body: bytes) -> bytes:
    flags, length = struct.unpack_from(">BI", body)
    assert flags == 0, body
    return body[5 : 5 + length]


async def echo_over_web(server: GrpcServer, client: httpx.AsyncClient, text: str) -> str:
    (method,) = [m for m in server.bindings[VAULT].methods if m.name == "Echo"]
    response = await client.post(
        f"https://localhost:{server.web_port}/{VAULT}/Echo",
        content=frame(method.request_type(text=text).SerializeToString()),  # type: ignore[misc]
        headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
    )
    assert response.status_code == 200, response.text
    reply = method.response_type.FromString(first_message(response.content))  # type: ignore[attr-defined]
    return str(reply.value)


@pytest.fixture
async def web_tls(pki: Pki, tls_stubs: Path) -> AsyncIterator[GrpcServer]:
    server = await start(tls_config(pki), tls_stubs, enable_web=True, web_port=0)
    yield server
    await server.stop(0)


async def test_grpc_web_over_https(web_tls: GrpcServer, pki: Pki) -> None:
    async with httpx.AsyncClient(verify=client_context(pki)) as client:
        assert await echo_over_web(web_tls, client, "over https") == "over https"
    assert web_tls.listeners[1] == (
        f"gRPC-Web (TLS, this machine only) on https://127.0.0.1:{web_tls.web_port}"
    )


async def test_web_port_refuses_plaintext(web_tls: GrpcServer) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.TransportError):
            await client.post(
                f"http://127.0.0.1:{web_tls.web_port}/{VAULT}/Echo",
                content=frame(b""),
                headers={"content-type": "application/grpc-web+proto"},
            )


async def test_web_client_trusting_another_ca_is_refused(web_tls: GrpcServer, pki: Pki) -> None:
    other = ssl.create_default_context(cafile=str(pki.other_ca.cert_path))
    async with httpx.AsyncClient(verify=other) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await echo_over_web(web_tls, client, "x")


async def test_web_mtls_requires_a_client_certificate(pki: Pki, tls_stubs: Path) -> None:
    server = await start(tls_config(pki, mtls=True), tls_stubs, enable_web=True, web_port=0)
    try:
        async with httpx.AsyncClient(verify=client_context(pki, pki.alice)) as client:
            assert await echo_over_web(server, client, "mutual") == "mutual"
        for refused in (client_context(pki), client_context(pki, pki.mallory)):
            async with httpx.AsyncClient(verify=refused) as client:
                # refused in the handshake, or (TLS 1.3 behind Envoy) by the alert that
                # follows it, which httpx lets through as the ssl module's own error
                with pytest.raises((httpx.TransportError, ssl.SSLError)):
                    await echo_over_web(server, client, "x")
        assert server.listeners[0].startswith("gRPC (mTLS, this machine only")
        assert server.listeners[0].endswith(f") on 127.0.0.1:{server.port}")
    finally:
        await server.stop(0)


async def test_asgi_scope_carries_the_client_certificate(pki: Pki) -> None:
    """uvicorn does not expose the TLS connection; serve_web adds the ASGI `tls` extension."""
    seen: list[PeerIdentity | None] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(peer_identity_from_auth_context(auth_context_from_asgi_scope(scope)))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(pki.server.cert_path, pki.server.key_path)
    server_context.load_verify_locations(pki.ca.cert_path)
    server_context.verify_mode = ssl.CERT_OPTIONAL
    handle = await serve_web(app, "127.0.0.1", 0, ssl_context=server_context)
    try:
        assert handle.url == f"https://127.0.0.1:{handle.port}"
        for client in (pki.alice, None):
            async with httpx.AsyncClient(verify=client_context(pki, client)) as http:
                assert (await http.get(f"https://localhost:{handle.port}/")).status_code == 204
    finally:
        await handle.stop()
    alice, anonymous = seen
    assert alice is not None and alice.common_name == "alice"
    assert alice.uris == ("spiffe://cello.test/alice",)
    assert anonymous is None
