"""`PeerIdentity.from_certificate` on every shape of subjectAltName, on every cryptography."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from cello import PeerIdentity

from .certs import issue, make_ca

DATA = Path(__file__).with_name("data")


def test_a_certificate_without_a_san_extension(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    bob = issue(ca, tmp_path, "bob", cn="bob", client=True)
    identity = PeerIdentity.from_certificate(bob.cert_pem)
    assert identity == PeerIdentity(subject="CN=bob,O=Cello tests", common_name="bob")


def test_a_certificate_with_an_empty_san_extension() -> None:
    # RFC 5280 forbids it and cryptography >= 51 refuses to parse it; CAs still issue it
    # (made once with cryptography 48, which could build it)
    pem = (DATA / "empty-san.pem").read_bytes()
    identity = PeerIdentity.from_certificate(pem)
    assert identity == PeerIdentity(subject="O=Cello Tests,CN=empty-san", common_name="empty-san")


def test_every_kind_of_alternative_name(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    alice = issue(
        ca,
        tmp_path,
        "alice",
        cn="alice",
        dns=("alice.example",),
        ips=("127.0.0.1", "::1"),
        uris=("spiffe://example.org/alice",),
        emails=("alice@example.org",),
        client=True,
    )
    identity = PeerIdentity.from_certificate(alice.cert_pem.decode())
    assert identity.dns_names == ("alice.example",)
    assert identity.ip_addresses == ("127.0.0.1", "::1")
    assert identity.uris == ("spiffe://example.org/alice",)
    assert identity.emails == ("alice@example.org",)
    der = alice.cert.public_bytes(serialization.Encoding.DER)
    assert PeerIdentity.from_certificate(der) == identity


def test_not_a_certificate_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        PeerIdentity.from_certificate(
            b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
        )
