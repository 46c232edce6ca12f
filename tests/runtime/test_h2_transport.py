"""`GrpcConfig(transport="h2")`: native gRPC, gRPC-Web and Connect on one port.

Called over the wire by grpcio's client, by a raw HTTP/2 client (the `h2` library, to see
frames and trailers grpcio hides), by httpx for the web protocols, and (marked `peer`)
by Go's grpc, Node's grpc-js and `buf curl`.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import struct
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio
import h2.config
import h2.connection
import h2.events
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cello import GrpcConfig, GrpcServer

from ..tls.certs import server_cert
from ..tls.conftest import Pki, pki, tls_stubs  # noqa: F401  (fixtures)
from .services import EVENTS, EchoService, event

ECHO = "/rt.v1.EchoService"


@pytest.fixture
async def server(stubs_dir: Path) -> AsyncIterator[GrpcServer]:
    EVENTS.clear()
    srv = GrpcServer(
        "127.0.0.1", 0, GrpcConfig(transport="h2", reflection=True), stubs_dir=stubs_dir
    )
    srv.register_service(EchoService())
    await srv.start()
    yield srv
    await srv.stop(0)


@pytest.fixture
async def echo(server: GrpcServer, pb: tuple[ModuleType, ModuleType]) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(server.address) as channel:
        yield pb[1].EchoServiceStub(channel)


def frame(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def unframe(body: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(body):
        flags, length = struct.unpack_from(">BI", body, pos)
        out.append((flags, body[pos + 5 : pos + 5 + length]))
        pos += 5 + length
    return out


@dataclass
class Exchange:
    """One HTTP/2 response as the frames carried it."""

    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    trailers: dict[str, str] = field(default_factory=dict)
    headers_ended_stream: bool = False


async def raw_h2(port: int, path: str, body: bytes, headers: dict[str, str]) -> Exchange:
    """One request over h2c with prior knowledge; the response's headers, body, trailers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    request = [(":method", "POST"), (":scheme", "http"), (":authority", "x"), (":path", path)]
    conn.send_headers(1, request + list(headers.items()))
    conn.send_data(1, body, end_stream=True)
    writer.write(conn.data_to_send())
    result, done = Exchange(), False
    try:
        while not done:
            data = await asyncio.wait_for(reader.read(65536), 10)
            assert data, "the server closed the connection"
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    result.headers = {k.decode(): v.decode() for k, v in ev.headers}
                    result.headers_ended_stream = ev.stream_ended is not None
                elif isinstance(ev, h2.events.DataReceived):
                    result.body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, 1)
                elif isinstance(ev, h2.events.TrailersReceived):
                    result.trailers = {k.decode(): v.decode() for k, v in ev.headers}
                elif isinstance(ev, h2.events.StreamEnded | h2.events.StreamReset):
                    done = True
            writer.write(conn.data_to_send())
    finally:
        writer.close()
    return result


GRPC_HEADERS = {"content-type": "application/grpc", "te": "trailers"}


async def test_four_call_shapes_over_grpcio(echo: Any, pb: Any) -> None:
    rt = pb[0]
    assert (await echo.Echo(rt.Ping(text="hi", count=1))).count == 2
    counted = [p.count async for p in echo.Count(rt.Ping(text="c", count=3))]
    assert counted == [0, 1, 2]
    total = await echo.Sum(iter([rt.Ping(text="a", count=2), rt.Ping(text="b", count=5)]))
    assert (total.text, total.count) == ("a,b", 7)


async def test_bidi_is_full_duplex(echo: Any, pb: Any) -> None:
    """Each reply arrives before the next request is sent: the server reads the request
    stream while it writes the response."""
    call = echo.Shout()
    for text in ("one", "two", "three"):
        await call.write(pb[0].Ping(text=text))
        reply = await asyncio.wait_for(call.read(), 5)
        assert reply.text == text.upper()
    await call.done_writing()
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_metadata_binary_metadata_and_trailers(echo: Any, pb: Any) -> None:
    metadata = (("x-id", "7"), ("x-raw-bin", b"\x00\xff"))
    reply = await echo.Inspect(pb[0].Ping(text="m"), metadata=metadata)
    assert reply.seen["x-id"] == "7" and reply.seen["x-raw-bin"] == str(b"\x00\xff")
    assert reply.seen["peer"].startswith("ipv4:127.0.0.1:")
    call = echo.Fail(pb[0].Ping(text="with-metadata"))
    assert (await call).text == "meta"
    assert ("x-request-id", "abc123") in tuple(await call.initial_metadata())
    assert ("x-trailer", "t1") in tuple(await call.trailing_metadata())


async def test_status_goes_in_http2_trailers(server: GrpcServer) -> None:
    ok = await raw_h2(server.port, f"{ECHO}/Echo", frame(b""), GRPC_HEADERS)
    assert ok.headers[":status"] == "200" and ok.headers["content-type"] == "application/grpc"
    assert ok.trailers["grpc-status"] == "0" and "grpc-status" not in ok.headers
    assert len(unframe(ok.body)) == 1
    failed = await raw_h2(server.port, f"{ECHO}/Nope", frame(b""), GRPC_HEADERS)
    assert failed.trailers["grpc-status"] == str(grpc.StatusCode.UNIMPLEMENTED.value[0])
    assert failed.body == b""


async def test_deadline(echo: Any, pb: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await echo.Slow(pb[0].Ping(count=5000), timeout=0.2)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    reply = await echo.Inspect(pb[0].Ping(text="d"), timeout=30)
    assert reply.HasField("remaining") and 0 < reply.remaining <= 31  # grpc rounds up


async def test_cancellation_reaches_the_handler(echo: Any, pb: Any) -> None:
    call = echo.Forever(pb[0].Ping())
    assert (await call.read()).text == "tick"
    call.cancel()  # RST_STREAM
    await asyncio.wait_for(event("forever-cancelled").wait(), 5)


async def test_bad_request_is_invalid_argument(server: GrpcServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        echo = channel.unary_unary(f"{ECHO}/Echo")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await echo(b"\xff\xff\xff", timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = await raw_h2(server.port, f"{ECHO}/Echo", b"\x00\x00", GRPC_HEADERS)
    assert bad.trailers["grpc-status"] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0])


async def test_internal_error_leaks_no_text(echo: Any, pb: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await echo.Fail(pb[0].Ping(text="boom"))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "hunter2" not in (info.value.details() or "")


async def test_too_large_is_resource_exhausted_and_spares_the_connection(
    stubs_dir: Path, pb: Any
) -> None:
    """The call ends while its request is still arriving; the rest of the request must
    not break the connection's other calls."""
    config = GrpcConfig(transport="h2", max_message_size=1000, health=False)
    srv = GrpcServer("127.0.0.1", 0, config, stubs_dir=stubs_dir)
    srv.register_service(EchoService())
    await srv.start()
    options = [("grpc.max_send_message_length", 10_000_000)]
    try:
        async with grpc.aio.insecure_channel(srv.address, options=options) as channel:
            stub = pb[1].EchoServiceStub(channel)
            ticks = stub.Forever(pb[0].Ping())
            assert (await ticks.read()).text == "tick"
            for blob in (b"x" * 5000, b"x" * 3_000_000):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stub.Size(pb[0].Blob(data=blob), timeout=10)
                assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Sum(iter([pb[0].Ping(text="x" * 3_000_000)]), timeout=10)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert (await ticks.read()).text == "tick"  # the same connection still serves
            ticks.cancel()
            assert (await stub.Size(pb[0].Blob(data=b"y" * 100))).data == b"y" * 10
    finally:
        await srv.stop(0)


async def test_gzip_both_ways(stubs_dir: Path, pb: Any) -> None:
    config = GrpcConfig(transport="h2", compression="gzip", health=False)
    srv = GrpcServer("127.0.0.1", 0, config, stubs_dir=stubs_dir)
    srv.register_service(EchoService())
    await srv.start()
    try:
        request = pb[0].Ping(text="z" * 500).SerializeToString()
        headers = {**GRPC_HEADERS, "grpc-encoding": "gzip", "grpc-accept-encoding": "gzip"}
        got = await raw_h2(srv.port, f"{ECHO}/Echo", frame(gzip.compress(request), 1), headers)
        assert got.headers["grpc-encoding"] == "gzip" and got.trailers["grpc-status"] == "0"
        [(flags, payload)] = unframe(got.body)
        assert flags == 1
        assert pb[0].Pong.FromString(gzip.decompress(payload)).text == "z" * 500
        async with grpc.aio.insecure_channel(srv.address) as channel:
            stub = pb[1].EchoServiceStub(channel)
            reply = await stub.Echo(pb[0].Ping(text="q"), compression=grpc.Compression.Gzip)
            assert reply.text == "q"
    finally:
        await srv.stop(0)


async def test_grpc_grpc_web_and_connect_share_the_port(server: GrpcServer, pb: Any) -> None:
    request = pb[0].Ping(text="web", count=4).SerializeToString()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:  # one port
        web = await client.post(
            f"{ECHO}/Echo",
            content=frame(request),
            headers={"content-type": "application/grpc-web+proto"},
        )
        [(_, payload), (flags, status)] = unframe(web.content)
        assert pb[0].Pong.FromString(payload).count == 5 and b"grpc-status: 0" in status
        connect = await client.post(
            f"{ECHO}/Echo",
            json={"text": "c", "count": 1},
            headers={"connect-protocol-version": "1"},
        )
        assert connect.json() == {"text": "c", "count": "2"}  # int64: a JSON string
        plain = await client.post(f"{ECHO}/Echo", content=frame(request), headers=GRPC_HEADERS)
        assert plain.status_code == 400 and b"HTTP/2" in plain.content  # HTTP/1.1: no trailers
    async with grpc.aio.insecure_channel(server.address) as channel:
        assert (await pb[1].EchoServiceStub(channel).Echo(pb[0].Ping(count=1))).count == 2


async def test_health_check_watch_and_reflection(server: GrpcServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        checked = await health.Check(health_pb2.HealthCheckRequest(service="rt.v1.EchoService"))
        assert checked.status == health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest())
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.create_task(server.stop(5, drain_delay=0.3))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()
        await stopping

    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError):  # stopped: nothing answers
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )


async def test_reflection_v1alpha_lists_services(server: GrpcServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = stub.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        listed = await call.read()
        names = {s.name for s in listed.list_services_response.service}
        assert {"rt.v1.EchoService", "grpc.health.v1.Health"} <= names
        await call.write(
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="rt.v1.EchoService")
        )
        assert (await call.read()).file_descriptor_response.file_descriptor_proto
        await call.done_writing()


# ------------------------------------------------------------------- TLS


async def test_tls_alpn_h2_mtls_identity_and_web_on_one_port(
    pki: Pki,  # noqa: F811
    tls_stubs: Path,  # noqa: F811
) -> None:
    """ALPN picks h2 for gRPC and http/1.1 for gRPC-Web, on the same TLS port; the client
    certificate reaches the handler; a reloaded certificate reaches new connections."""
    from cello.grpc import ClientTls, GrpcChannel

    from ..tls.conftest import served_certificate, start, tls_config

    server = await start(tls_config(pki, mtls=True), tls_stubs, transport="h2")
    try:
        served = asyncio.to_thread  # a blocking handshake, off the server's loop
        before = await served(served_certificate, server.port, pki.ca, alpn="h2")
        assert await served(served_certificate, server.port, pki.ca, alpn="http/1.1") == before
        tls = ClientTls(
            ca=pki.ca.cert_path, cert_chain=pki.alice.cert_path, private_key=pki.alice.key_path
        )
        async with await GrpcChannel.connect(server.address, tls=tls) as channel:
            who = (await channel.call("tlstest.v1.VaultService", "Whoami", {})).data
        assert (who["common_name"], who["verified"]) == ("alice", True)
        context = ssl.create_default_context(cafile=str(pki.ca.cert_path))
        context.load_cert_chain(pki.alice.cert_path, pki.alice.key_path)
        url = f"https://localhost:{server.port}"
        async with httpx.AsyncClient(base_url=url, verify=context) as client:
            web = await client.post(
                "/tlstest.v1.VaultService/Whoami",
                content=frame(b""),
                headers={"content-type": "application/grpc-web+proto"},
            )
        assert web.http_version == "HTTP/1.1" and b"alice" in web.content
        renewed = server_cert(pki.ca, pki.folder / "renewed")
        pki.server.cert_path.write_bytes(renewed.cert_path.read_bytes())
        pki.server.key_path.write_bytes(renewed.key_path.read_bytes())
        assert server.reload_tls()
        assert await served(served_certificate, server.port, pki.ca, alpn="h2") != before
    finally:
        await server.stop(0)


# ------------------------------------------------------------------- peers


REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = REPO / "tests" / "interop" / "peers"
LIBRARY_PROTO = "demo/library/v1/library.proto"
GO_MAIN = REPO / "tests" / "interop" / "go" / "main.go"


@dataclass(frozen=True)
class Served:
    address: str
    out: Path


@pytest.fixture(scope="module")
def library_h2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`examples.library` on transport h2 (reflection on), on a loop in a thread."""
    from cello.codegen.cli import main as cello_gen
    from tests.loop_thread import LoopThread

    for path in (REPO, PEERS_DIR):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    out = tmp_path_factory.mktemp("h2-library")
    assert cello_gen(["build", "examples.library", "--out", str(out)]) == 0
    from examples.library import LibraryService

    config = GrpcConfig(transport="h2", reflection=True)
    server = GrpcServer("127.0.0.1", 0, config, stubs_dir=out)
    server.register_service(LibraryService())
    loop = LoopThread()
    try:
        loop.run(server.start())
        yield Served(server.address, out)
        loop.run(server.stop(0))
    finally:
        loop.close()


@pytest.mark.peer
def test_go_client_four_shapes_and_a_status(
    library_h2: Served, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import json
    import subprocess

    import peers  # type: ignore[import-not-found]

    binary = peers.build_go_client(
        library_h2.out, [LIBRARY_PROTO], GO_MAIN, tmp_path_factory.mktemp("h2-go")
    )

    def go(*args: str, ok: bool = True) -> list[Any]:
        proc = subprocess.run(
            [str(binary), library_h2.address, *args], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == (0 if ok else 1), proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines()]

    assert go("getbook", "978-0")[0]["title"] == "Dune"
    assert go("getbook", "nope", ok=False) == [{"code": 5, "details": "no book nope"}]
    assert len(go("listbooks", "GENRE_FICTION")) >= 1
    assert go("returnbooks", "ann", "bob")[0]["count"] == 2
    assert [loan["member"] for loan in go("chat", "ann", "bob")] == ["ANN", "BOB"]


@pytest.mark.peer
def test_grpc_js_unary_and_bidi(library_h2: Served) -> None:
    import peers

    service = "demo.library.v1.LibraryService"
    [book] = peers.node_call(
        library_h2.out, LIBRARY_PROTO, service, "GetBook", {"isbn": "978-0"}, library_h2.address
    )
    assert book["title"] == "Dune"
    with pytest.raises(peers.PeerCallError) as info:
        peers.node_call(
            library_h2.out, LIBRARY_PROTO, service, "GetBook", {"isbn": "no"}, library_h2.address
        )
    assert info.value.code == 5
    when = {"seconds": "1700000000", "nanos": 0}
    loans = [{"isbn": "978-0", "member": m, "when": when} for m in ("ann", "bob")]
    chat = peers.node_call(
        library_h2.out,
        LIBRARY_PROTO,
        service,
        "Chat",
        loans,
        library_h2.address,
        "bidi_stream",
    )
    assert [loan["member"] for loan in chat] == ["ANN", "BOB"]


@pytest.mark.peer
def test_buf_curl_over_reflection_v1(library_h2: Served) -> None:
    import peers

    book = peers.buf_curl(
        library_h2.address,
        "demo.library.v1.LibraryService/GetBook",
        {"isbn": "978-0"},
        reflect_protocol="grpc-v1",
    )
    assert book["title"] == "Dune"
