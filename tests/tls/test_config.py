"""`TlsConfig` and `ClientTls` refuse unusable material at construction, naming file and fix."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cello import GrpcConfig, TlsError
from cello.grpc import ClientTls, TlsConfig

from .certs import NOW, issue
from .conftest import Pki


def test_valid_config_from_paths_and_from_bytes(pki: Pki) -> None:
    by_path = TlsConfig(cert_chain=pki.server.cert_path, private_key=str(pki.server.key_path))
    by_bytes = TlsConfig(cert_chain=pki.server.cert_pem, private_key=pki.server.key_pem)
    assert by_path.load() == by_bytes.load()
    assert by_path.files == (pki.server.cert_path, pki.server.key_path)
    assert by_bytes.files == ()
    assert GrpcConfig(tls=by_path).tls is by_path


def test_missing_file(pki: Pki) -> None:
    missing = pki.folder / "nope.crt"
    with pytest.raises(TlsError, match=r"TlsConfig.cert_chain: .*nope.crt does not exist; give"):
        TlsConfig(cert_chain=missing, private_key=pki.server.key_path)


def test_directory_instead_of_file(pki: Pki) -> None:
    with pytest.raises(TlsError, match="TlsConfig.private_key: .* is a directory; give the path"):
        TlsConfig(cert_chain=pki.server.cert_path, private_key=pki.folder)


def test_not_pem(pki: Pki) -> None:
    junk = pki.folder / "junk.crt"
    junk.write_text("hello")
    with pytest.raises(TlsError, match=r"junk.crt holds no PEM certificate; expected"):
        TlsConfig(cert_chain=junk, private_key=pki.server.key_path)
    with pytest.raises(TlsError, match=r"junk.crt is not a PEM private key"):
        TlsConfig(cert_chain=pki.server.cert_path, private_key=junk)


def test_key_not_matching_certificate(pki: Pki) -> None:
    with pytest.raises(TlsError) as info:
        TlsConfig(cert_chain=pki.server.cert_path, private_key=pki.alice.key_path)
    message = str(info.value)
    assert f"the key in {pki.alice.key_path} does not match the certificate in" in message
    assert str(pki.server.cert_path) in message
    assert "give the key that certificate was issued for" in message


def test_expired_certificate(pki: Pki) -> None:
    with pytest.raises(
        TlsError, match=r"expired/server.crt \(CN=localhost,O=Cello tests\) expired on"
    ):
        TlsConfig(cert_chain=pki.expired.cert_path, private_key=pki.expired.key_path)


def test_not_yet_valid_certificate(pki: Pki) -> None:
    future = issue(
        pki.ca,
        pki.folder / "future",
        "future",
        cn="later",
        not_before=NOW + dt.timedelta(days=2),
        not_after=NOW + dt.timedelta(days=20),
    )
    with pytest.raises(TlsError, match="is not valid before .*check the machine's clock"):
        TlsConfig(cert_chain=future.cert_path, private_key=future.key_path)


def test_client_ca_and_require_client_cert_go_together(pki: Pki) -> None:
    with pytest.raises(TlsError, match="require_client_cert=True needs client_ca"):
        TlsConfig(
            cert_chain=pki.server.cert_path,
            private_key=pki.server.key_path,
            require_client_cert=True,
        )
    with pytest.raises(TlsError, match="client_ca is set but require_client_cert is False"):
        TlsConfig(
            cert_chain=pki.server.cert_path,
            private_key=pki.server.key_path,
            client_ca=pki.ca.cert_path,
        )


def test_bad_client_ca_and_reload_interval(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TlsError, match="TlsConfig.client_ca: .*missing.pem does not exist"):
        TlsConfig(
            cert_chain=pki.server.cert_path,
            private_key=pki.server.key_path,
            client_ca=tmp_path / "missing.pem",
            require_client_cert=True,
        )
    with pytest.raises(TlsError, match="reload_interval_secs must be > 0 or None, got 0"):
        TlsConfig(
            cert_chain=pki.server.cert_path,
            private_key=pki.server.key_path,
            reload_interval_secs=0,
        )


def test_tls_error_is_a_value_error_and_grpc_config_checks_the_type() -> None:
    assert issubclass(TlsError, ValueError)
    with pytest.raises(ValueError, match="GrpcConfig.tls must be a TlsConfig"):
        GrpcConfig(tls="cert.pem")  # type: ignore[arg-type]


def test_client_tls_checks(pki: Pki) -> None:
    with pytest.raises(TlsError, match="needs both cert_chain and private_key"):
        ClientTls(cert_chain=pki.alice.cert_path)
    with pytest.raises(TlsError, match="ClientTls.ca: .*nope.pem does not exist"):
        ClientTls(ca=pki.folder / "nope.pem")
    with pytest.raises(TlsError, match="ClientTls.private_key: the key in .* does not match"):
        ClientTls(cert_chain=pki.alice.cert_path, private_key=pki.bob.key_path)
    with pytest.raises(TlsError, match="ClientTls.cert_chain: the certificate .* expired on"):
        ClientTls(cert_chain=pki.expired.cert_path, private_key=pki.expired.key_path)
    assert ClientTls(cert_chain=pki.alice.cert_pem, private_key=pki.alice.key_pem).has_client_cert
    assert ClientTls(server_name="x").channel_options() == [("grpc.ssl_target_name_override", "x")]
