"""Certificate rotation without a restart: polled files, `reload_tls()` and SIGHUP."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest
from cryptography import x509

from cello import App, GrpcConfig
from cello.grpc import ClientTls, GrpcChannel, GrpcServer

from .certs import Issued, server_cert
from .conftest import Pki, served_certificate, start, tls_config
from .services import VaultService

VAULT = "tlstest.v1.VaultService"


def serial(der: bytes) -> int:
    return x509.load_der_x509_certificate(der).serial_number


def replace(target: Path, source: Path) -> None:
    """Replace `target` atomically, as deployment tools and cert-manager do."""
    staged = target.with_suffix(".new")
    staged.write_bytes(source.read_bytes())
    os.replace(staged, target)


async def wait_for_serial(port: int, pki: Pki, wanted: int, *, alpn: str = "h2") -> None:
    for _ in range(200):
        if serial(await asyncio.to_thread(served_certificate, port, pki.ca, alpn=alpn)) == wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"port {port} never served certificate {wanted:x}")


async def test_rotation_mid_traffic_fails_no_call(pki: Pki, tls_stubs: Path) -> None:
    server = await start(
        tls_config(pki, reload_interval_secs=0.05), tls_stubs, enable_web=True, web_port=0
    )
    assert server.web_port is not None
    fresh = server_cert(pki.ca, pki.folder / "fresh")
    assert fresh.serial != pki.server.serial
    tls = ClientTls(ca=pki.ca.cert_path)
    failures: list[BaseException] = []
    calls = 0
    rotated = asyncio.Event()

    async def traffic(channel: GrpcChannel) -> None:
        nonlocal calls
        while not rotated.is_set() or calls < 40:
            try:
                reply = await channel.call(VAULT, "Echo", {"text": "x"}, raise_on_error=True)
                assert reply.data == {"value": "x"}
                async with await GrpcChannel.connect(server.address, tls=tls) as new:
                    await new.call(VAULT, "Echo", {"text": "y"}, raise_on_error=True)
                calls += 1
            except BaseException as exc:  # noqa: BLE001 - every failure is the finding
                failures.append(exc)
                return

    try:
        assert serial(await asyncio.to_thread(served_certificate, server.port, pki.ca)) == (
            pki.server.serial
        )
        async with await GrpcChannel.connect(server.address, tls=tls) as channel:
            # a stream that is in flight across the rotation
            stream = asyncio.create_task(
                channel.call(VAULT, "Counter", {"upto": 20, "pause_ms": 50}, raise_on_error=True)
            )
            loop = asyncio.create_task(traffic(channel))
            await asyncio.sleep(0.2)
            # key first, then certificate: in between they do not match, and that
            # half-written state must never be served
            replace(pki.server.key_path, fresh.key_path)
            await asyncio.sleep(0.1)
            replace(pki.server.cert_path, fresh.cert_path)
            await wait_for_serial(server.port, pki, fresh.serial)
            await wait_for_serial(server.web_port, pki, fresh.serial, alpn="http/1.1")
            rotated.set()
            await asyncio.wait_for(loop, 30)
            streamed = await asyncio.wait_for(stream, 30)
        assert failures == []
        assert calls >= 40
        assert [int(m["value"]) for m in streamed.data] == list(range(20))
    finally:
        await server.stop(0)


async def test_reload_keeps_the_old_certificate_when_new_files_are_bad(
    pki: Pki, tls_stubs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start(tls_config(pki, reload_interval_secs=None), tls_stubs)
    fresh = server_cert(pki.ca, pki.folder / "fresh")
    try:
        assert server.reload_tls() is False  # nothing changed
        replace(pki.server.cert_path, fresh.cert_path)  # the key is still the old one
        with caplog.at_level(logging.ERROR, logger="cello.tls"):
            assert server.reload_tls() is False
        assert "TLS reload refused, still serving the previous certificate" in caplog.text
        assert "does not match the certificate" in caplog.text
        assert serial(await asyncio.to_thread(served_certificate, server.port, pki.ca)) == (
            pki.server.serial
        )
        async with await GrpcChannel.connect(
            server.address, tls=ClientTls(ca=pki.ca.cert_path)
        ) as channel:
            assert (await channel.call(VAULT, "Echo", {"text": "a"})).data == {"value": "a"}
        replace(pki.server.key_path, fresh.key_path)
        assert server.reload_tls() is True
        await wait_for_serial(server.port, pki, fresh.serial)
    finally:
        await server.stop(0)


async def test_sighup_reloads_under_app_serve(
    pki: Pki, tls_stubs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = App()
    app.enable_grpc(GrpcConfig(port=0, tls=tls_config(pki, reload_interval_secs=None)))
    app.register_service(VaultService())
    stop = asyncio.Event()
    # ready() comes once the server runs and the SIGHUP handler is in place; polling for a
    # non-default SIGHUP handler instead was fooled by one an earlier test's loop left behind
    started: asyncio.Future[GrpcServer] = asyncio.get_running_loop().create_future()
    serving = asyncio.create_task(app.serve(stop=stop, ready=started.set_result))
    fresh: Issued = server_cert(pki.ca, pki.folder / "fresh")
    try:
        server = await asyncio.wait_for(started, 10)
        await wait_for_serial(server.port, pki, pki.server.serial)
        replace(pki.server.key_path, fresh.key_path)
        replace(pki.server.cert_path, fresh.cert_path)
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_for_serial(server.port, pki, fresh.serial)
        # transport envoy names itself inside the parentheses: "..., transport envoy 1.39.3)"
        envoy = getattr(server._server, "version", None)
    finally:
        stop.set()
        await asyncio.wait_for(serving, 10)
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # handed back on exit
    served = "TLS, this machine only" + (f", transport envoy {envoy}" if envoy else "")
    assert f"cello: serving gRPC ({served}) on 127.0.0.1:{server.port}" in capsys.readouterr().out
