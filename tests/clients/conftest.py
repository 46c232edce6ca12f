"""Servers on free ports (library; notes over mTLS and plaintext) and the standalone clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcConfig, GrpcServer, TlsConfig
from examples.library import LibraryService
from tests.tls.certs import Issued, issue, make_ca, server_cert

from .services import NoteService


@pytest.fixture(scope="session")
def client_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cello-gen build examples.library --client DIR`: the standalone client tree."""
    root = tmp_path_factory.mktemp("library")
    out, client = root / "generated", root / "client"
    assert cello_gen(["build", "examples.library", "--out", str(out), "--client", str(client)]) == 0
    return client


@pytest.fixture
async def library_server() -> AsyncIterator[GrpcServer]:
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(LibraryService())
    await server.start()
    yield server
    await server.stop(0)


@pytest.fixture(scope="session")
def notes_client_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cello-gen build tests.clients.services --client DIR`: `clienttest.v1.clienttest_client`."""
    root = tmp_path_factory.mktemp("notes")
    out, client = root / "generated", root / "client"
    args = ["build", "tests.clients.services", "--out", str(out), "--client", str(client)]
    assert cello_gen(args) == 0
    return client


@pytest.fixture
async def notes_server() -> AsyncIterator[GrpcServer]:
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(NoteService())
    await server.start()
    yield server
    await server.stop(0)


@pytest.fixture
async def notes_mtls_server(
    tmp_path: Path,
) -> AsyncIterator[tuple[GrpcServer, Issued, Issued]]:
    """The note service on a port that requires a client certificate: (server, CA, client)."""
    ca = make_ca(tmp_path / "ca")
    cert = server_cert(ca, tmp_path / "server")
    client = issue(ca, tmp_path / "client", "client", cn="client", client=True)
    tls = TlsConfig(
        cert_chain=cert.cert_path,
        private_key=cert.key_path,
        client_ca=ca.cert_path,
        require_client_cert=True,
    )
    server = GrpcServer(host="127.0.0.1", port=0, config=GrpcConfig(tls=tls))
    server.register_service(NoteService())
    await server.start()
    yield server, ca, client
    await server.stop(0)
