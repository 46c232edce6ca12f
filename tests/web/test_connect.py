"""The Connect protocol on the web port, over real HTTP against a real `GrpcServer`.

The wire is decoded here with httpx, json and struct, independently of the server's code:
unary JSON and binary, the error body, GET, gzip, timeouts, server-streaming envelopes
with the end-of-stream message, and the health check and schema routes.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import struct
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import connect_service as probe
import httpx
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.rpc import error_details_pb2

from cello import GrpcConfig, GrpcServer

SVC = "/connecttest.v1.ConnectProbe"
ORIGIN = "http://page.example:3000"
JSON = {"content-type": "application/json", "connect-protocol-version": "1"}


async def start(**config: Any) -> GrpcServer:
    probe.STATE.clear()
    settings = {"enable_web": True, "web_port": 0, "web_origins": (ORIGIN,), **config}
    server = GrpcServer("127.0.0.1", 0, GrpcConfig(**settings))
    server.register_service(probe.ConnectProbe())
    await server.start()
    return server


@pytest.fixture
async def server() -> AsyncIterator[GrpcServer]:
    srv = await start()
    yield srv
    await srv.stop(0)


@pytest.fixture
async def client(server: GrpcServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.web_port}", timeout=10) as c:
        yield c


def types(server: GrpcServer, method: str) -> tuple[Any, Any]:
    service = SVC[1:]
    (binding,) = [m for m in server.bindings[service].methods if m.name == method]
    return binding.request_type, binding.response_type


def enum_name(server: GrpcServer, number: int) -> str:
    field = types(server, "Lookup")[1].DESCRIPTOR.fields_by_name["shade"]
    return str(field.enum_type.values_by_number[number].name)


def envelope(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def envelopes(body: bytes) -> tuple[list[bytes], dict[str, Any]]:
    """Messages and the end-of-stream JSON of a streaming response."""
    messages, end, pos = [], None, 0
    while pos < len(body):
        flags, length = struct.unpack_from(">BI", body, pos)
        chunk = body[pos + 5 : pos + 5 + length]
        pos += 5 + length
        chunk = gzip.decompress(chunk) if flags & 0x01 else chunk
        if flags & 0x02:
            assert end is None and pos == len(body), "end-of-stream must come last, once"
            end = json.loads(chunk)
        else:
            messages.append(chunk)
    assert end is not None, "no end-of-stream message"
    return messages, end


# -- unary --------------------------------------------------------------------------


async def test_unary_json_is_canonical_proto3_json(
    server: GrpcServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(f"{SVC}/Lookup", json={"itemId": "7"}, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "itemId": "7",  # int64 as a string
        "displayName": "item 7",  # lowerCamel
        "shade": enum_name(server, 1),  # enums by name
        "created": "2024-05-06T07:08:09.500Z",  # Timestamp as RFC 3339
        "tags": ["a"],
    }
    assert response.headers["x-served-by"] == "probe"
    assert response.headers["trailer-x-item"] == "7"
    assert probe.STATE["protocol"] == "connect"
    assert probe.STATE["metadata"] == {"user-agent": response.request.headers["user-agent"]}


@pytest.mark.parametrize(
    "body",
    [{"itemId": "8"}, {"item_id": 8}, {"itemId": 8}, {"item_id": "8"}],
    ids=["camel-string", "original-number", "camel-number", "original-string"],
)
async def test_request_json_accepts_both_names_and_int64_forms(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post(f"{SVC}/Lookup", json=body, headers=JSON)
    assert response.status_code == 200 and response.json()["itemId"] == "8"


async def test_request_json_timestamp_and_enum_by_name(
    server: GrpcServer, client: httpx.AsyncClient
) -> None:
    body = {
        "displayName": "x",
        "shade": enum_name(server, 1),
        "created": "2020-01-02T03:04:05.250+01:00",
    }
    response = await client.post(f"{SVC}/Save", json=body, headers=JSON)
    assert response.status_code == 200, response.text
    saved = probe.STATE["saved"]
    assert saved.shade == probe.Shade.DEEP  # type: ignore[attr-defined]
    assert saved.created.isoformat() == "2020-01-02T02:04:05.250000+00:00"  # type: ignore[attr-defined]
    assert response.json()["created"] == "2020-01-02T02:04:05.250Z"


async def test_unary_binary_matches_json(server: GrpcServer, client: httpx.AsyncClient) -> None:
    request_type, response_type = types(server, "Lookup")
    response = await client.post(
        f"{SVC}/Lookup",
        content=request_type(item_id=7).SerializeToString(),
        headers={"content-type": "application/proto"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/proto"
    item = response_type.FromString(response.content)
    assert (item.item_id, item.display_name, item.created.nanos) == (7, "item 7", 500_000_000)


async def test_not_found_is_the_connect_error_body(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{SVC}/Lookup", json={"itemId": "-1"}, headers=JSON)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"code": "not_found", "message": "no item -1"}


async def test_error_details_and_trailers(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{SVC}/Lookup", json={"itemId": "13"}, headers=JSON)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid_argument" and error["message"] == "unlucky id"
    (detail,) = error["details"]
    assert detail["type"] == "google.rpc.BadRequest"
    value = base64.b64decode(detail["value"] + "=" * (-len(detail["value"]) % 4))
    bad = error_details_pb2.BadRequest.FromString(value)
    assert bad.field_violations[0].field == "item_id"
    assert response.headers["trailer-x-why"] == "superstition"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"itemId": "7", "bogus": 1}, '"bogus"'),
        ({"itemId": "seven"}, "itemId"),
        ({"itemId": [1]}, "itemId"),
        ("not json", "invalid JSON"),
        ([1, 2], "expected an object"),
    ],
    ids=["unknown-field", "bad-int64", "list-for-int", "not-json", "not-an-object"],
)
async def test_bad_json_is_invalid_argument_naming_the_field(
    client: httpx.AsyncClient, body: Any, named: str
) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    response = await client.post(f"{SVC}/Lookup", content=content, headers=JSON)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid_argument"
    assert named in error["message"] and "connecttest.v1.ItemKey" in error["message"]


@pytest.mark.parametrize(
    ("shade", "meant"),
    [("DEEP", " (did you mean SHADE_DEEP?)"), ("DARK", "")],
    ids=["prefix-left-out", "unknown-name"],
)
async def test_a_bad_enum_name_lists_the_valid_names(
    client: httpx.AsyncClient, shade: str, meant: str
) -> None:
    """The message used to stop at "Invalid enum value DEEP for enum type ..."."""
    response = await client.post(f"{SVC}/Save", json={"shade": shade}, headers=JSON)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid_argument"
    assert error["message"] == (
        "invalid JSON for connecttest.v1.Item: Failed to parse shade field: Invalid enum "
        f"value {shade} for enum type connecttest.v1.Shade at Item.shade; use one of "
        f"SHADE_PALE, SHADE_DEEP{meant} or its number"
    )


async def test_unknown_fields_ignored_under_the_option() -> None:
    server = await start(web_json_ignore_unknown_fields=True)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(
                f"http://127.0.0.1:{server.web_port}{SVC}/Lookup",
                json={"itemId": "7", "bogus": 1},
                headers=JSON,
            )
        assert response.status_code == 200 and response.json()["itemId"] == "7"
    finally:
        await server.stop(0)


async def test_gzip_both_ways() -> None:
    server = await start(compression="gzip")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            url = f"http://127.0.0.1:{server.web_port}{SVC}/Lookup"
            headers = {**JSON, "content-encoding": "gzip", "accept-encoding": "gzip"}
            body = gzip.compress(json.dumps({"itemId": "9"}).encode())
            async with client.stream("POST", url, content=body, headers=headers) as response:
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
            assert response.status_code == 200
            assert response.headers["content-encoding"] == "gzip"
            assert json.loads(gzip.decompress(raw))["itemId"] == "9"
            # a client that does not accept gzip gets plain JSON
            plain = await client.post(
                url, json={"itemId": "9"}, headers={**JSON, "accept-encoding": "identity"}
            )
            assert "content-encoding" not in plain.headers and plain.json()["itemId"] == "9"
            brotli = await client.post(
                url, content=b"{}", headers={**JSON, "content-encoding": "br"}
            )
            assert brotli.status_code == 501 and brotli.json()["code"] == "unimplemented"
    finally:
        await server.stop(0)


async def test_connect_timeout_ms_is_the_deadline(client: httpx.AsyncClient) -> None:
    slow = await client.post(
        f"{SVC}/Slow", json={"itemId": "3000"}, headers={**JSON, "connect-timeout-ms": "150"}
    )
    assert slow.status_code == 504 and slow.json()["code"] == "deadline_exceeded"
    remaining = probe.STATE["slow_remaining"]
    assert isinstance(remaining, float) and 0 < remaining <= 0.15
    fast = await client.post(
        f"{SVC}/Slow", json={"itemId": "1"}, headers={**JSON, "connect-timeout-ms": "5000"}
    )
    assert fast.status_code == 200
    bad = await client.post(
        f"{SVC}/Slow", json={"itemId": "1"}, headers={**JSON, "connect-timeout-ms": "1s"}
    )
    assert bad.status_code == 400 and "connect-timeout-ms" in bad.json()["message"]


async def test_unsupported_protocol_version_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{SVC}/Lookup", json={}, headers={**JSON, "connect-protocol-version": "2"}
    )
    assert response.status_code == 400
    assert "connect-protocol-version" in response.json()["message"]


async def test_unknown_method_and_wrong_call_kind(client: httpx.AsyncClient) -> None:
    missing = await client.post(f"{SVC}/Nope", json={}, headers=JSON)
    assert missing.status_code == 501 and missing.json()["code"] == "unimplemented"
    stream_as_unary = await client.post(f"{SVC}/Countdown", json={}, headers=JSON)
    assert stream_as_unary.status_code == 501
    assert "application/connect+json" in stream_as_unary.json()["message"]


async def test_client_streaming_is_unimplemented_naming_the_reason(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"{SVC}/Gather",
        content=envelope(b"{}"),
        headers={"content-type": "application/connect+json"},
    )
    assert response.status_code == 200  # streaming errors travel in the end-of-stream message
    messages, end = envelopes(response.content)
    assert messages == [] and end["error"]["code"] == "unimplemented"
    assert end["error"]["message"].startswith(f"{SVC}/Gather is a client-streaming rpc")
    assert "call it over gRPC" in end["error"]["message"]


# -- server streaming ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["json", "proto"])
async def test_server_stream_with_end_of_stream_trailers(
    server: GrpcServer, client: httpx.AsyncClient, encoding: str
) -> None:
    request_type, response_type = types(server, "Countdown")
    body = b'{"n": 3}' if encoding == "json" else request_type(n=3).SerializeToString()
    response = await client.post(
        f"{SVC}/Countdown",
        content=envelope(body),
        headers={"content-type": f"application/connect+{encoding}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == f"application/connect+{encoding}"
    messages, end = envelopes(response.content)
    if encoding == "json":
        ticks = [json.loads(m).get("i", "0") for m in messages]
        assert ticks == ["0", "1", "2"]
    else:
        assert [response_type.FromString(m).i for m in messages] == [0, 1, 2]
    assert end == {"metadata": {"x-counted": ["3"]}}


async def test_error_mid_stream_keeps_the_messages_sent(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{SVC}/Countdown",
        content=envelope(b'{"n": 5, "failAt": 2}'),
        headers={"content-type": "application/connect+json", "connect-accept-encoding": "gzip"},
    )
    messages, end = envelopes(response.content)
    assert len(messages) == 2
    assert end["error"] == {"code": "aborted", "message": "stopped at 2"}
    assert end["metadata"] == {"x-counted": ["5"]}


async def test_compressed_stream_both_ways() -> None:
    server = await start(compression="gzip")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(
                f"http://127.0.0.1:{server.web_port}{SVC}/Countdown",
                content=envelope(gzip.compress(b'{"n": 2}'), flags=0x01),
                headers={
                    "content-type": "application/connect+json",
                    "connect-content-encoding": "gzip",
                    "connect-accept-encoding": "gzip",
                },
            )
        assert response.headers["connect-content-encoding"] == "gzip"
        assert response.content[0] & 0x01, "first message not compressed"
        messages, end = envelopes(response.content)
        assert len(messages) == 2 and "error" not in end
    finally:
        await server.stop(0)


# -- GET ----------------------------------------------------------------------------


async def test_get_json_for_a_side_effect_free_rpc(client: httpx.AsyncClient) -> None:
    query = urllib.parse.urlencode(
        {"connect": "v1", "encoding": "json", "message": json.dumps({"itemId": "5"})}
    )
    response = await client.get(f"{SVC}/Lookup?{query}")
    assert response.status_code == 200
    assert response.json()["displayName"] == "item 5"
    assert response.headers["trailer-x-item"] == "5"


async def test_get_binary_base64_gzip(server: GrpcServer, client: httpx.AsyncClient) -> None:
    request_type, response_type = types(server, "Lookup")
    raw = gzip.compress(request_type(item_id=6).SerializeToString())
    message = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    query = f"encoding=proto&base64=1&compression=gzip&message={message}"
    response = await client.get(f"{SVC}/Lookup?{query}")
    assert response.status_code == 200
    assert response_type.FromString(response.content).display_name == "item 6"


async def test_get_is_refused_for_rpcs_with_side_effects(client: httpx.AsyncClient) -> None:
    query = urllib.parse.urlencode({"encoding": "json", "message": "{}"})
    response = await client.get(f"{SVC}/Save?{query}")
    assert response.status_code == 405
    error = response.json()
    assert error["code"] == "unimplemented" and "idempotent=True" in error["message"]
    assert probe.STATE.get("saved") is None


# -- discoverability, CORS ----------------------------------------------------------


@pytest.mark.parametrize("protocol", ["connect", "grpc-web"])
async def test_health_check_over_http(client: httpx.AsyncClient, protocol: str) -> None:
    path = "/grpc.health.v1.Health/Check"
    if protocol == "connect":
        ok = await client.post(path, json={}, headers=JSON)
        assert ok.json() == {"status": "SERVING"}
        named = await client.post(path, json={"service": SVC[1:]}, headers=JSON)
        assert named.json() == {"status": "SERVING"}
        unknown = await client.post(path, json={"service": "no.Such"}, headers=JSON)
        assert unknown.status_code == 404
        return
    from grpc_health.v1 import health_pb2

    request = health_pb2.HealthCheckRequest(service=SVC[1:]).SerializeToString()
    response = await client.post(
        path, content=envelope(request), headers={"content-type": "application/grpc-web+proto"}
    )
    (length,) = struct.unpack_from(">I", response.content, 1)
    reply = health_pb2.HealthCheckResponse.FromString(response.content[5 : 5 + length])
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_schema_route_is_a_file_descriptor_set(client: httpx.AsyncClient) -> None:
    response = await client.get("/cello.schema.v1/FileDescriptorSet.binpb")
    assert response.status_code == 200
    fds = descriptor_pb2.FileDescriptorSet.FromString(response.content)
    names = [f.name for f in fds.file]
    assert "google/protobuf/timestamp.proto" in names
    # imports come first, so the set loads into a fresh pool in order
    pool = descriptor_pool.DescriptorPool()
    for file in fds.file:
        pool.Add(file)
    method = pool.FindMethodByName("connecttest.v1.ConnectProbe.Lookup")
    assert method.GetOptions().idempotency_level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
    assert pool.FindMethodByName("grpc.health.v1.Health.Check")
    item = message_factory.GetMessageClass(pool.FindMessageTypeByName("connecttest.v1.Item"))
    assert item(item_id=1).item_id == 1


async def test_cors_for_connect(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        f"{SVC}/Lookup",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,connect-protocol-version",
        },
    )
    allowed = preflight.headers["access-control-allow-headers"]
    assert "connect-protocol-version" in allowed and "connect-timeout-ms" in allowed
    assert "GET" in preflight.headers["access-control-allow-methods"]
    response = await client.post(
        f"{SVC}/Lookup", json={"itemId": "1"}, headers={**JSON, "origin": ORIGIN}
    )
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = response.headers["access-control-expose-headers"]
    assert "x-served-by" in exposed and "trailer-x-item" in exposed
    refused = await client.post(
        f"{SVC}/Lookup", json={"itemId": "1"}, headers={**JSON, "origin": "http://evil.example"}
    )
    assert "access-control-allow-origin" not in refused.headers


# -- the shared limits --------------------------------------------------------------


async def test_oversize_requests_are_resource_exhausted() -> None:
    server = await start(max_message_size=1024)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            url = f"http://127.0.0.1:{server.web_port}{SVC}"
            big = json.dumps({"displayName": "x" * 2000}).encode()
            unary = await client.post(f"{url}/Save", content=big, headers=JSON)
            assert unary.status_code == 429 and unary.json()["code"] == "resource_exhausted"
            bomb = gzip.compress(json.dumps({"displayName": "y" * 100_000}).encode())
            zipped = await client.post(
                f"{url}/Save", content=bomb, headers={**JSON, "content-encoding": "gzip"}
            )
            assert zipped.json()["code"] == "resource_exhausted"
            stream = await client.post(
                f"{url}/Countdown",
                content=envelope(b"{}")[:1] + struct.pack(">I", 10_000),
                headers={"content-type": "application/connect+json"},
            )
            assert envelopes(stream.content)[1]["error"]["code"] == "resource_exhausted"
            # the server keeps serving
            ok = await client.post(f"{url}/Lookup", json={"itemId": "1"}, headers=JSON)
            assert ok.status_code == 200
            assert probe.STATE.get("saved") is None
    finally:
        await server.stop(0)


async def test_concurrency_limit_is_shared_with_connect() -> None:
    server = await start(concurrency_limit=1)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            url = f"http://127.0.0.1:{server.web_port}{SVC}/Slow"
            slow = asyncio.ensure_future(client.post(url, json={"itemId": "1500"}, headers=JSON))
            for _ in range(100):  # until the slow call holds the only slot
                if "slow_remaining" in probe.STATE:
                    break
                await asyncio.sleep(0.02)
            refused = await client.post(url, json={"itemId": "1"}, headers=JSON)
            assert refused.status_code == 429
            assert refused.json()["code"] == "resource_exhausted"
            assert (await slow).status_code == 200
    finally:
        await server.stop(0)
