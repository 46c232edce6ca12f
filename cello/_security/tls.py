"""TLS settings: `TlsConfig` for the server's ports, `ClientTls` for channels, checked once."""

from __future__ import annotations

import datetime as dt
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from .._errors import TlsError

PemSource = str | os.PathLike[str] | bytes
"""A PEM file's path, or the PEM text itself as bytes."""

# Where Linux distributions keep the system CA bundle, when OpenSSL's default names none.
_SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/cert.pem",  # macOS, BSDs
)


@dataclass(frozen=True, slots=True)
class Pem:
    """Certificate material read and checked: PEM bytes ready for grpc and `ssl`."""

    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None
    not_after: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsConfig:
    """TLS (and optionally mTLS) for every port of a server: `GrpcConfig(tls=TlsConfig(...))`.

    The files are read and checked when the config is built, and re-read while serving
    when they change (polled every `reload_interval_secs`), on SIGHUP under `App.run()`,
    or on `GrpcServer.reload_tls()`: new connections get the new certificate, open ones
    keep theirs.

    Args:
        cert_chain: the server certificate followed by its intermediates (path or PEM bytes).
        private_key: the certificate's private key, unencrypted PEM (path or PEM bytes).
        client_ca: the CA certificate(s) client certificates must chain to (mTLS).
        require_client_cert: refuse clients without a certificate signed by `client_ca`.
        reload_interval_secs: how often to look for changed files; None only reloads on
            SIGHUP or `reload_tls()`.

    Raises:
        TlsError: a file is missing or unreadable, is not PEM, the key does not match the
            certificate, the certificate has expired or is not yet valid, or `client_ca`
            and `require_client_cert` are not set together.
    """

    cert_chain: PemSource
    private_key: PemSource
    client_ca: PemSource | None = None
    require_client_cert: bool = False
    reload_interval_secs: float | None = 5.0

    def __post_init__(self) -> None:
        if self.require_client_cert and self.client_ca is None:
            raise TlsError(
                "TlsConfig: require_client_cert=True needs client_ca, the CA that signs "
                "client certificates; pass client_ca='client-ca.pem'"
            )
        if self.client_ca is not None and not self.require_client_cert:
            raise TlsError(
                "TlsConfig: client_ca is set but require_client_cert is False; the gRPC port "
                "cannot ask for an optional client certificate, so pass "
                "require_client_cert=True for mTLS or drop client_ca"
            )
        interval = self.reload_interval_secs
        if interval is not None and not interval > 0:
            raise TlsError(f"TlsConfig.reload_interval_secs must be > 0 or None, got {interval!r}")
        self.load()

    @property
    def files(self) -> tuple[Path, ...]:
        """The files given by path, watched for changes while serving."""
        sources = (self.cert_chain, self.private_key, self.client_ca)
        return tuple(Path(s) for s in sources if s is not None and not isinstance(s, bytes))

    def load(self) -> Pem:
        """Read and check the certificate, key and client CA.

        Raises:
            TlsError: see the class.
        """
        chain = _read("TlsConfig.cert_chain", self.cert_chain, "a PEM certificate chain")
        key = _read("TlsConfig.private_key", self.private_key, "a PEM private key")
        leaf = check_pair(
            ("TlsConfig.cert_chain", self.cert_chain, chain),
            ("TlsConfig.private_key", self.private_key, key),
        )
        ca = None
        if self.client_ca is not None:
            ca = _read("TlsConfig.client_ca", self.client_ca, "PEM CA certificates")
            _certificates("TlsConfig.client_ca", self.client_ca, ca)
        return Pem(chain, key, ca, leaf.not_valid_after_utc)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientTls:
    """How a client connects over TLS: `GrpcChannel.connect(target, tls=ClientTls())`.

    Args:
        ca: the CA certificate(s) to trust (path or PEM bytes); None trusts the system
            store (`SSL_CERT_FILE`, else the distribution's CA bundle).
        cert_chain: a client certificate chain, for servers that require mTLS.
        private_key: the client certificate's private key.
        server_name: the name to check the server's certificate against (and send as
            SNI), when it differs from the host in the target.

    Raises:
        TlsError: a file is missing or unreadable, is not PEM, the key does not match the
            certificate, the certificate has expired, or only one of cert and key is given.
    """

    ca: PemSource | None = None
    cert_chain: PemSource | None = None
    private_key: PemSource | None = None
    server_name: str | None = None
    _pem: tuple[bytes | None, bytes | None, bytes | None] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if (self.cert_chain is None) != (self.private_key is None):
            raise TlsError(
                "ClientTls: a client certificate needs both cert_chain and private_key; "
                "pass both, or neither to connect without one"
            )
        ca = None
        if self.ca is not None:
            ca = _read("ClientTls.ca", self.ca, "PEM CA certificates")
            _certificates("ClientTls.ca", self.ca, ca)
        chain = key = None
        if self.cert_chain is not None and self.private_key is not None:
            chain = _read("ClientTls.cert_chain", self.cert_chain, "a PEM certificate chain")
            key = _read("ClientTls.private_key", self.private_key, "a PEM private key")
            check_pair(
                ("ClientTls.cert_chain", self.cert_chain, chain),
                ("ClientTls.private_key", self.private_key, key),
            )
        object.__setattr__(self, "_pem", (ca, chain, key))

    @property
    def has_client_cert(self) -> bool:
        """True when a client certificate is presented (mTLS)."""
        return self._pem[1] is not None

    def credentials(self) -> grpc.ChannelCredentials:
        """grpc channel credentials for these settings."""
        ca, chain, key = self._pem
        return grpc.ssl_channel_credentials(
            root_certificates=ca if ca is not None else system_roots(),
            private_key=key,
            certificate_chain=chain,
        )

    def channel_options(self) -> list[tuple[str, Any]]:
        """grpc channel arguments for these settings (the server-name override)."""
        if self.server_name is None:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]


def system_roots() -> bytes | None:
    """The system's trusted CA certificates as PEM; None leaves grpc's bundled roots."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, *_SYSTEM_BUNDLES):
        if candidate and os.path.isfile(candidate):
            try:
                return Path(candidate).read_bytes()
            except OSError:
                continue
    return None


def check_pair(cert: tuple[str, PemSource, bytes], key: tuple[str, PemSource, bytes]) -> Any:
    """Check a certificate chain against its key and its dates; returns the leaf certificate.

    Args:
        cert: (setting name, source, PEM bytes) of the certificate chain.
        key: (setting name, source, PEM bytes) of the private key.

    Raises:
        TlsError: naming the setting, the file and the fix.
    """
    from cryptography.hazmat.primitives import serialization

    leaf = _certificates(*cert)[0]
    name, source, data = key
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TlsError(
            f"{name}: {_where(source)} is encrypted; give the key unencrypted "
            "(e.g. `openssl pkey -in key.pem -out plain.pem`) and protect it with file "
            "permissions"
        ) from None
    except ValueError as exc:
        raise TlsError(
            f"{name}: {_where(source)} is not a PEM private key ({exc}); expected a "
            "'-----BEGIN PRIVATE KEY-----' block"
        ) from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise TlsError(
            f"{name}: the key in {_where(source)} does not match the certificate in "
            f"{_where(cert[1])} ({leaf.subject.rfc4514_string()}); give the key that "
            "certificate was issued for"
        )
    now = dt.datetime.now(dt.UTC)
    if leaf.not_valid_after_utc <= now:
        raise TlsError(
            f"{cert[0]}: the certificate in {_where(cert[1])} ({leaf.subject.rfc4514_string()}) "
            f"expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC; renew it"
        )
    if leaf.not_valid_before_utc > now:
        raise TlsError(
            f"{cert[0]}: the certificate in {_where(cert[1])} ({leaf.subject.rfc4514_string()}) "
            f"is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC; "
            "check the machine's clock or the certificate's dates"
        )
    return leaf


def _certificates(name: str, source: PemSource, data: bytes) -> list[Any]:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise TlsError(
            f"{name}: {_where(source)} holds no PEM certificate; expected a "
            "'-----BEGIN CERTIFICATE-----' block"
        )
    return certs


def _read(name: str, source: PemSource, what: str) -> bytes:
    if isinstance(source, bytes):
        return source
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        fix = f"give the path of {what}"
        raise TlsError(f"{name}: {path} does not exist; {fix}") from None
    except IsADirectoryError:
        raise TlsError(f"{name}: {path} is a directory; give the path of {what}") from None
    except PermissionError:
        raise TlsError(
            f"{name}: {path} is not readable (permission denied); make it readable by the "
            "user the server runs as"
        ) from None
    except OSError as exc:
        raise TlsError(f"{name}: cannot read {path}: {exc.strerror}; give {what}") from None


def _where(source: PemSource) -> str:
    return "the PEM bytes given" if isinstance(source, bytes) else str(source)
