"""Cello stubs next to another project's `_pb2` modules in the same package (issue 9, defect 5)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio
import grpc_health.v1.health_pb2  # noqa: F401  (the official stubs, loaded first on purpose)
import pytest
from grpc_tools import protoc

from cello import DefinitionError
from cello.grpc import GrpcChannel, GrpcConfig, GrpcServer, GrpcService, grpc_method

PEER_PROTOS = {
    # same package as the Cello service below, another file name, one identical message
    "peerproj/testing_messages.proto": """
        syntax = "proto3";
        package grpc.testing;
        message PoolEchoRequest {
          string text = 1;
          int64 count = 2;
        }
        message PoolPeerOnly {
          bool flag = 1;
        }
    """,
    # a message whose name the Cello service below reuses with other fields
    "peerproj/clash.proto": """
        syntax = "proto3";
        package cellotest.clash;
        message PoolClash {
          string text = 1;
        }
    """,
}


@dataclass
class PoolEchoRequest:
    text: str = ""
    count: int = 0


@dataclass
class PoolEchoReply:
    text: str = ""


class PoolEchoService(GrpcService):
    package = "grpc.testing"

    @grpc_method
    async def Echo(self, request: PoolEchoRequest) -> PoolEchoReply:
        return PoolEchoReply(text=request.text * request.count)


@dataclass
class PoolClash:
    title: str = ""
    pages: int = 0


class PoolClashService(GrpcService):
    package = "cellotest.clash"

    @grpc_method
    async def Get(self, request: PoolClash) -> PoolClash:
        return request


@dataclass
class ProbeReply:
    healthy: bool = False


class PoolHealthProbe(GrpcService):
    package = "grpc.health.v1"  # the file name is the official health.proto's too

    @grpc_method
    async def Probe(self) -> ProbeReply:
        return ProbeReply(healthy=True)


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    """The peer project's `_pb2` modules, compiled by protoc and imported before any server."""
    root = tmp_path_factory.mktemp("peer")
    for rel, text in PEER_PROTOS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    args = ["protoc", f"-I{root}", f"--python_out={root}", *(str(root / r) for r in PEER_PROTOS)]
    assert protoc.main(args) == 0
    sys.path.insert(0, str(root))
    try:
        yield {
            "messages": importlib.import_module("peerproj.testing_messages_pb2"),
            "clash": importlib.import_module("peerproj.clash_pb2"),
        }
    finally:
        sys.path.remove(str(root))


async def test_a_service_shares_its_package_and_a_message_with_another_projects_pb2(
    peer: dict[str, ModuleType],
) -> None:
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(PoolEchoService())
    await server.start()
    try:
        binding = server.bindings["grpc.testing.PoolEchoService"].methods[0]
        # the identical message is the peer's own class, not a second definition
        assert binding.request_type is peer["messages"].PoolEchoRequest
        call = grpc.aio.insecure_channel(server.address)
        async with call as channel:
            echo = channel.unary_unary(
                "/grpc.testing.PoolEchoService/Echo",
                request_serializer=peer["messages"].PoolEchoRequest.SerializeToString,
                response_deserializer=binding.response_type.FromString,  # type: ignore[attr-defined]
            )
            reply = await echo(peer["messages"].PoolEchoRequest(text="ab", count=3))
        assert reply.text == "ababab"
        # the peer's other message is untouched and still usable
        assert peer["messages"].PoolPeerOnly(flag=True).SerializeToString() == b"\x08\x01"
    finally:
        await server.stop(0)


async def test_a_clashing_symbol_is_named_with_both_files_and_the_fix(
    peer: dict[str, ModuleType],
) -> None:
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(PoolClashService())
    with pytest.raises(DefinitionError) as caught:
        await server.start()
    message = str(caught.value)
    assert "cellotest.clash.PoolClash is defined twice" in message
    assert "peerproj/clash.proto" in message
    assert "cellotest/clash/clash.proto" in message
    assert "rename the Python class or give the service another `package`" in message


async def test_a_service_in_the_official_health_package_is_served_beside_health() -> None:
    server = GrpcServer(host="127.0.0.1", port=0, config=GrpcConfig(reflection=True))
    server.register_service(PoolHealthProbe())
    await server.start()
    try:
        async with await GrpcChannel.connect(server.address, local_stubs=False) as channel:
            reply = await channel.call("grpc.health.v1.PoolHealthProbe", "Probe")
            health = await channel.call("grpc.health.v1.Health", "Check", {"service": ""})
        assert reply.data == {"healthy": True}
        assert health.data == {"status": "SERVING"}
    finally:
        await server.stop(0)


def _official_first(case: str, tmp_path: Path) -> dict[str, Any]:
    """Run `pool_official.py` in a fresh process: the official `_pb2` imported first."""
    root = Path(__file__).parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    env["CELLO_CACHE_DIR"] = str(tmp_path / "cache")
    script = "from tests.runtime.pool_official import run; run()"
    done = subprocess.run(
        [sys.executable, "-c", script, case, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_code_first_part_of_the_official_health_contract_serves_beside_its_pb2(
    tmp_path: Path,
) -> None:
    # the same file name as grpcio-health-checking's, and only `Check` of its three rpcs:
    # not "stale" (nothing of Cello's changed), and restarting would not have helped
    assert _official_first("health", tmp_path) == {"status": "SERVING"}


def test_the_stand_in_pb2_exposes_top_level_enum_values_of_a_larger_official_file(
    tmp_path: Path,
) -> None:
    # the official test.proto has a message the code-first case lacks, so Cello's file is
    # supplemented, and its `_cello.py` reads `_pb2.COMPRESSABLE` from the stand-in
    assert _official_first("grpc_testing", tmp_path) == {
        "body": "000000",
        "type": "COMPRESSABLE",
        "official_class": True,
        "missing": ["EchoStatus", "_ECHOSTATUS"],
        "same_enum": True,
        "descriptor": True,
    }
