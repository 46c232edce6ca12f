"""Certificates made per test (a CA, server and client certs, an expired one, another CA)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcConfig, GrpcServer, TlsConfig

from .certs import NOW, Issued, issue, make_ca, server_cert
from .services import VaultService


@dataclass(frozen=True)
class Pki:
    """Everything a TLS test needs, on disk under `folder`."""

    folder: Path
    ca: Issued
    other_ca: Issued
    server: Issued
    alice: Issued  # client cert by `ca`: CN alice, SANs of every kind
    bob: Issued  # client cert by `ca`: CN bob
    mallory: Issued  # client cert by `other_ca`
    expired: Issued  # server cert by `ca`, expired yesterday


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = make_ca(tmp_path / "ca")
    other = make_ca(tmp_path / "other", "Other CA")
    return Pki(
        folder=tmp_path,
        ca=ca,
        other_ca=other,
        server=server_cert(ca, tmp_path / "server"),
        alice=issue(
            ca,
            tmp_path / "clients",
            "alice",
            cn="alice",
            client=True,
            dns=("alice.example",),
            uris=("spiffe://cello.test/alice",),
            ips=("10.0.0.7",),
            emails=("alice@example.org",),
        ),
        bob=issue(ca, tmp_path / "clients", "bob", cn="bob", client=True),
        mallory=issue(other, tmp_path / "clients", "mallory", cn="alice", client=True),
        expired=server_cert(
            ca,
            tmp_path / "expired",
            not_before=NOW - dt.timedelta(days=10),
            not_after=NOW - dt.timedelta(days=1),
        ),
    )


@pytest.fixture(scope="session")
def tls_stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cello-gen build tests.tls.services`, importable as `tlstest.v1.tlstest_cello`."""
    out = tmp_path_factory.mktemp("tls-stubs")
    assert cello_gen(["build", "tests.tls.services", "--out", str(out)]) == 0
    sys.path.insert(0, str(out))
    return out


def tls_config(pki: Pki, *, mtls: bool = False, **kwargs: object) -> TlsConfig:
    return TlsConfig(
        cert_chain=pki.server.cert_path,
        private_key=pki.server.key_path,
        client_ca=pki.ca.cert_path if mtls else None,
        require_client_cert=mtls,
        **kwargs,  # type: ignore[arg-type]
    )


async def start(tls: TlsConfig | None, stubs: Path | None = None, **config: object) -> GrpcServer:
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        config=GrpcConfig(tls=tls, **config),  # type: ignore[arg-type]
        stubs_dir=stubs,
    )
    server.register_service(VaultService())
    await server.start()
    return server


@pytest.fixture
async def tls_server(pki: Pki, tls_stubs: Path) -> AsyncIterator[GrpcServer]:
    server = await start(tls_config(pki), tls_stubs)
    yield server
    await server.stop(0)


@pytest.fixture
async def mtls_server(pki: Pki, tls_stubs: Path) -> AsyncIterator[GrpcServer]:
    server = await start(tls_config(pki, mtls=True), tls_stubs)
    yield server
    await server.stop(0)


def served_certificate(port: int, ca: Issued, *, alpn: str = "h2") -> bytes:
    """The DER certificate a TLS port presents to a new connection (verified against `ca`)."""
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    context.set_alpn_protocols([alpn])
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
            assert tls.selected_alpn_protocol() == alpn
    assert der is not None
    return der
