"""Protocol-level tests of the gRPC-Web transport (`GrpcWebApp`) over real HTTP.

uvicorn serves on 127.0.0.1:0 in a background loop; httpx is the client.
"""

from __future__ import annotations

import base64
import logging
import struct
import time
import urllib.parse

import grpc
import httpx
import pytest
import web_sample_service as sample
from google.protobuf import struct_pb2, wrappers_pb2

from cello import GrpcWebApp
from cello._transports.grpc_aio import generic_handlers
from cello._transports.uvicorn import serve_web

MAX = 64 * 1024
ORIGIN = "http://page.example:8080"
SVC = sample.SERVICE


@pytest.fixture(scope="module")
def server(loop_thread):
    app = GrpcWebApp(
        sample.endpoints(),
        max_message_size=MAX,
        allowed_origins=(ORIGIN,),
        allowed_headers=("X-Custom-Auth",),
    )
    handle = loop_thread.run(serve_web(app, "127.0.0.1", 0))
    assert handle.port > 0
    yield handle
    loop_thread.run(handle.stop())


@pytest.fixture()
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


# -- helpers ---------------------------------------------------------------


def frame(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def parse_frames(body: bytes):
    """Split a binary gRPC-Web response body into (messages, trailers)."""
    messages, trailers, pos = [], None, 0
    while pos < len(body):
        flags, length = struct.unpack_from(">BI", body, pos)
        pos += 5
        chunk = body[pos : pos + length]
        assert len(chunk) == length, "truncated response frame"
        pos += length
        if flags & 0x80:
            assert trailers is None, "two trailer frames"
            trailers = {}
            for line in chunk.decode("ascii").split("\r\n"):
                if line:
                    key, _, value = line.partition(":")
                    trailers[key.strip().lower()] = value.strip()
        else:
            assert trailers is None, "data frame after trailers"
            messages.append(chunk)
    return messages, trailers


def decode_text_body(body: bytes) -> bytes:
    # A text-mode response is one base64 chunk per frame, concatenated.
    out, start = b"", 0
    for i in range(0, len(body), 4):
        quantum = body[i : i + 4]
        if b"=" in quantum or i + 4 >= len(body):
            out += base64.b64decode(body[start : i + 4])
            start = i + 4
    return out


def call(client, method, request_bytes: bytes, *, text=False, headers=None, content=None):
    ct = "application/grpc-web-text" if text else "application/grpc-web+proto"
    body = frame(request_bytes)
    if text:
        body = base64.b64encode(body)
    h = {"content-type": ct, "x-grpc-web": "1", "x-user-agent": "cello-test/1.0"}
    h.update(headers or {})
    return client.post(f"/{SVC}/{method}", content=body if content is None else content, headers=h)


def status_of(response, text=False):
    """Return (grpc-status int, grpc-message, messages, trailers-or-headers dict)."""
    body = decode_text_body(response.content) if text else response.content
    messages, trailers = parse_frames(body)
    if trailers is None:  # trailers-only response
        assert not messages
        trailers = {k.lower(): v for k, v in response.headers.items()}
    status = int(trailers["grpc-status"])
    message = urllib.parse.unquote(trailers.get("grpc-message", ""))
    return status, message, messages, trailers


def sv(value: str) -> bytes:
    return wrappers_pb2.StringValue(value=value).SerializeToString()


# -- tests -----------------------------------------------------------------


@pytest.mark.parametrize("ct", ["application/grpc-web", "application/grpc-web+proto"])
def test_unary_binary(client, ct):
    r = call(client, "Echo", sv("hello"), headers={"content-type": ct})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/grpc-web+proto"
    status, message, messages, trailers = status_of(r)
    assert status == 0 and message == ""
    assert [wrappers_pb2.StringValue.FromString(m).value for m in messages] == ["echo: hello"]
    # a real trailer frame, not trailers-only
    assert "grpc-status" not in r.headers


@pytest.mark.parametrize("ct", ["application/grpc-web-text", "application/grpc-web-text+proto"])
def test_unary_text(client, ct):
    r = call(client, "Echo", sv("text mode \u00e9"), text=True, headers={"content-type": ct})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/grpc-web-text+proto"
    base64.b64decode(r.content[:8], validate=True)  # body is base64
    status, _, messages, _ = status_of(r, text=True)
    assert status == 0
    assert wrappers_pb2.StringValue.FromString(messages[0]).value == "echo: text mode \u00e9"


def test_text_request_in_concatenated_base64_chunks(client):
    # Header and payload base64-encoded separately (each padded), as streaming text clients do.
    payload = sv("chunked!")
    header = struct.pack(">BI", 0, len(payload))
    body = base64.b64encode(header) + base64.b64encode(payload[:3]) + base64.b64encode(payload[3:])
    assert body.count(b"=") >= 1
    r = call(client, "Echo", b"", text=True, content=body)
    status, _, messages, _ = status_of(r, text=True)
    assert status == 0
    assert wrappers_pb2.StringValue.FromString(messages[0]).value == "echo: chunked!"


def test_server_streaming_binary_and_trailing_metadata(client):
    req = struct_pb2.Struct()
    req.update({"n": 4})
    r = call(client, "Count", req.SerializeToString())
    status, _, messages, trailers = status_of(r)
    assert status == 0
    assert [wrappers_pb2.StringValue.FromString(m).value for m in messages] == [
        f"item-{i}" for i in range(4)
    ]
    assert trailers["x-count"] == "4"


def test_server_streaming_text(client):
    req = struct_pb2.Struct()
    req.update({"n": 3})
    r = call(client, "Count", req.SerializeToString(), text=True)
    # one base64 chunk per frame: 3 data frames + trailers → padding appears mid-body
    status, _, messages, _ = status_of(r, text=True)
    assert status == 0
    assert len(messages) == 3


def test_server_streaming_error_mid_stream(client):
    req = struct_pb2.Struct()
    req.update({"n": 5, "fail_after": 2})
    r = call(client, "Count", req.SerializeToString())
    status, message, messages, _ = status_of(r)
    assert status == grpc.StatusCode.OUT_OF_RANGE.value[0]
    assert message == "stopped after 2"
    assert len(messages) == 2


def test_server_streaming_is_incremental(client):
    sample.STREAM_RELEASE.clear()
    h = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"}
    with client.stream("POST", f"/{SVC}/Gated", content=frame(sv("")), headers=h) as r:
        chunks = r.iter_raw()
        received = b""
        t0 = time.monotonic()
        while len(received) < 5 or len(received) < 5 + struct.unpack(">BI", received[:5])[1]:
            received += next(chunks)
        assert time.monotonic() - t0 < 4, "first message was not flushed before the stream ended"
        first = wrappers_pb2.StringValue.FromString(received[5:])
        assert first.value == "first"
        sample.STREAM_RELEASE.set()
        rest = b"".join(chunks)
    messages, trailers = parse_frames(received + rest)
    assert [wrappers_pb2.StringValue.FromString(m).value for m in messages] == ["first", "released"]
    assert trailers["grpc-status"] == "0"


def test_abort_status_and_percent_encoded_message(client):
    r = call(client, "Echo", sv("abort"))
    assert r.status_code == 200
    # no message was sent → trailers-only: status in the HTTP headers, empty body
    assert r.content == b""
    assert r.headers["grpc-status"] == str(grpc.StatusCode.NOT_FOUND.value[0])
    raw = r.headers["grpc-message"]
    assert all(0x20 <= ord(c) < 0x7F for c in raw) and "%25" in raw and "%0A" in raw
    assert urllib.parse.unquote(raw) == "no such thing: caf\u00e9 100%\nnext line"


def test_unexpected_exception_is_internal_and_hidden(client, caplog):
    with caplog.at_level(logging.ERROR, logger="cello"):
        r = call(client, "Echo", sv("boom"))
    status, message, _, _ = status_of(r)
    assert status == grpc.StatusCode.INTERNAL.value[0]
    assert "hunter2" not in r.text and "hunter2" not in str(r.headers)
    assert message and "secret" not in message
    assert any("hunter2" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)


def test_metadata_in_and_out(client):
    r = call(client, "Echo", sv("md"), headers={"x-echo": "round-trip-42", "origin": ORIGIN})
    status, _, messages, trailers = status_of(r)
    assert status == 0 and len(messages) == 1
    assert r.headers["x-echo-initial"] == "round-trip-42"
    assert trailers["x-echo-trailing"] == "round-trip-42"
    assert base64.b64decode(trailers["x-trailer-bin"] + "==") == b"\x00\x01\xfe"
    # CORS: custom response headers are exposed to browser code
    exposed = [h.strip() for h in r.headers["access-control-expose-headers"].split(",")]
    assert {"grpc-status", "grpc-message", "x-echo-initial"} <= set(exposed)


def test_invocation_metadata_peer_and_binary_header(client):
    hdr = {
        "authorization": "Bearer t0k",
        "x-custom": "v1",
        "x-blob-bin": base64.b64encode(b"\x00\xff").decode(),
    }
    r = call(client, "Describe", sv("who"), headers=hdr)
    status, _, messages, _ = status_of(r)
    assert status == 0
    info = struct_pb2.Struct.FromString(messages[0])
    md = dict(info["metadata"])
    assert md["authorization"] == "Bearer t0k"
    assert md["x-custom"] == "v1"
    assert md["x-blob-bin"] == "00ff"  # decoded to bytes server-side
    assert "content-type" not in md and "host" not in md and "grpc-timeout" not in md
    assert info["peer"].startswith("ipv4:127.0.0.1:")
    assert info["time_remaining"] == -1  # no deadline → None
    assert info["cancelled"] is False


def test_grpc_timeout_reported_by_time_remaining(client):
    r = call(client, "Describe", sv("t"), headers={"grpc-timeout": "5S"})
    status, _, messages, _ = status_of(r)
    assert status == 0
    remaining = struct_pb2.Struct.FromString(messages[0])["time_remaining"]
    assert 3.0 < remaining <= 5.0


def test_grpc_timeout_cancels_handler(client):
    t0 = time.monotonic()
    r = call(client, "Sleep", sv("5"), headers={"grpc-timeout": "300m"})
    elapsed = time.monotonic() - t0
    status, message, _, _ = status_of(r)
    assert status == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert message == "Deadline Exceeded"
    assert elapsed < 3
    assert 0 < sample.STATE["sleep_time_remaining"] <= 0.3
    assert sample.STATE["sleep_cancelled"] is True


def test_invalid_grpc_timeout(client):
    status, message, _, _ = status_of(
        call(client, "Echo", sv("x"), headers={"grpc-timeout": "soon"})
    )
    assert status == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "grpc-timeout" in message


def test_oversize_request(client):
    r = call(client, "Echo", sv("y" * (MAX + 10)))
    status, message, _, _ = status_of(r)
    assert status == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "larger than max" in message
    # a huge body (beyond the buffering cap) is drained, not buffered
    r = call(client, "Echo", b"", content=frame(b"z" * (4 * MAX)))
    assert status_of(r)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert status_of(call(client, "Echo", sv("ok")))[0] == 0


def test_oversize_response(client):
    status, message, messages, _ = status_of(call(client, "Echo", sv(f"big:{MAX + 1}")))
    assert status == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "Sent message larger than max" in message
    assert messages == []


@pytest.mark.parametrize(
    "body,text,code",
    [
        (b"\x00\x00\x00", False, "INVALID_ARGUMENT"),  # truncated header
        (b"\x00\x00\x00\x00\x10abc", False, "INVALID_ARGUMENT"),  # declared 16, got 3
        (frame(b"", flags=0x80), False, "INVALID_ARGUMENT"),  # trailer frame from client
        (frame(sv("a")) + frame(sv("b")), False, "INVALID_ARGUMENT"),  # two messages for unary
        (b"", False, "INVALID_ARGUMENT"),  # no message at all
        (frame(b"\xff\xff\xff"), False, "INVALID_ARGUMENT"),  # undecodable protobuf
        (b"!!!not base64!!!", True, "INVALID_ARGUMENT"),
        (b"AAAA=AAA", True, "INVALID_ARGUMENT"),  # misplaced padding
        (frame(sv("c"), flags=0x01), False, "UNIMPLEMENTED"),  # compressed, no grpc-encoding
    ],
)
def test_malformed_requests_then_server_keeps_serving(client, body, text, code):
    r = call(client, "Echo", b"", text=text, content=body)
    assert r.status_code == 200
    status, message, messages, _ = status_of(r, text=text)
    assert status == getattr(grpc.StatusCode, code).value[0], message
    assert message and not messages
    ok = call(client, "Echo", sv("still alive"))
    assert status_of(ok)[0] == 0


def test_unknown_method_and_service(client):
    for path in ("Nope", "../x"):
        status, message, _, _ = status_of(call(client, path, sv("")))
        assert status == grpc.StatusCode.UNIMPLEMENTED.value[0]
    h = {"content-type": "application/grpc-web+proto"}
    r = client.post("/no.such.Service/Echo", content=frame(sv("")), headers=h)
    assert r.headers["grpc-status"] == str(grpc.StatusCode.UNIMPLEMENTED.value[0])
    assert r.headers["grpc-message"] == "Method not found!"  # space needs no escaping


def test_client_streaming_is_unimplemented(client):
    status, _, _, _ = status_of(call(client, "Upload", sv("")))
    assert status == grpc.StatusCode.UNIMPLEMENTED.value[0]


def test_non_grpc_web_requests(client):
    assert client.get(f"/{SVC}/Echo").status_code == 405
    r = client.post(f"/{SVC}/Echo", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_cors_preflight(client):
    r = client.options(
        f"/{SVC}/Echo",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-grpc-web, content-type, x-custom-auth",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {
        "x-grpc-web",
        "content-type",
        "x-user-agent",
        "grpc-timeout",
        "x-custom-auth",
    } <= allowed
    assert "grpc-status" in r.headers["access-control-expose-headers"]
    # a disallowed origin gets no CORS grant
    r = client.options(
        f"/{SVC}/Echo",
        headers={"origin": "http://evil.example", "access-control-request-method": "POST"},
    )
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


def test_cors_headers_on_responses(client):
    r = call(client, "Echo", sv("x"), headers={"origin": ORIGIN})
    assert r.headers["access-control-allow-origin"] == ORIGIN
    r = call(client, "Echo", sv("abort"), headers={"origin": ORIGIN})  # trailers-only too
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "grpc-message" in r.headers["access-control-expose-headers"]
    r = call(client, "Echo", sv("x"), headers={"origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_wildcard_origin_and_serve_web_lifecycle(loop_thread):
    handle = loop_thread.run(
        serve_web(GrpcWebApp(sample.endpoints(), allowed_origins=("*",)), "127.0.0.1", 0)
    )
    try:
        with httpx.Client(base_url=handle.url, timeout=10) as c:
            r = call(c, "Echo", sv("wild"), headers={"origin": "http://anywhere.example"})
            assert r.headers["access-control-allow-origin"] == "*"
            assert status_of(r)[0] == 0
    finally:
        loop_thread.run(handle.stop())
    with pytest.raises(httpx.ConnectError):
        httpx.post(handle.url + f"/{SVC}/Echo", content=frame(sv("")), timeout=2)


def test_same_handlers_on_native_grpc_aio(loop_thread):
    """Parity check: the very same endpoints, on grpc.aio, give the same statuses."""

    async def run():
        srv = grpc.aio.server()
        srv.add_generic_rpc_handlers(generic_handlers(sample.endpoints()))
        port = srv.add_insecure_port("127.0.0.1:0")
        await srv.start()
        results = {}
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                echo = ch.unary_unary(
                    f"/{SVC}/Echo",
                    request_serializer=lambda b: b,
                    response_deserializer=wrappers_pb2.StringValue.FromString,
                )
                results["ok"] = (await echo(sv("hello"))).value
                for value in ("abort", "boom"):
                    try:
                        await echo(sv(value))
                    except grpc.aio.AioRpcError as e:
                        results[value] = (e.code(), e.details())
        finally:
            await srv.stop(None)
        return results

    native = loop_thread.run(run())
    assert native["ok"] == "echo: hello"
    assert native["abort"] == (
        grpc.StatusCode.NOT_FOUND,
        "no such thing: caf\u00e9 100%\nnext line",
    )
    # an unexpected exception is INTERNAL with a generic message on both ports
    assert native["boom"] == (grpc.StatusCode.INTERNAL, "Internal server error")


def test_client_disconnect_cancels_handler(server):
    import socket

    sample.STATE["sleep_cancelled"] = None
    body = frame(sv("10"))
    head = (
        f"POST /{SVC}/Sleep HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "content-type: application/grpc-web+proto\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(head + body)
        time.sleep(0.3)
    deadline = time.monotonic() + 5
    while sample.STATE["sleep_cancelled"] is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sample.STATE["sleep_cancelled"] is True


def test_stop_with_stream_in_flight(loop_thread):
    sample.STREAM_RELEASE.clear()
    handle = loop_thread.run(
        serve_web(GrpcWebApp(sample.endpoints(), allowed_origins=("*",)), "127.0.0.1", 0)
    )
    h = {"content-type": "application/grpc-web+proto"}
    with httpx.Client(base_url=handle.url, timeout=10) as c:
        with c.stream("POST", f"/{SVC}/Gated", content=frame(sv("")), headers=h) as r:
            chunks = r.iter_raw()
            next(chunks)  # the stream is open and waiting
            t0 = time.monotonic()
            loop_thread.run(handle.stop())
            assert time.monotonic() - t0 < 3
            # past the grace period the stream ends with a gRPC status, as on the native port
            messages, trailers = parse_frames(b"".join(chunks))
            assert trailers["grpc-status"] == str(grpc.StatusCode.UNAVAILABLE.value[0])
