"""The gRPC port over TLS and mTLS, called over real connections on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import grpc.aio
import pytest

from cello.grpc import ClientTls, GrpcChannel, GrpcError, GrpcServer, SyncGrpcChannel

from .conftest import Pki, start, tls_config
from .services import Count, Nothing

VAULT = "tlstest.v1.VaultService"


def alice(pki: Pki) -> ClientTls:
    return ClientTls(
        ca=pki.ca.cert_path, cert_chain=pki.alice.cert_path, private_key=pki.alice.key_path
    )


async def test_tls_unary_and_server_stream(tls_server: GrpcServer, pki: Pki) -> None:
    async with await GrpcChannel.connect(
        tls_server.address, tls=ClientTls(ca=pki.ca.cert_path), raise_on_error=True
    ) as channel:
        reply = await channel.call(VAULT, "Echo", {"text": "over tls"})
        assert reply.data == {"value": "over tls"}
        numbers = [m["value"] async for m in channel.stream(VAULT, "Counter", {"upto": 5})]
        assert [int(n) for n in numbers] == [0, 1, 2, 3, 4]
        # no client certificate on a TLS-only port: the call has no identity
        assert (await channel.call(VAULT, "Whoami", {})).data["verified"] is False


async def test_sync_channel_over_mtls(mtls_server: GrpcServer, pki: Pki) -> None:
    def blocking() -> object:
        with SyncGrpcChannel.connect(
            mtls_server.address, tls=alice(pki), raise_on_error=True
        ) as channel:
            return channel.call(VAULT, "Secret", {}).data

    # off the loop that serves the server, which a blocking call would stall
    assert await asyncio.to_thread(blocking) == {"value": "the eagle lands at noon"}


async def test_typed_client_connect_owns_its_channel(
    tls_server: GrpcServer, pki: Pki, tls_stubs: Path
) -> None:
    from tlstest.v1.tlstest_cello import VaultServiceClient  # type: ignore[import-not-found]

    async with await VaultServiceClient.connect(
        tls_server.address, tls=ClientTls(ca=pki.ca.cert_path.read_bytes())
    ) as client:
        assert await client.Echo(text="typed") == "typed"
        assert [n async for n in client.Counter(Count(upto=3))] == [0, 1, 2]
    assert client.channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN


async def test_typed_client_connect_in_async_with_with_credentials_or_options(
    mtls_server: GrpcServer, pki: Pki, tls_stubs: Path
) -> None:
    from tlstest.v1.tlstest_cello import VaultServiceClient

    async with VaultServiceClient.connect(mtls_server.address, tls=alice(pki)) as client:
        assert await client.Secret(Nothing()) == "the eagle lands at noon"
    assert client.channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN
    # grpc credentials made by hand, and channel options that replace Cello's own
    credentials = grpc.ssl_channel_credentials(
        pki.ca.cert_pem, pki.alice.key_pem, pki.alice.cert_pem
    )
    small = [("grpc.max_receive_message_length", 64)]
    async with await VaultServiceClient.connect(
        mtls_server.address, credentials=credentials, options=small
    ) as client:
        assert await client.Echo(text="short") == "short"
        with pytest.raises(GrpcError) as info:
            await client.Echo(text="x" * 100)
        assert info.value.code == GrpcError.RESOURCE_EXHAUSTED


async def test_typed_client_connect_misused_says_how(
    mtls_server: GrpcServer, pki: Pki, tls_stubs: Path
) -> None:
    from tlstest.v1.tlstest_cello import VaultServiceClient

    pending = VaultServiceClient.connect(mtls_server.address, tls=alice(pki))
    with pytest.raises(AttributeError) as info:
        pending.Secret  # noqa: B018  (a forgotten await)
    assert str(info.value) == (
        "VaultServiceClient.connect(...) has not connected yet, so it has no 'Secret'; "
        "write `client = await VaultServiceClient.connect(...)` or "
        "`async with VaultServiceClient.connect(...) as client:`"
    )
    credentials = grpc.ssl_channel_credentials(pki.ca.cert_pem)
    with pytest.raises(TypeError, match=r"pass tls= or credentials=, not both"):
        await VaultServiceClient.connect(
            mtls_server.address, tls=alice(pki), credentials=credentials
        )


async def test_existing_secure_channel_works_with_typed_client(
    mtls_server: GrpcServer, pki: Pki, tls_stubs: Path
) -> None:
    from tlstest.v1.tlstest_cello import VaultServiceClient

    credentials = grpc.ssl_channel_credentials(
        pki.ca.cert_pem, pki.alice.key_pem, pki.alice.cert_pem
    )
    async with grpc.aio.secure_channel(mtls_server.address, credentials) as channel:
        client = VaultServiceClient(channel)
        assert await client.Secret(Nothing()) == "the eagle lands at noon"
        await client.close()  # not its channel: it stays open
        assert await client.Echo(text="still open") == "still open"


async def test_mtls_identity_reaches_the_handler(mtls_server: GrpcServer, pki: Pki) -> None:
    async with await GrpcChannel.connect(mtls_server.address, tls=alice(pki)) as channel:
        who = (await channel.call(VAULT, "Whoami", {})).data
    assert who == {
        "subject": "CN=alice,O=Cello tests",
        "common_name": "alice",
        "dns_names": ["alice.example"],
        "uris": ["spiffe://cello.test/alice"],
        "ip_addresses": ["10.0.0.7"],
        "emails": ["alice@example.org"],
        "verified": True,
    }


async def test_authorisation_by_identity(mtls_server: GrpcServer, pki: Pki) -> None:
    async with await GrpcChannel.connect(mtls_server.address, tls=alice(pki)) as channel:
        assert (await channel.call(VAULT, "Secret", {})).data == {
            "value": "the eagle lands at noon"
        }
    bob = ClientTls(ca=pki.ca.cert_path, cert_chain=pki.bob.cert_path, private_key=pki.bob.key_path)
    async with await GrpcChannel.connect(mtls_server.address, tls=bob) as channel:
        denied = await channel.call(VAULT, "Secret", {})
    assert (denied.status_code, denied.message) == (
        GrpcError.PERMISSION_DENIED,
        "CN=bob,O=Cello tests may not read the secret",
    )


async def test_mtls_client_without_certificate_is_refused_with_the_fix(
    mtls_server: GrpcServer, pki: Pki
) -> None:
    with pytest.raises(GrpcError) as info:
        await GrpcChannel.connect(
            mtls_server.address, tls=ClientTls(ca=pki.ca.cert_path), timeout=60
        )
    assert info.value.code == GrpcError.UNAVAILABLE
    # refused as soon as the handshake fails ("cannot connect"), not when the timeout ends
    assert info.value.message.startswith(f"cannot connect to {mtls_server.address}: ")
    assert "requires a client certificate (mTLS)" in info.value.message
    assert "ClientTls(cert_chain=" in info.value.message


async def test_mtls_client_certificate_from_another_ca_is_refused(
    mtls_server: GrpcServer, pki: Pki
) -> None:
    mallory = ClientTls(
        ca=pki.ca.cert_path, cert_chain=pki.mallory.cert_path, private_key=pki.mallory.key_path
    )
    with pytest.raises(GrpcError) as info:
        await GrpcChannel.connect(mtls_server.address, tls=mallory, timeout=5)
    assert info.value.code == GrpcError.UNAVAILABLE
    # and a raw grpc call with that certificate never reaches the handler
    credentials = grpc.ssl_channel_credentials(
        pki.ca.cert_pem, pki.mallory.key_pem, pki.mallory.cert_pem
    )
    async with grpc.aio.secure_channel(mtls_server.address, credentials) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raw:
            await channel.unary_unary(f"/{VAULT}/Secret")(b"", timeout=5)
    assert raw.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_client_trusting_another_ca_gets_the_handshake_reason(
    tls_server: GrpcServer, pki: Pki
) -> None:
    with pytest.raises(GrpcError) as info:
        await GrpcChannel.connect(tls_server.address, tls=ClientTls(ca=pki.other_ca.cert_path))
    assert info.value.code == GrpcError.UNAVAILABLE
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message  # grpc's handshake reason
    assert "ClientTls(ca=" in info.value.message  # and the fix


async def test_plaintext_client_against_tls_port_fails_cleanly(
    tls_server: GrpcServer, pki: Pki
) -> None:
    async with grpc.aio.insecure_channel(tls_server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raw:
            await channel.unary_unary(f"/{VAULT}/Echo")(b"", timeout=5)
    assert raw.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(GrpcError) as info:
        await GrpcChannel.connect(tls_server.address, timeout=1)
    assert info.value.code == GrpcError.UNAVAILABLE
    assert "connect with tls=ClientTls(...)" in info.value.message
    # the server is unharmed
    async with await GrpcChannel.connect(
        tls_server.address, tls=ClientTls(ca=pki.ca.cert_path)
    ) as channel:
        assert (await channel.call(VAULT, "Echo", {"text": "ok"})).data == {"value": "ok"}


async def test_tls_client_against_plaintext_port_says_so(pki: Pki, tls_stubs: Path) -> None:
    server = await start(None, tls_stubs)
    try:
        with pytest.raises(GrpcError) as info:
            await GrpcChannel.connect(server.address, tls=ClientTls(ca=pki.ca.cert_path))
        assert info.value.code == GrpcError.UNAVAILABLE
        assert "does not speak TLS on this port; connect without tls=" in info.value.message
    finally:
        await server.stop(0)


async def test_system_trust_store_by_default(
    tls_server: GrpcServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca.cert_path))  # OpenSSL's own override
    async with await GrpcChannel.connect(tls_server.address, tls=ClientTls()) as channel:
        assert (await channel.call(VAULT, "Echo", {"text": "system"})).data == {"value": "system"}


async def test_server_name_override(pki: Pki, tls_stubs: Path) -> None:
    from .certs import issue

    named = issue(
        pki.ca, pki.folder / "named", "named", cn="vault.internal", dns=("vault.internal",)
    )
    config = tls_config(pki)
    config = type(config)(cert_chain=named.cert_path, private_key=named.key_path)
    server = await start(config, tls_stubs)
    try:
        with pytest.raises(GrpcError) as info:
            await GrpcChannel.connect(server.address, tls=ClientTls(ca=pki.ca.cert_path), timeout=5)
        assert info.value.code == GrpcError.UNAVAILABLE
        assert "server_name" in info.value.message
        tls = ClientTls(ca=pki.ca.cert_path, server_name="vault.internal")
        async with await GrpcChannel.connect(server.address, tls=tls) as channel:
            assert (await channel.call(VAULT, "Echo", {"text": "n"})).data == {"value": "n"}
    finally:
        await server.stop(0)
