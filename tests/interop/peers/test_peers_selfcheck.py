"""Self-check: every peer client in peers.py talks to a plain grpc.aio server.

The server is a hand-written grpc.aio implementation of
sample/demo/sample/v1/sample.proto (compiled with grpc_tools.protoc into a temp
dir), run in a *subprocess* so the generated ``demo`` package never enters this
interpreter's sys.modules, with grpcio-reflection (v1alpha) enabled.

Run:  pytest -m peer tests/interop/peers -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import peers  # noqa: E402

pytestmark = pytest.mark.peer

PROTO_ROOT = HERE / "sample"
PROTO_FILE = "demo/sample/v1/sample.proto"
SERVICE = "demo.sample.v1.SampleService"
BIG_ID = 9007199254740993  # 2**53 + 1: not representable as a JS/double number
MISSING_ID = 404
TS_SECONDS = 1700000000  # 2023-11-14T22:13:20Z
TS_NANOS = 500000000

SERVER_PY = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, sys.argv[1])
    import grpc
    from grpc_reflection.v1alpha import reflection
    from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
    from demo.sample.v1 import sample_pb2 as pb, sample_pb2_grpc as pb_grpc

    def make_item(i, color=pb.COLOR_RED):
        attrs = struct_pb2.Struct()
        attrs.update({"k": "v", "n": 1.5, "ok": True, "list": [1, "two"]})
        return pb.Item(
            id=i, name=f"item-{i}", tags=["a", "b"], color=color,
            created_at=timestamp_pb2.Timestamp(seconds=%(ts)d, nanos=%(nanos)d),
            attributes=attrs, ttl=duration_pb2.Duration(seconds=90),
        )

    class Sample(pb_grpc.SampleServiceServicer):
        async def GetItem(self, request, context):
            if request.id == %(missing)d:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no item {request.id}")
            return make_item(request.id)

        async def ListItems(self, request, context):
            for i in range(1, request.count + 1):
                yield make_item(i, request.color)

        async def Ping(self, request, context):
            return pb.PingResponse(message="pong")

    async def main():
        server = grpc.aio.server()
        pb_grpc.add_SampleServiceServicer_to_server(Sample(), server)
        reflection.enable_server_reflection(
            [pb.DESCRIPTOR.services_by_name["SampleService"].full_name,
             reflection.SERVICE_NAME], server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(port, flush=True)
        # serve until the parent closes our stdin
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await server.stop(0)

    asyncio.run(main())
    """
) % {"ts": TS_SECONDS, "nanos": TS_NANOS, "missing": MISSING_ID}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    gen = tmp_path_factory.mktemp("pygen")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={gen}",
            f"--grpc_python_out={gen}",
            PROTO_FILE,
        ],
        check=True,
    )
    script = gen / "server.py"
    script.write_text(SERVER_PY)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(gen)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip().isdigit(), f"server failed to start (exit {proc.poll()})"
        yield f"127.0.0.1:{int(line)}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- Node


def test_node_unary(server: str) -> None:
    [item] = peers.node_call(
        PROTO_ROOT, PROTO_FILE, SERVICE, "GetItem", {"id": str(BIG_ID)}, server
    )
    assert item["id"] == str(BIG_ID)  # longs: String keeps 2**53+1 exact
    assert item["name"] == f"item-{BIG_ID}"
    assert item["tags"] == ["a", "b"]
    assert item["color"] == "COLOR_RED"
    assert item["created_at"] == {"seconds": str(TS_SECONDS), "nanos": TS_NANOS}
    assert item["ttl"] == {"seconds": "90", "nanos": 0}
    # protobufjs always uses its bundled WKT definitions, whose field names are
    # lowerCamelCase: keepCase does not apply inside Struct/Value.
    fields = item["attributes"]["fields"]
    assert fields["k"]["stringValue"] == "v" and fields["k"]["kind"] == "stringValue"
    assert fields["n"]["numberValue"] == 1.5
    assert fields["ok"]["boolValue"] is True
    assert [v["kind"] for v in fields["list"]["listValue"]["values"]] == [
        "numberValue",
        "stringValue",
    ]


def test_node_server_stream(server: str) -> None:
    items = peers.node_call(
        PROTO_ROOT,
        PROTO_FILE,
        SERVICE,
        "ListItems",
        {"count": 3, "color": "COLOR_GREEN"},
        server,
        mode="server_stream",
    )
    assert [i["id"] for i in items] == ["1", "2", "3"]
    assert {i["color"] for i in items} == {"COLOR_GREEN"}


def test_node_empty_and_error(server: str) -> None:
    assert peers.node_call(PROTO_ROOT, PROTO_FILE, SERVICE, "Ping", {}, server) == [
        {"message": "pong"}
    ]
    with pytest.raises(peers.PeerCallError) as ei:
        peers.node_call(PROTO_ROOT, PROTO_FILE, SERVICE, "GetItem", {"id": MISSING_ID}, server)
    assert ei.value.code == 5 and ei.value.code_name == "NOT_FOUND"
    assert ei.value.details == f"no item {MISSING_ID}"


# ------------------------------------------------------------------------------ Go

GO_MAIN = PROTO_ROOT / "go" / "main.go"  # Go source lives in a file (tabs)


@pytest.fixture(scope="module")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t0 = time.monotonic()
    binary = peers.build_go_client(
        PROTO_ROOT, [PROTO_FILE], GO_MAIN, tmp_path_factory.mktemp("gobuild")
    )
    print(f"go client built in {time.monotonic() - t0:.1f}s")
    return binary


def test_go_client(server: str, go_client: Path) -> None:
    proc = subprocess.run(
        [str(go_client), server, str(BIG_ID)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    item, stream_ids, ping, err = [json.loads(x) for x in proc.stdout.splitlines()]
    assert item == {
        "id": str(BIG_ID),
        "name": f"item-{BIG_ID}",
        "tags": ["a", "b"],
        "color": "COLOR_RED",
        "created_at": "2023-11-14T22:13:20.5Z",
        "attributes": {"k": "v", "n": 1.5, "ok": True, "list": [1, "two"]},
        "ttl": "1m30s",
    }
    assert stream_ids == ["1:COLOR_GREEN", "2:COLOR_GREEN"]
    assert ping == "pong"
    assert err == {"code": 5, "details": f"no item {MISSING_ID}"}


# ----------------------------------------------------------------------------- buf

EXPECTED_JSON_ITEM = {
    "id": str(BIG_ID),
    "name": f"item-{BIG_ID}",
    "tags": ["a", "b"],
    "color": "COLOR_RED",
    "createdAt": "2023-11-14T22:13:20.500Z",
    "attributes": {"k": "v", "n": 1.5, "ok": True, "list": [1, "two"]},
    "ttl": "90s",
}


@pytest.mark.parametrize("reflect_protocol", [None, "grpc-v1alpha"])
def test_buf_curl_reflection(server: str, reflect_protocol: str | None) -> None:
    item = peers.buf_curl(
        server, f"{SERVICE}/GetItem", {"id": str(BIG_ID)}, reflect_protocol=reflect_protocol
    )
    assert item == EXPECTED_JSON_ITEM


def test_buf_curl_schema_stream_and_error(server: str) -> None:
    items = peers.buf_curl_stream(
        server,
        f"/{SERVICE}/ListItems",
        {"count": 2, "color": "COLOR_GREEN"},
        reflect=False,
        schema=PROTO_ROOT,
    )
    assert [(i["id"], i["color"]) for i in items] == [("1", "COLOR_GREEN"), ("2", "COLOR_GREEN")]
    assert peers.buf_curl(server, f"{SERVICE}/Ping", {}) == {"message": "pong"}
    with pytest.raises(peers.PeerCallError) as ei:
        peers.buf_curl(server, f"{SERVICE}/GetItem", {"id": MISSING_ID})
    assert ei.value.code == 5 and ei.value.details == f"no item {MISSING_ID}"


def test_buf_lint_and_breaking(tmp_path: Path) -> None:
    ok, output = peers.buf_lint(PROTO_ROOT)
    assert ok, output
    ok, output = peers.buf_breaking(PROTO_ROOT, PROTO_ROOT)
    assert ok, output

    # wire-breaking change: a field's type changes (string -> int64).
    new = tmp_path / "new"
    (new / "demo/sample/v1").mkdir(parents=True)
    src = (PROTO_ROOT / PROTO_FILE).read_text()
    (new / PROTO_FILE).write_text(src.replace("string name = 2;", "int64 name = 2;"))
    ok, output = peers.buf_breaking(new, PROTO_ROOT)
    assert not ok and "FIELD_WIRE_COMPATIBLE_TYPE" in output, output

    # a pure rename is wire-compatible but breaks the JSON mapping.
    (new / PROTO_FILE).write_text(src.replace("string name = 2;", "string title = 2;"))
    assert peers.buf_breaking(new, PROTO_ROOT)[0]
    ok, output = peers.buf_breaking(new, PROTO_ROOT, rules=("WIRE_JSON",))
    assert not ok and "FIELD_SAME_JSON_NAME" in output, output

    # MINIMAL lint catches a package/directory mismatch.
    bad = tmp_path / "bad"
    (bad / "wrong/dir").mkdir(parents=True)
    (bad / "wrong/dir/x.proto").write_text('syntax = "proto3";\npackage demo.x.v1;\n')
    ok, output = peers.buf_lint(bad)
    assert not ok and "PACKAGE_DIRECTORY_MATCH" in output, output


# ---------------------------------------------------------------------- betterproto

BETTERPROTO_CLIENT = textwrap.dedent(
    """
    import asyncio, datetime, json, sys
    import betterproto
    from grpclib.client import Channel
    from grpclib.exceptions import GRPCError
    import betterproto.lib.google.protobuf as wkt
    from demo.sample.v1 import (
        Color, GetItemRequest, Item, ListItemsRequest, SampleServiceStub)

    async def main(host, port, big_id):
        async with Channel(host, port) as ch:
            stub = SampleServiceStub(ch)
            it = await stub.get_item(GetItemRequest(id=big_id))
            assert isinstance(it, Item), type(it)
            assert isinstance(it.created_at, datetime.datetime), type(it.created_at)
            assert isinstance(it.ttl, datetime.timedelta), type(it.ttl)
            assert isinstance(it.attributes, wkt.Struct), type(it.attributes)
            # betterproto strips the enum-name prefix: COLOR_RED -> Color.RED
            assert it.color == Color.RED and isinstance(it.color, Color)
            print(json.dumps({
                "id": it.id, "name": it.name, "tags": list(it.tags),
                "color": Color(it.color).name,
                "created_at": it.created_at.isoformat(),
                "ttl": it.ttl.total_seconds(),
                "attributes": {
                    "k": it.attributes.fields["k"].string_value,
                    "n": it.attributes.fields["n"].number_value,
                    "ok": it.attributes.fields["ok"].bool_value,
                    "list": [betterproto.which_one_of(v, "kind")
                             for v in it.attributes.fields["list"].list_value.values],
                },
                "attributes_dict": it.attributes.to_dict(),
            }))
            ids = [m.id async for m in stub.list_items(
                ListItemsRequest(count=3, color=Color.GREEN))]
            print(json.dumps(ids))
            pong = await stub.ping(wkt.Empty())
            print(json.dumps(pong.message))
            try:
                await stub.get_item(GetItemRequest(id=404))
            except GRPCError as e:
                print(json.dumps({"code": e.status.value, "details": e.message}))

    host, port = sys.argv[1].rsplit(":", 1)
    asyncio.run(main(host, int(port), int(sys.argv[2])))
    """
)


def test_betterproto_client(server: str, tmp_path: Path) -> None:
    out = peers.betterproto_generate(PROTO_ROOT, [PROTO_FILE], tmp_path / "bp")
    assert (out / "demo/sample/v1/__init__.py").is_file()
    script = tmp_path / "bp_client.py"
    script.write_text(BETTERPROTO_CLIENT)
    env = {**os.environ, "PYTHONPATH": str(out)}
    proc = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", str(script), server, str(BIG_ID)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    item, ids, pong, err = [json.loads(x) for x in proc.stdout.splitlines()]
    assert item["id"] == BIG_ID and item["name"] == f"item-{BIG_ID}"
    assert item["tags"] == ["a", "b"] and item["color"] == "RED"
    assert item["created_at"] == "2023-11-14T22:13:20.500000+00:00"
    assert item["ttl"] == 90.0
    assert item["attributes"] == {
        "k": "v",
        "n": 1.5,
        "ok": True,
        "list": [["number_value", 1.0], ["string_value", "two"]],
    }
    # betterproto's Struct.to_dict(): map of Value JSON-ish dicts, no "fields" wrapper
    assert item["attributes_dict"]["k"] == {"stringValue": "v"}
    assert ids == [1, 2, 3]
    assert pong == "pong"
    assert err == {"code": 5, "details": f"no item {MISSING_ID}"}


# -------------------------------------------------------------------- missing tools


def test_missing_toolchain_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(peers, "DEBROOT", Path("/nonexistent"))
    with pytest.raises(peers.PeerToolMissing):
        peers.build_go_client(PROTO_ROOT, [PROTO_FILE], GO_MAIN, "/nonexistent")
    with pytest.raises(peers.PeerToolMissing):
        peers.node_call(PROTO_ROOT, PROTO_FILE, SERVICE, "Ping", {}, "127.0.0.1:1")
