"""Real Connect clients against a real server: Debian's `curl`, `buf curl --protocol
connect` (schema from the server's FileDescriptorSet route), and the Python `connectrpc`
client with code generated from the `.proto` cello-gen emits.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import connect_service as probe
import pytest
from grpc_tools import protoc

from cello import GrpcConfig, GrpcServer
from examples.library import LibraryService
from tests.loop_thread import LoopThread

pytestmark = pytest.mark.peer

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUF = REPO / "tests" / "interop" / "peers" / "node_modules" / ".bin" / "buf"
SVC = "connecttest.v1.ConnectProbe"
LIBRARY = "demo.library.v1.LibraryService"
SCHEMA = "/cello.schema.v1/FileDescriptorSet.binpb"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = GrpcServer("127.0.0.1", 0, GrpcConfig(enable_web=True, web_port=0))
    server.register_service(probe.ConnectProbe())
    server.register_service(LibraryService())
    loop = LoopThread()
    try:
        loop.run(server.start())
        yield f"http://127.0.0.1:{server.web_port}"
        loop.run(server.stop(0))
    finally:
        loop.close()


def _tool(name: str, path: Path | None = None) -> str:
    found = str(path) if path is not None and path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is required (see .ci/install-peers.sh)")
    return found


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, capture_output=True, timeout=60, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]


# -- curl ---------------------------------------------------------------------------


def test_curl_unary_json(url: str) -> None:
    proc = _run(
        [_tool("curl"), "-sS", "-H", "content-type: application/json", "-d", '{"itemId": "7"}']
        + [f"{url}/{SVC}/Lookup"]
    )
    assert proc.returncode == 0, proc.stderr
    item = json.loads(proc.stdout)
    assert item["itemId"] == "7" and item["displayName"] == "item 7"


def test_curl_not_found_error_body(url: str) -> None:
    proc = _run(
        [_tool("curl"), "-sS", "-w", "\n%{http_code}", "-H", "content-type: application/json"]
        + ["-d", '{"isbn": "nope"}', f"{url}/{LIBRARY}/GetBook"]
    )
    body, status = proc.stdout.decode().rsplit("\n", 1)
    assert status == "404"
    assert json.loads(body) == {"code": "not_found", "message": "no book nope"}


def test_curl_server_stream(url: str) -> None:
    request = b'{"n": 3}'
    proc = _run(
        [_tool("curl"), "-sS", "-H", "content-type: application/connect+json"]
        + ["--data-binary", "@-", f"{url}/{SVC}/Countdown"],
        input=struct.pack(">BI", 0, len(request)) + request,
    )
    body, messages, end, pos = proc.stdout, [], None, 0
    while pos < len(body):
        flags, length = struct.unpack_from(">BI", body, pos)
        chunk = json.loads(body[pos + 5 : pos + 5 + length])
        pos += 5 + length
        if flags & 0x02:
            end = chunk
        else:
            messages.append(chunk)
    assert [m.get("i", "0") for m in messages] == ["0", "1", "2"]
    assert end == {"metadata": {"x-counted": ["3"]}}


def test_curl_get_side_effect_free(url: str) -> None:
    proc = _run(
        [_tool("curl"), "-sS", "-G", "--data-urlencode", 'message={"itemId": "4"}']
        + ["-d", "encoding=json", f"{url}/{SVC}/Lookup"]
    )
    assert json.loads(proc.stdout)["displayName"] == "item 4"


# -- buf curl -----------------------------------------------------------------------


def _buf_curl(url: str, method: str, data: str, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return _run(
        [_tool("buf", BUF), "curl", "--protocol", "connect", "--schema", url + SCHEMA]
        + [*extra, "-d", data, f"{url}/{method}"]
    )


def test_buf_curl_connect_unary_and_stream(url: str) -> None:
    proc = _buf_curl(url, f"{SVC}/Lookup", '{"itemId": "9"}', "-v")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["displayName"] == "item 9"
    assert b"Content-Type: application/proto" in proc.stderr  # buf curl sends binary
    stream = _buf_curl(url, f"{SVC}/Countdown", '{"n": 2}')
    assert stream.returncode == 0, stream.stderr
    decoder, text, ticks = json.JSONDecoder(), stream.stdout.decode().strip(), []
    while text:
        value, end = decoder.raw_decode(text)
        ticks.append(value)
        text = text[end:].strip()
    assert [t.get("i", "0") for t in ticks] == ["0", "1"]


def test_buf_curl_connect_json_and_error(url: str) -> None:
    # buf curl speaks the binary codec; JSON is what it prints, checked against the mapping
    proc = _buf_curl(url, f"{LIBRARY}/GetBook", '{"isbn": "978-1"}')
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["genre"].endswith("SCIENCE")
    missing = _buf_curl(url, f"{LIBRARY}/GetBook", '{"isbn": "x"}')
    assert missing.returncode != 0
    assert json.loads(missing.stderr) == {"code": "not_found", "message": "no book x"}


# -- the connectrpc Python client ---------------------------------------------------


def test_connectrpc_client_with_generated_code(url: str, tmp_path: Path) -> None:
    plugin = _tool("protoc-gen-connectrpc")
    proto_root = tmp_path / "proto"
    gen = subprocess.run(
        [sys.executable, "-m", "cello.codegen.cli", "build", "connect_service"]
        + ["--out", str(proto_root)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])},
    )
    assert gen.returncode == 0, gen.stderr
    out = tmp_path / "gen"
    out.mkdir()
    wkt = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{proto_root}",
            f"-I{wkt}",
            f"--python_out={out}",
            f"--plugin=protoc-gen-connectrpc={plugin}",
            f"--connectrpc_out={out}",
            "--connectrpc_opt=protobuf=google",
            "connecttest/v1/connecttest.proto",
        ]
    )
    assert code == 0
    proc = subprocess.run(
        [sys.executable, str(HERE / "peers" / "connectrpc_client.py"), url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(out)},
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    for codec in ("proto", "json"):
        assert seen[f"{codec}.lookup"] == [7, "item 7", 1714979289]
        assert seen[f"{codec}.get"] == "item 8"
        assert seen[f"{codec}.not_found"] == ["NOT_FOUND", "no item -1"]
        assert seen[f"{codec}.countdown"] == [0, 1, 2]
        assert seen[f"{codec}.gather"] == "UNIMPLEMENTED"
