"""gRPC-Web over real HTTP against a real `GrpcServer(enable_web=True)` serving Cello services.

Each test starts a server on port 0 (gRPC and gRPC-Web) and calls it with httpx; where it
matters the same call also goes over native gRPC, and the two must agree.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import struct
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
import web_probe_service as probe
from google.protobuf import json_format, struct_pb2

from cello import App, GrpcConfig, GrpcServer, GrpcWebApp
from cello._transports.uvicorn import serve_web
from examples.library import LibraryService

MAX = 64 * 1024
ORIGIN = "http://page.example:3000"
LIBRARY = "demo.library.v1.LibraryService"
PROBE = "cello.webtest.v1.ProbeService"
BINARY, TEXT = "application/grpc-web+proto", "application/grpc-web-text+proto"


@pytest.fixture
async def server() -> AsyncIterator[GrpcServer]:
    probe.STATE.clear()
    config = GrpcConfig(
        enable_web=True, web_port=0, max_message_size=MAX, web_origins=(ORIGIN,), health=False
    )
    srv = GrpcServer("127.0.0.1", 0, config)
    srv.register_service(LibraryService())
    srv.register_service(probe.ProbeService())
    await srv.start()
    yield srv
    await srv.stop(0)


@pytest.fixture
async def client(server: GrpcServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.web_port}", timeout=10) as c:
        yield c


@pytest.fixture
async def channel(server: GrpcServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as ch:
        yield ch


def types(server: GrpcServer, service: str, method: str) -> tuple[Any, Any]:
    """The generated request and response classes of one rpc."""
    (binding,) = [m for m in server.bindings[service].methods if m.name == method]
    return binding.request_type, binding.response_type


# -- the gRPC-Web wire, decoded independently of cello._web -----------------------


def frame(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


@dataclass
class Reply:
    """A decoded gRPC-Web response."""

    http: httpx.Response
    messages: list[bytes]
    trailers: dict[str, str]  # the trailer frame, or the headers of a trailers-only reply
    trailers_only: bool

    @property
    def code(self) -> int:
        return int(self.trailers["grpc-status"])

    @property
    def message(self) -> str:
        return urllib.parse.unquote(self.trailers.get("grpc-message", ""))


def decode(response: httpx.Response) -> Reply:
    body = response.content
    if response.headers["content-type"].startswith("application/grpc-web-text"):
        # one base64 chunk per frame: split after each run of padding
        body = b"".join(base64.b64decode(c) for c in re.findall(rb"[^=]+=*|=+", body))
    messages, trailers, pos = [], None, 0
    while pos < len(body):
        flags, length = struct.unpack_from(">BI", body, pos)
        chunk = body[pos + 5 : pos + 5 + length]
        assert len(chunk) == length, "truncated response frame"
        assert trailers is None, "a frame after the trailer frame"
        pos += 5 + length
        if flags & 0x80:
            lines = chunk.decode("ascii").split("\r\n")
            trailers = dict(line.split(": ", 1) for line in lines if line)
        else:
            messages.append(chunk)
    if trailers is None:
        assert not messages, "data frames without a trailer frame"
        return Reply(response, [], dict(response.headers), True)
    return Reply(response, messages, trailers, False)


async def call(
    client: httpx.AsyncClient,
    path: str,
    request: bytes | Any,
    *,
    text: bool = False,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    raw = request if isinstance(request, bytes) else request.SerializeToString()
    content = frame(raw) if body is None else body
    if text and body is None:
        content = base64.b64encode(content)
    sent = {"content-type": TEXT if text else BINARY, "x-grpc-web": "1", **(headers or {})}
    response = await client.post(path, content=content, headers=sent)
    assert response.status_code == 200, response.text
    return decode(response)


@dataclass
class Native:
    code: grpc.StatusCode
    details: str
    messages: list[bytes]
    trailing: dict[str, Any]


async def native(
    channel: grpc.aio.Channel, path: str, request: Any, *, stream: bool = False, **kwargs: Any
) -> Native:
    """The same call over native gRPC, as raw bytes."""
    raw = request if isinstance(request, bytes) else request.SerializeToString()
    multi = channel.unary_stream(path) if stream else channel.unary_unary(path)
    call = multi(raw, **kwargs)
    messages = []
    try:
        if stream:
            messages = [m async for m in call]
        else:
            messages = [await call]
    except grpc.aio.AioRpcError as exc:
        return Native(exc.code(), exc.details() or "", messages, dict(exc.trailing_metadata()))
    return Native(
        await call.code(), await call.details(), messages, dict(await call.trailing_metadata())
    )


# -- calls of the typed example service ------------------------------------------


@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
async def test_unary_typed_call_matches_native_grpc(
    server: GrpcServer, client: httpx.AsyncClient, channel: grpc.aio.Channel, text: bool
) -> None:
    request_type, book_type = types(server, LIBRARY, "GetBook")
    path = f"/{LIBRARY}/GetBook"
    reply = await call(client, path, request_type(isbn="978-0"), text=text)
    expected = "application/grpc-web-text+proto" if text else "application/grpc-web+proto"
    assert reply.http.headers["content-type"] == expected
    assert not reply.trailers_only and "grpc-status" not in reply.http.headers
    assert (reply.code, reply.message) == (0, "")
    (raw,) = reply.messages
    book = book_type.FromString(raw)
    assert (book.title, book.pages, book.authors[0].name) == ("Dune", 412, "Frank Herbert")
    assert book.authors[0].born.ToJsonString() == "1920-10-08T00:00:00Z"
    assert dict(book.tags) == {"series": "Dune"}
    assert book.loan_period.ToSeconds() == 14 * 86400
    assert [raw] == (await native(channel, path, request_type(isbn="978-0"))).messages


@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
async def test_server_streaming_typed_call(
    server: GrpcServer, client: httpx.AsyncClient, channel: grpc.aio.Channel, text: bool
) -> None:
    request_type, book_type = types(server, LIBRARY, "ListBooks")
    path = f"/{LIBRARY}/ListBooks"
    science = request_type(
        genre=request_type.DESCRIPTOR.fields_by_name["genre"]
        .enum_type.values_by_name["GENRE_SCIENCE"]
        .number
    )
    reply = await call(client, path, science, text=text)
    assert reply.code == 0
    assert [book_type.FromString(m).title for m in reply.messages] == ["Cosmos"]
    assert reply.messages == (await native(channel, path, science, stream=True)).messages


async def test_untyped_struct_method(client: httpx.AsyncClient) -> None:
    reply = await call(client, f"/{LIBRARY}/Describe", struct_pb2.Struct())
    (raw,) = reply.messages
    assert json_format.MessageToDict(struct_pb2.Struct.FromString(raw)) == {
        "books": 2,
        "name": "demo",
    }


async def test_many_stream_items_then_trailers(
    server: GrpcServer, client: httpx.AsyncClient
) -> None:
    request_type, seen_type = types(server, PROBE, "Count")
    reply = await call(client, f"/{PROBE}/Count", request_type(text="item", size=50), text=True)
    assert [seen_type.FromString(m).text for m in reply.messages] == [
        f"item-{i}" for i in range(50)
    ]
    assert reply.code == 0


# -- status codes -------------------------------------------------------------------


@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
async def test_not_found_is_a_trailers_only_status_like_native(
    server: GrpcServer, client: httpx.AsyncClient, channel: grpc.aio.Channel, text: bool
) -> None:
    request_type, _ = types(server, LIBRARY, "GetBook")
    path = f"/{LIBRARY}/GetBook"
    reply = await call(client, path, request_type(isbn="nope"), text=text)
    assert reply.trailers_only and reply.messages == []
    assert (reply.code, reply.message) == (5, "no book nope")
    expected = await native(channel, path, request_type(isbn="nope"))
    assert (expected.code, expected.details) == (grpc.StatusCode.NOT_FOUND, "no book nope")


async def test_error_mid_stream_keeps_the_items_sent(
    server: GrpcServer, client: httpx.AsyncClient
) -> None:
    request_type, seen_type = types(server, PROBE, "Count")
    reply = await call(client, f"/{PROBE}/Count", request_type(text="fail", size=2))
    assert [seen_type.FromString(m).text for m in reply.messages] == ["fail-0", "fail-1"]
    assert (reply.code, reply.message) == (11, "stopped after 2")


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("with-metadata", 7, "go away"),
        ("response-error", 9, "not yet"),
        ("boom", 13, "Internal server error"),
    ],
    ids=["grpc-error", "grpc-response-error", "unexpected-exception"],
)
async def test_handler_errors_match_native(
    server: GrpcServer,
    client: httpx.AsyncClient,
    channel: grpc.aio.Channel,
    caplog: pytest.LogCaptureFixture,
    text: str,
    code: int,
    message: str,
) -> None:
    request_type, _ = types(server, PROBE, "Fail")
    path = f"/{PROBE}/Fail"
    with caplog.at_level(logging.ERROR, logger="cello"):
        reply = await call(client, path, request_type(text=text))
    assert (reply.code, reply.message) == (code, message)
    assert "hunter2" not in str(reply.http.headers)
    expected = await native(channel, path, request_type(text=text))
    assert (expected.code.value[0], expected.details) == (code, message)
    if text == "with-metadata":
        assert reply.trailers["x-reason"] == expected.trailing["x-reason"] == "policy"
    if text == "boom":
        assert "hunter2" in caplog.text  # the server log keeps the cause


# -- metadata ----------------------------------------------------------------------


async def test_metadata_in_and_out_with_cors(server: GrpcServer, client: httpx.AsyncClient) -> None:
    request_type, seen_type = types(server, PROBE, "Inspect")
    headers = {
        "origin": ORIGIN,
        "x-user": "ada",
        "x-token-bin": base64.b64encode(b"\x01\x02\xff").decode(),
        "grpc-timeout": "5S",
    }
    reply = await call(client, f"/{PROBE}/Inspect", request_type(text="hi"), headers=headers)
    seen = seen_type.FromString(reply.messages[0])
    assert seen.text == "hi"
    assert dict(seen.metadata) == {"x-user": "ada", "x-token-bin": "0102ff", "x-grpc-web": "1"}
    assert re.fullmatch(r"ipv4:127\.0\.0\.1:\d+", seen.peer)
    assert 2 < seen.remaining <= 5
    out = reply.http.headers
    assert out["x-served-by"] == "cello"
    assert base64.b64decode(out["x-raw-bin"]) == b"\x00\xffcello"
    assert reply.trailers["x-trailer"] == "t1" and reply.code == 0
    assert out["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip() for h in out["access-control-expose-headers"].split(",")}
    assert {"grpc-status", "grpc-message", "x-served-by", "x-raw-bin"} <= exposed


async def test_no_deadline_is_absent(server: GrpcServer, client: httpx.AsyncClient) -> None:
    request_type, seen_type = types(server, PROBE, "Inspect")
    reply = await call(client, f"/{PROBE}/Inspect", request_type(text="hi"))
    assert not seen_type.FromString(reply.messages[0]).HasField("remaining")


async def test_cors_preflight(client: httpx.AsyncClient) -> None:
    asked = {"access-control-request-method": "POST", "access-control-request-headers": "x-user"}
    ok = await client.options(f"/{PROBE}/Inspect", headers={"origin": ORIGIN, **asked})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "x-user" in ok.headers["access-control-allow-headers"]
    assert "x-grpc-web" in ok.headers["access-control-allow-headers"]
    refused = await client.options(
        f"/{PROBE}/Inspect", headers={"origin": "http://evil.test", **asked}
    )
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers


# -- deadlines and cancellation -----------------------------------------------------


async def test_grpc_timeout_cancels_the_handler_with_deadline_exceeded(
    server: GrpcServer, client: httpx.AsyncClient, channel: grpc.aio.Channel
) -> None:
    request_type, _ = types(server, PROBE, "Slow")
    started = time.monotonic()
    reply = await call(
        client, f"/{PROBE}/Slow", request_type(millis=5000), headers={"grpc-timeout": "200m"}
    )
    assert time.monotonic() - started < 2
    assert (reply.code, reply.message) == (4, "Deadline Exceeded")
    await asyncio.wait_for(probe.event("slow-cancelled").wait(), 2)
    assert probe.STATE["slow-cancelled-seen"] is True
    expected = await native(channel, f"/{PROBE}/Slow", request_type(millis=5000), timeout=0.2)
    assert expected.code == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_client_leaving_mid_stream_cancels_the_handler(
    server: GrpcServer, client: httpx.AsyncClient
) -> None:
    request_type, seen_type = types(server, PROBE, "Ticks")
    headers = {"content-type": BINARY}
    body = frame(request_type().SerializeToString())
    async with client.stream("POST", f"/{PROBE}/Ticks", content=body, headers=headers) as r:
        received = b""
        async for chunk in r.aiter_raw():
            received += chunk
            if len(received) > 30:  # a few ticks arrived while the stream is still open
                break
    flags, length = struct.unpack_from(">BI", received)
    assert flags == 0 and seen_type.FromString(received[5 : 5 + length]).text == "tick-0"
    await asyncio.wait_for(probe.event("ticks-cancelled").wait(), 5)


# -- limits ---------------------------------------------------------------------------


async def test_oversize_request_is_resource_exhausted_like_native(
    server: GrpcServer, client: httpx.AsyncClient, channel: grpc.aio.Channel
) -> None:
    request_type, _ = types(server, LIBRARY, "GetBook")
    big = request_type(isbn="9" * (MAX + 10))
    reply = await call(client, f"/{LIBRARY}/GetBook", big)
    assert reply.code == 8
    assert reply.message == f"Received message larger than max ({big.ByteSize()} vs. {MAX})"
    expected = await native(channel, f"/{LIBRARY}/GetBook", big)
    assert expected.code == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_huge_body_is_refused_without_buffering(client: httpx.AsyncClient) -> None:
    reply = await call(client, f"/{LIBRARY}/GetBook", b"", body=b"\x00" * (4 * MAX))
    assert reply.code == 8 and "larger than max" in reply.message


async def test_oversize_response_is_resource_exhausted_like_native(
    server: GrpcServer, client: httpx.AsyncClient, channel: grpc.aio.Channel
) -> None:
    request_type, _ = types(server, PROBE, "Big")
    reply = await call(client, f"/{PROBE}/Big", request_type(size=MAX + 10))
    assert reply.code == 8 and reply.message.startswith("Sent message larger than max (")
    expected = await native(channel, f"/{PROBE}/Big", request_type(size=MAX + 10))
    assert expected.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await call(client, f"/{PROBE}/Big", request_type(size=10))).code == 0


async def test_concurrency_limit_is_resource_exhausted() -> None:
    probe.STATE.clear()
    config = GrpcConfig(enable_web=True, web_port=0, concurrency_limit=1, health=False)
    srv = GrpcServer("127.0.0.1", 0, config)
    srv.register_service(probe.ProbeService())
    await srv.start()
    try:
        request_type, _ = types(srv, PROBE, "Slow")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{srv.web_port}") as client:
            slow = asyncio.create_task(call(client, f"/{PROBE}/Slow", request_type(millis=300)))
            await asyncio.wait_for(probe.event("slow-started").wait(), 5)
            refused = await call(client, f"/{PROBE}/Slow", request_type(millis=0))
            assert refused.code == 8
            assert (await slow).code == 0
    finally:
        await srv.stop(0)


# -- malformed input: a clear status, and the server keeps serving -------------------


@pytest.mark.parametrize(
    ("body", "text", "code", "message"),
    [
        (
            struct.pack(">BI", 0, 100) + b"short",
            False,
            3,
            "Malformed gRPC-Web frame: declared length 100",
        ),
        (b"\x00\x00", False, 3, "Malformed gRPC-Web frame: truncated frame header"),
        (frame(b"") + frame(b""), False, 3, "Expected exactly one request message"),
        (frame(b"", flags=0x80), False, 3, "Malformed gRPC-Web frame: trailer frame in request"),
        (frame(b"", flags=0x01), False, 12, "Compressed request message without a supported"),
        (b"AAAA*AAA", True, 3, "Malformed grpc-web-text body: invalid base64"),
        (
            frame(b"\x0a\xff\xff\xff\xff"),
            False,
            3,
            "request is not a valid demo.library.v1.GetBookRequest",
        ),
    ],
    ids=[
        "short-payload",
        "short-header",
        "two-messages",
        "trailer-flag",
        "compressed",
        "base64",
        "protobuf",
    ],
)
async def test_malformed_request_is_a_clear_error_and_the_server_keeps_serving(
    server: GrpcServer, client: httpx.AsyncClient, body: bytes, text: bool, code: int, message: str
) -> None:
    reply = await call(client, f"/{LIBRARY}/GetBook", b"", text=text, body=body)
    assert reply.code == code and reply.message.startswith(message), reply.message
    request_type, book_type = types(server, LIBRARY, "GetBook")
    good = await call(client, f"/{LIBRARY}/GetBook", request_type(isbn="978-1"))
    assert book_type.FromString(good.messages[0]).title == "Cosmos"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"/{LIBRARY}/NoSuchMethod", "Method not found!"),
        ("/no.such.Service/GetBook", "Method not found!"),
        (f"/{LIBRARY}/ReturnBooks", "gRPC-Web does not support client-streaming or bidi methods"),
    ],
    ids=["method", "service", "client-streaming"],
)
async def test_unknown_or_unsupported_method_is_unimplemented(
    client: httpx.AsyncClient, path: str, message: str
) -> None:
    reply = await call(client, path, b"")
    assert (reply.code, reply.message) == (12, message)


async def test_bad_headers_are_invalid_argument(client: httpx.AsyncClient) -> None:
    reply = await call(client, f"/{LIBRARY}/Describe", b"", headers={"grpc-timeout": "soon"})
    assert (reply.code, reply.message) == (3, "Invalid grpc-timeout header 'soon'")
    reply = await call(client, f"/{LIBRARY}/Describe", b"", headers={"x-key-bin": "*"})
    assert reply.code == 3 and "x-key-bin" in reply.message


async def test_not_grpc_web_is_an_http_error(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/{LIBRARY}/GetBook")).status_code == 405
    response = await client.post(
        f"/{LIBRARY}/GetBook", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


# -- the ASGI app outside GrpcServer's own port ----------------------------------


async def test_web_app_mounts_under_a_prefix_without_starting_grpc() -> None:
    server = GrpcServer(config=GrpcConfig(web_origins=()))
    server.register_service(LibraryService())
    web = server.web_app()
    assert isinstance(web, GrpcWebApp) and server.web_app() is web

    async def host(scope: Any, receive: Any, send: Any) -> None:
        """An outer ASGI app mounting gRPC-Web at /rpc, as Starlette's Mount does."""
        if scope["type"] == "http" and scope["path"].startswith("/rpc/"):
            scope = dict(scope, root_path=scope.get("root_path", "") + "/rpc")
        await web(scope, receive, send)

    handle = await serve_web(host, "127.0.0.1", 0)
    try:
        request_type, book_type = types(server, LIBRARY, "GetBook")
        async with httpx.AsyncClient(base_url=handle.url) as client:
            reply = await call(client, f"/rpc/{LIBRARY}/GetBook", request_type(isbn="978-1"))
        assert book_type.FromString(reply.messages[0]).title == "Cosmos"
        assert "access-control-allow-origin" not in reply.http.headers
    finally:
        await handle.stop()


async def test_app_run_serves_grpc_web_on_every_interface(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = App()
    app.enable_grpc(GrpcConfig(port=0, enable_web=True, web_port=0, host="[::]"))
    app.register_service(LibraryService())
    stop = asyncio.Event()
    serving = asyncio.create_task(app.serve(stop=stop))
    try:
        for _ in range(500):
            if app.grpc_server is not None and app.grpc_server.web_port is not None:
                break
            await asyncio.sleep(0.01)
        assert app.grpc_server is not None and app.grpc_server.web_port
        request_type, book_type = types(app.grpc_server, LIBRARY, "GetBook")
        url = f"http://127.0.0.1:{app.grpc_server.web_port}"
        async with httpx.AsyncClient(base_url=url) as client:
            reply = await call(client, f"/{LIBRARY}/GetBook", request_type(isbn="978-0"))
        assert book_type.FromString(reply.messages[0]).title == "Dune"
        # transport envoy names itself inside the parentheses: "..., transport envoy 1.39.3)"
        envoy = getattr(app.grpc_server._server, "version", None)
    finally:
        stop.set()
        await asyncio.wait_for(serving, 10)
    out = capsys.readouterr().out  # the real bind address, not the loopback
    served = "(plaintext, all interfaces" + (f", transport envoy {envoy}" if envoy else "")
    assert f"serving gRPC {served}) on [::]:{app.grpc_server.port}" in out
    assert (
        f"serving gRPC-Web (plaintext, all interfaces) on http://[::]:{app.grpc_server.web_port}"
        in out
    )


async def test_web_port_in_use_is_a_clear_error(server: GrpcServer) -> None:
    if server.config.transport in ("h2", "envoy"):
        pytest.skip(
            f"transport {server.config.transport} serves gRPC-Web on the gRPC port: "
            "no web port of its own"
        )
    assert server.web_port is not None
    config = GrpcConfig(enable_web=True, web_port=server.web_port, health=False)
    other = GrpcServer("127.0.0.1", 0, config)
    other.register_service(LibraryService())
    with pytest.raises(RuntimeError, match=f"cannot bind gRPC-Web to 127.0.0.1:{server.web_port}"):
        await other.start()
