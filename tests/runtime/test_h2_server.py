"""The `h2` transport's own HTTP/2 server against a misbehaving client.

A raw HTTP/2 client (the `h2` library over a socket) floods streams, sends oversized
headers, garbage, DATA for finished streams, or stops reading; each time the server
refuses or closes that stream or connection alone and goes on serving everyone else.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
from hyperframe.frame import DataFrame, HeadersFrame

from cello import GrpcConfig, GrpcServer

from .services import EVENTS, EchoService, event

ECHO = "/rt.v1.EchoService"
GRPC_HEADERS = [("content-type", "application/grpc"), ("te", "trailers")]


@pytest.fixture
async def server(stubs_dir: Path) -> AsyncIterator[GrpcServer]:
    EVENTS.clear()
    config = GrpcConfig(transport="h2", max_message_size=1024)
    srv = GrpcServer("127.0.0.1", 0, config, stubs_dir=stubs_dir)
    srv.register_service(EchoService())
    await srv.start()
    yield srv
    await srv.stop(0)


def frame(payload: bytes) -> bytes:
    return struct.pack(">BI", 0, len(payload)) + payload


class RawClient:
    """An HTTP/2 client that shows every event and sends whatever it is told."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.events: list[Any] = []
        self.closed = False

    @classmethod
    async def open(cls, port: int) -> RawClient:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def request(self, stream_id: int, path: str, body: bytes | None, **headers: str) -> None:
        request = [(":method", "POST"), (":scheme", "http"), (":authority", "x")]
        extra = [(k.replace("_", "-"), v) for k, v in headers.items()]
        self.conn.send_headers(stream_id, [*request, (":path", path), *GRPC_HEADERS, *extra])
        if body is not None:
            self.conn.send_data(stream_id, body, end_stream=True)

    def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())

    async def until(self, done: Any, timeout: float = 10) -> None:
        """Read and answer (acknowledging data) until `done(events)` or the server closes."""
        self.flush()
        async with asyncio.timeout(timeout):
            while not done(self.events):
                data = await self.reader.read(65536)
                if not data:
                    self.closed = True
                    return
                for event in self.conn.receive_data(data):
                    self.events.append(event)
                    if isinstance(event, h2.events.DataReceived):
                        self.conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                self.flush()

    def ended(self, stream_id: int) -> bool:
        return any(
            isinstance(e, h2.events.StreamEnded | h2.events.StreamReset)
            and e.stream_id == stream_id
            for e in self.events
        )

    def trailers(self, stream_id: int) -> dict[bytes, bytes]:
        for e in self.events:
            if isinstance(e, h2.events.TrailersReceived) and e.stream_id == stream_id:
                return dict(e.headers)
        return {}

    def resets(self) -> dict[int, int]:
        return {
            e.stream_id: e.error_code for e in self.events if isinstance(e, h2.events.StreamReset)
        }

    def close(self) -> None:
        self.writer.close()


async def still_serving(server: GrpcServer, pb: tuple[ModuleType, ModuleType]) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        reply = (
            await pb[1].EchoServiceStub(channel).Echo(pb[0].Ping(text="ok", count=1), timeout=10)
        )
    assert reply.count == 2


def ids(n: int, start: int = 1) -> Iterator[int]:
    return iter(range(start, start + 2 * n, 2))


async def test_a_stream_flood_is_refused_stream_by_stream(server: GrpcServer, pb: Any) -> None:
    """Streams beyond the advertised limit (sent before the client could read it) are
    refused alone with REFUSED_STREAM; the streams already open still complete."""
    client = await RawClient.open(server.port)
    try:
        streams = list(ids(110))
        for stream_id in streams:  # client-streaming calls, left open
            client.request(stream_id, f"{ECHO}/Sum", None)
        refused = streams[100:]
        await client.until(lambda _: all(s in client.resets() for s in refused))
        assert not client.closed, "the server closed the whole connection"
        assert {client.resets()[s] for s in refused} == {h2.errors.ErrorCodes.REFUSED_STREAM}
        assert not set(client.resets()) & set(streams[:100])
        client.conn.send_data(1, frame(pb[0].Ping(text="a", count=3).SerializeToString()))
        client.conn.end_stream(1)
        await client.until(lambda _: client.ended(1))
        assert client.trailers(1)[b"grpc-status"] == b"0"
    finally:
        client.close()
    await still_serving(server, pb)


async def test_an_oversized_header_list_closes_only_that_connection(
    server: GrpcServer, pb: Any
) -> None:
    client = await RawClient.open(server.port)
    try:
        client.request(1, f"{ECHO}/Echo", frame(b""), x_big="a" * 20_000)
        await client.until(
            lambda events: (
                client.ended(1)
                or bool(events)
                and any(isinstance(e, h2.events.ConnectionTerminated) for e in events)
            )
        )
        terminated = [e for e in client.events if isinstance(e, h2.events.ConnectionTerminated)]
        assert client.closed or terminated, "a 20 KB header list was accepted"
        assert not client.trailers(1), "the call ran"
    finally:
        client.close()
    await still_serving(server, pb)


@pytest.mark.parametrize(
    "garbage",
    [
        b"GARBAGE / HTTP/9\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
        b"\x16\x03\x01\x00\x05hello",
    ],
    ids=["not-http", "bad-preface", "tls-on-plaintext"],
)
async def test_garbage_closes_the_connection(server: GrpcServer, pb: Any, garbage: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(garbage)
        async with asyncio.timeout(5):
            while await reader.read(65536):
                pass  # whatever error the server answers, then end of file
    finally:
        writer.close()
    await still_serving(server, pb)


async def test_garbage_frames_after_the_preface_get_a_goaway(server: GrpcServer, pb: Any) -> None:
    client = await RawClient.open(server.port)
    try:
        client.flush()
        client.writer.write(b"\x00\x00\x04\x99\x00\x00\x00\x00\x00" + b"\x00" * 4)  # bad type
        client.writer.write(b"\x00\x00\x02\x04\x00\x00\x00\x00\x00zz")  # SETTINGS of 2 bytes
        await client.until(lambda _: False)
        assert client.closed
        terminated = [e for e in client.events if isinstance(e, h2.events.ConnectionTerminated)]
        assert terminated and terminated[0].error_code != 0
    finally:
        client.close()
    await still_serving(server, pb)


async def test_a_client_that_never_reads_blocks_nothing_else(server: GrpcServer, pb: Any) -> None:
    """A server stream to a client that stops reading fills the flow-control window and
    waits; other connections are served meanwhile, and `stop` still ends it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    request = [(":method", "POST"), (":scheme", "http"), (":authority", "x")]
    conn.send_headers(1, [*request, (":path", f"{ECHO}/Count"), *GRPC_HEADERS])
    big = pb[0].Ping(text="x" * 900, count=2000).SerializeToString()  # ~2 MB of replies
    conn.send_data(1, frame(big), end_stream=True)
    writer.write(conn.data_to_send())
    try:
        await asyncio.sleep(0.2)  # the server fills the 64 KiB window, then waits
        for _ in range(3):
            await still_serving(server, pb)
        received = len(await asyncio.wait_for(reader.read(1 << 20), 5))
        assert received < 200_000, "the server sent past the flow-control window"
    finally:
        writer.close()


async def test_data_after_the_response_ended_is_dropped(server: GrpcServer, pb: Any) -> None:
    """A call ends before its request does (a message over the limit): the request is
    reset with NO_ERROR, and the client's DATA still in flight spares the connection."""
    client = await RawClient.open(server.port)
    try:
        client.request(1, f"{ECHO}/Sum", None)
        client.conn.send_data(1, struct.pack(">BI", 0, 50_000))  # over max_message_size
        await client.until(lambda _: client.ended(1))
        assert client.trailers(1)[b"grpc-status"] == b"8"  # RESOURCE_EXHAUSTED
        await client.until(lambda _: 1 in client.resets())
        assert client.resets()[1] == h2.errors.ErrorCodes.NO_ERROR
        late = DataFrame(1)
        late.data = b"\x00" * 5000
        for _ in range(20):  # 100 KB: more than a connection window left unacknowledged
            client.writer.write(late.serialize())
        client.request(3, f"{ECHO}/Echo", frame(pb[0].Ping(text="b", count=4).SerializeToString()))
        await client.until(lambda _: client.ended(3))
        assert not client.closed
        assert client.trailers(3)[b"grpc-status"] == b"0"
    finally:
        client.close()


async def test_large_messages_cross_the_flow_control_windows(stubs_dir: Path, pb: Any) -> None:
    """Requests and replies larger than the 64 KiB stream windows flow both ways: the
    server acknowledges what the handler consumed and waits for the client's updates."""
    srv = GrpcServer("127.0.0.1", 0, GrpcConfig(transport="h2"), stubs_dir=stubs_dir)
    srv.register_service(EchoService())
    await srv.start()
    try:
        async with grpc.aio.insecure_channel(srv.address) as channel:
            stub = pb[1].EchoServiceStub(channel)
            text = "é" * 300_000  # 600 KB each way
            replies = await asyncio.gather(
                *(stub.Echo(pb[0].Ping(text=text, count=i), timeout=20) for i in range(4))
            )
            assert [(r.text == text, r.count) for r in replies] == [(True, i + 1) for i in range(4)]
            pings = [pb[0].Ping(text="x" * 70_000, count=1) for _ in range(5)]
            total = await stub.Sum(iter(pings), timeout=20)
            assert total.count == 5 and len(total.text) == 5 * 70_000 + 4
    finally:
        await srv.stop(0)


async def test_rapid_reset_spares_the_server(server: GrpcServer, pb: Any) -> None:
    """Thousands of streams opened and reset at once (CVE-2023-44487's pattern): past the
    reset rate limit the connection gets GOAWAY ENHANCE_YOUR_CALM, and
    the server goes on serving everyone else."""
    client = await RawClient.open(server.port)
    try:
        for stream_id in ids(2000):
            client.request(stream_id, f"{ECHO}/Slow", None)
            client.conn.reset_stream(stream_id)
        await client.until(
            lambda _: any(isinstance(e, h2.events.ConnectionTerminated) for e in client.events),
            timeout=30,
        )
        terminated = [e for e in client.events if isinstance(e, h2.events.ConnectionTerminated)]
        assert terminated[0].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    finally:
        client.close()
    await still_serving(server, pb)


async def test_a_settings_flood_gets_goaway(server: GrpcServer, pb: Any) -> None:
    """SETTINGS frames past the control-frame rate limit: GOAWAY ENHANCE_YOUR_CALM."""
    client = await RawClient.open(server.port)
    try:
        for _ in range(3000):
            client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
        await client.until(
            lambda _: any(isinstance(e, h2.events.ConnectionTerminated) for e in client.events),
            timeout=30,
        )
        terminated = [e for e in client.events if isinstance(e, h2.events.ConnectionTerminated)]
        assert terminated[0].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    finally:
        client.close()
    await still_serving(server, pb)


async def test_stop_refuses_new_streams_and_lets_open_ones_finish(
    server: GrpcServer, pb: Any
) -> None:
    """`stop(grace)`: GOAWAY naming the last stream served, REFUSED_STREAM for a stream
    opened after it, and the open call completes."""
    client = await RawClient.open(server.port)
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            slow = pb[1].EchoServiceStub(channel).Slow(pb[0].Ping(count=500), timeout=10)
            started = asyncio.ensure_future(slow)
            client.request(1, f"{ECHO}/Slow", frame(pb[0].Ping(count=500).SerializeToString()))
            await client.until(lambda _: event("slow-started").is_set())
            await asyncio.sleep(0.1)  # both calls are in their handlers
            stopping = asyncio.create_task(server.stop(5))
            await client.until(
                lambda events: any(isinstance(e, h2.events.ConnectionTerminated) for e in events)
            )
            goaway = next(e for e in client.events if isinstance(e, h2.events.ConnectionTerminated))
            assert (goaway.error_code, goaway.last_stream_id) == (0, 1)
            # h2's client will not open a stream after a GOAWAY: send one by hand
            block = client.conn.encoder.encode(
                [
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", f"{ECHO}/Echo"),
                    (":authority", "x"),
                    *GRPC_HEADERS,
                ]
            )
            headers = HeadersFrame(3, data=block, flags=["END_HEADERS", "END_STREAM"])
            client.writer.write(headers.serialize())
            frames = await raw_frames(client.reader)
            assert (3, h2.errors.ErrorCodes.REFUSED_STREAM) in frames["resets"]
            assert (await started).text == "slow"
            await stopping
    finally:
        client.close()


async def raw_frames(reader: asyncio.StreamReader) -> dict[str, list[Any]]:
    """The frames the server sends until it closes, parsed by hand (h2 stops after GOAWAY)."""
    buffer, resets = b"", []
    async with asyncio.timeout(10):
        while data := await reader.read(65536):
            buffer += data
            while len(buffer) >= 9:
                length = int.from_bytes(buffer[:3], "big")
                if len(buffer) < 9 + length:
                    break
                kind, stream_id = buffer[3], int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
                if kind == 3:  # RST_STREAM
                    resets.append((stream_id, int.from_bytes(buffer[9:13], "big")))
                buffer = buffer[9 + length :]
    return {"resets": resets}


async def test_an_idle_connection_is_closed(stubs_dir: Path) -> None:
    config = GrpcConfig(transport="h2", web_body_timeout=0.3)
    srv = GrpcServer("127.0.0.1", 0, config, stubs_dir=stubs_dir)
    srv.register_service(EchoService())
    await srv.start()
    try:
        client = await RawClient.open(srv.port)
        try:
            await client.until(lambda _: False, timeout=10)  # read until the server closes
            assert client.closed
            goaway = [e for e in client.events if isinstance(e, h2.events.ConnectionTerminated)]
            assert goaway and goaway[0].error_code == 0
        finally:
            client.close()
    finally:
        await srv.stop(0)
