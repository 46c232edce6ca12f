"""Go, Node (grpc-js) and `buf curl` clients call a Cello server over TLS and mTLS."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cello.grpc import GrpcServer

from .conftest import Pki, start, tls_config

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tests/interop/peers") not in sys.path:
    sys.path.insert(0, str(REPO / "tests/interop/peers"))

import peers  # noqa: E402

pytestmark = pytest.mark.peer

PROTO = "tlstest/v1/tlstest.proto"
VAULT = "tlstest.v1.VaultService"
GO_MAIN = Path(__file__).resolve().parent / "go" / "main.go"


@pytest.fixture(scope="session")
def go_tls_client(tls_stubs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return peers.build_go_client(tls_stubs, [PROTO], GO_MAIN, tmp_path_factory.mktemp("gotls"))


@pytest.fixture
async def both(pki: Pki, tls_stubs: Path) -> AsyncIterator[tuple[GrpcServer, GrpcServer]]:
    """A TLS server and an mTLS server, both with reflection (for buf curl)."""
    tls = await start(tls_config(pki), tls_stubs, reflection=True)
    mtls = await start(tls_config(pki, mtls=True), tls_stubs, reflection=True)
    yield tls, mtls
    await asyncio.gather(tls.stop(0), mtls.stop(0))


def run_go(binary: Path, address: str, *args: Path) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [str(binary), address, *map(str, args)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout.splitlines()[-1])


async def test_go_client_over_tls_and_mtls(
    go_tls_client: Path, both: tuple[GrpcServer, GrpcServer], pki: Pki
) -> None:
    tls, mtls = both
    code, out = await asyncio.to_thread(run_go, go_tls_client, tls.address, pki.ca.cert_path)
    assert (code, out) == (
        0,
        {
            "echo": "from go",
            "who": {"common_name": "", "uris": None, "verified": False},
            "counter": [0, 1, 2],
        },
    )
    alice = (pki.alice.cert_path, pki.alice.key_path)
    code, out = await asyncio.to_thread(
        run_go, go_tls_client, mtls.address, pki.ca.cert_path, *alice
    )
    assert code == 0
    assert out["who"] == {
        "common_name": "alice",
        "uris": ["spiffe://cello.test/alice"],
        "verified": True,
    }
    code, out = await asyncio.to_thread(run_go, go_tls_client, mtls.address, pki.ca.cert_path)
    assert code == 1 and out["code"] == 14  # UNAVAILABLE: no client certificate


async def test_node_client_over_tls_and_mtls(
    both: tuple[GrpcServer, GrpcServer], pki: Pki, tls_stubs: Path
) -> None:
    tls, mtls = both

    def node(
        server: GrpcServer, method: str, request: Any, mode: str = "unary", **files: Path
    ) -> Any:
        return peers.node_call(
            tls_stubs, PROTO, VAULT, method, request, server.address, mode, **files
        )

    ca = pki.ca.cert_path
    [echo] = await asyncio.to_thread(node, tls, "Echo", {"text": "from node"}, ca=ca)
    assert echo == {"value": "from node"}
    counted = await asyncio.to_thread(node, tls, "Counter", {"upto": 3}, "server_stream", ca=ca)
    assert counted == [{"value": "0"}, {"value": "1"}, {"value": "2"}]
    [who] = await asyncio.to_thread(
        node, mtls, "Whoami", {}, ca=ca, cert=pki.alice.cert_path, key=pki.alice.key_path
    )
    assert (who["common_name"], who["verified"]) == ("alice", True)
    with pytest.raises(peers.PeerCallError) as info:
        await asyncio.to_thread(node, mtls, "Whoami", {}, ca=ca)
    assert info.value.code_name == "UNAVAILABLE"


async def test_buf_curl_over_tls_and_mtls(both: tuple[GrpcServer, GrpcServer], pki: Pki) -> None:
    tls, mtls = both
    plain_tls = peers.BufTls(cacert=pki.ca.cert_path)
    reply = await asyncio.to_thread(
        peers.buf_curl, tls.address, f"{VAULT}/Echo", {"text": "from buf"}, tls=plain_tls
    )
    assert reply == {"value": "from buf"}
    mutual = peers.BufTls(cacert=pki.ca.cert_path, cert=pki.alice.cert_path, key=pki.alice.key_path)
    who = await asyncio.to_thread(peers.buf_curl, mtls.address, f"{VAULT}/Whoami", {}, tls=mutual)
    assert (who["commonName"], who["uris"], who["verified"]) == (
        "alice",
        ["spiffe://cello.test/alice"],
        True,
    )
    with pytest.raises((peers.PeerCallError, peers.PeerToolError)):
        await asyncio.to_thread(peers.buf_curl, mtls.address, f"{VAULT}/Whoami", {}, tls=plain_tls)
