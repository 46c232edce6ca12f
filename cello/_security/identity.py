"""`PeerIdentity`: who the client is, read from its verified TLS certificate."""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """The verified client certificate's names, for authorisation by identity (mTLS).

    Attributes:
        subject: the subject distinguished name, RFC 4514 (``"CN=alice,O=Acme"``).
        common_name: the subject's CN, if any.
        dns_names, uris, ip_addresses, emails: the subject alternative names by kind
            (a SPIFFE ID is a URI).
    """

    subject: str
    common_name: str | None = None
    dns_names: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    @classmethod
    def from_certificate(cls, certificate: bytes | str) -> PeerIdentity:
        """The identity in a certificate, PEM (bytes or str) or DER.

        Raises:
            ValueError: not a certificate.
        """
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        data = certificate.encode("ascii") if isinstance(certificate, str) else certificate
        cert = (
            x509.load_pem_x509_certificate(data)
            if data.lstrip().startswith(b"-----")
            else x509.load_der_x509_certificate(data)
        )
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        names = _alternative_names(cert)

        def of(kind: type[x509.GeneralName]) -> tuple[str, ...]:
            return tuple(str(n.value) for n in names if isinstance(n, kind))

        return cls(
            subject=cert.subject.rfc4514_string(),
            common_name=str(cns[0].value) if cns else None,
            dns_names=of(x509.DNSName),
            uris=of(x509.UniformResourceIdentifier),
            ip_addresses=of(x509.IPAddress),
            emails=of(x509.RFC822Name),
        )


# A subjectAltName extension holding an empty SEQUENCE, as DER writes it (without and with
# `critical`). RFC 5280 forbids it, yet CAs issue it; cryptography >= 51 then refuses to
# parse *any* extension of the certificate, so it is recognised here byte for byte.
_EMPTY_SAN = (
    b"\x06\x03\x55\x1d\x11\x04\x02\x30\x00",
    b"\x06\x03\x55\x1d\x11\x01\x01\xff\x04\x02\x30\x00",
)


def _alternative_names(cert: Any) -> list[Any]:
    """The certificate's subject alternative names; [] without the extension or with an
    empty one, on every cryptography release (51 refuses to build or parse an empty one)."""
    from cryptography import x509

    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []
    except ValueError:
        if any(marker in cert.tbs_certificate_bytes for marker in _EMPTY_SAN):
            return []
        raise


def peer_identity_from_auth_context(
    auth_context: Mapping[str, Iterable[bytes]],
) -> PeerIdentity | None:
    """The client's identity from grpc's `context.auth_context()`, or None without mTLS.

    grpc puts the client certificate there only once it has been verified against the
    server's `client_ca`.
    """
    pems = list(auth_context.get("x509_pem_cert") or ())
    return PeerIdentity.from_certificate(pems[0]) if pems else None


def tls_scope_extension(ssl_object: ssl.SSLObject | None) -> dict[str, Any] | None:
    """The ASGI `tls` scope extension for a connection (None if it is not TLS)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    version = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}.get(ssl_object.version() or "")
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": PeerIdentity.from_certificate(der).subject if der else None,
        "client_cert_error": None,
        "tls_version": version,
        "cipher_suite": None,
    }


def auth_context_from_asgi_scope(scope: Mapping[str, Any]) -> dict[str, list[bytes]]:
    """A grpc-shaped auth context from an ASGI scope's `tls` extension ({} without TLS).

    It lets gRPC-Web calls answer `context.auth_context()` like the gRPC port does, so
    `peer_identity_from_auth_context` serves both.
    """
    tls = (scope.get("extensions") or {}).get("tls")
    if not tls:
        return {}
    context = {"transport_security_type": [b"ssl"]}
    chain = tls.get("client_cert_chain") or []
    if chain:
        context["x509_pem_cert"] = [chain[0].encode("ascii")]
    return context
