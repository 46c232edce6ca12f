"""Connect's proto3 JSON, over real HTTP: strict where protobuf's json_format is lenient.

Deep nesting, repeated keys and bad base64 are `invalid_argument` naming what is wrong (not
HTTP 500, a last-wins guess or silently emptied bytes); a Struct's integral numbers read
the same (`4`) on Connect JSON as on the binary protocols through Cello's dict mapping.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import httpx
import json_service
import pytest

from cello import GrpcConfig, GrpcServer
from cello._definitions.config import ONE_PORT, TRANSPORTS
from cello._wire.convert import message_to_dict

SVC = "/jsontest.v1.JsonProbe"
JSON = {"content-type": "application/json", "connect-protocol-version": "1"}


async def start(transport: str = "aio") -> GrpcServer:
    # h2 and envoy serve the web protocols on their one port
    web_port = {} if transport in ONE_PORT else {"web_port": 0}
    config = GrpcConfig(transport=transport, enable_web=True, **web_port)
    server = GrpcServer("127.0.0.1", 0, config)
    server.register_service(json_service.JsonProbe())
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


def blob_type(server: GrpcServer) -> Any:
    (binding,) = [m for m in server.bindings[SVC[1:]].methods if m.name == "Echo"]
    return binding.request_type


def envelope(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def first_message(body: bytes) -> bytes:
    """The first enveloped message of a streaming (Connect or gRPC-Web) response."""
    flags, length = struct.unpack_from(">BI", body)
    assert not flags & 0x82, body  # neither an end-of-stream nor a trailer frame
    return body[5 : 5 + length]


def grpc_web_status(response: httpx.Response) -> str:
    """`grpc-status` of a gRPC-Web response: a header (trailers-only) or the trailer frame."""
    if "grpc-status" in response.headers:
        return response.headers["grpc-status"]
    body, pos = response.content, 0
    while pos < len(body):
        flags, length = struct.unpack_from(">BI", body, pos)
        chunk, pos = body[pos + 5 : pos + 5 + length], pos + 5 + length
        if flags & 0x80:
            trailers = dict(line.split(":", 1) for line in chunk.decode().split("\r\n") if line)
            return trailers["grpc-status"].strip()
    raise AssertionError(f"no grpc-status in {response.headers} {body!r}")


def nested(depth: int) -> str:
    return '{"child": ' * depth + "{}" + "}" * depth


async def refused(client: httpx.AsyncClient, content: str) -> str:
    response = await client.post(f"{SVC}/Echo", content=content, headers=JSON)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "invalid_argument", error
    message: str = error["message"]
    assert message.startswith("invalid JSON for jsontest.v1.Blob: "), message
    return message


# -- nesting ------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_json_nested_past_the_stack_is_invalid_argument(transport: str) -> None:
    server = await start(transport)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            url = f"http://127.0.0.1:{server.web_port}{SVC}/Echo"
            for depth in (5000, 150):  # past Python's stack; past protobuf's 100 levels
                response = await client.post(url, content=nested(depth), headers=JSON)
                assert response.status_code == 400, response.text
                error = response.json()
                assert error["code"] == "invalid_argument"
                assert "jsontest.v1.Blob" in error["message"] and "deep" in error["message"]
            # the server keeps serving
            ok = await client.post(url, json={"name": "after"}, headers=JSON)
            assert ok.status_code == 200 and ok.json() == {"name": "after", "meta": {}}
    finally:
        await server.stop(0)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_binary_nested_past_protobufs_limit_is_invalid_argument(transport: str) -> None:
    server = await start(transport)
    try:
        blob = blob_type(server)()
        leaf = blob
        for _ in range(150):  # protobuf's decoders stop at 100
            leaf = leaf.child
        leaf.name = "leaf"
        raw = blob.SerializeToString()
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(f"{SVC}/Echo")(raw)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "jsontest.v1.Blob" in str(caught.value.details())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.web_port}") as client:
            web = await client.post(
                f"{SVC}/Echo",
                content=envelope(raw),
                headers={"content-type": "application/grpc-web+proto"},
            )
            connect = await client.post(
                f"{SVC}/Echo", content=raw, headers={"content-type": "application/proto"}
            )
        assert grpc_web_status(web) == "3"  # INVALID_ARGUMENT
        assert connect.status_code == 400 and connect.json()["code"] == "invalid_argument"
    finally:
        await server.stop(0)


# -- repeated keys ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ('{"name": "a", "name": "b"}', '"name"'),
        ('{"name": "a", "name": "a"}', '"name"'),
        ('{"child": {"data": "", "data": "QQ=="}}', '"data"'),
        ('{"meta": {"k": 1, "k": 2}}', '"k"'),
    ],
    ids=["last-would-win", "same-value", "nested-message", "in-a-struct"],
)
async def test_a_repeated_key_is_refused_naming_it(
    client: httpx.AsyncClient, content: str, key: str
) -> None:
    message = await refused(client, content)
    assert f"key {key} appears twice" in message


async def test_json_and_proto_names_of_one_field_are_refused(client: httpx.AsyncClient) -> None:
    message = await refused(client, '{"name": "a", "child": {}, "child": {}}')
    assert '"child"' in message


# -- base64 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where", "shown"),
    [
        ({"data": "!!!***"}, "field data", '"!!!***"'),
        ({"data": "QUJD!"}, "field data", '"QUJD!"'),
        ({"data": "QUJDR"}, "field data", '"QUJDR"'),  # one character over a quad
        ({"data": "QQ="}, "field data", '"QQ="'),  # padding short of a quad
        ({"data": "QUJD\n"}, "field data", '"QUJD\\n"'),
        ({"parts": ["QQ==", "%%"]}, "field parts[1]", '"%%"'),
        ({"named": {"k": "**"}}, 'field named["k"]', '"**"'),
        ({"child": {"child": {"data": "é"}}}, "field child.child.data", '"\\u00e9"'),
    ],
    ids=[
        "symbols",
        "trailing-symbol",
        "dangling",
        "short-padding",
        "newline",
        "repeated",
        "map",
        "nested",
    ],
)
async def test_bytes_that_are_not_base64_are_refused_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], where: str, shown: str
) -> None:
    message = await refused(client, json.dumps(body))
    assert f"{where}: {shown} is not base64" in message


@pytest.mark.parametrize(
    "text",
    ["+/+/", "-_-_", "+/8=", "-_8", "QUI=", "QUI", "QQ==", "QQ", ""],
    ids=[
        "standard",
        "url-safe",
        "standard-padded",
        "url-safe-unpadded",
        "padded",
        "unpadded",
        "padded-2",
        "unpadded-2",
        "empty",
    ],
)
async def test_standard_and_url_safe_base64_with_or_without_padding(
    client: httpx.AsyncClient, text: str
) -> None:
    expected = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "==")
    response = await client.post(
        f"{SVC}/Echo", json={"data": text, "parts": [text], "named": {"k": text}}, headers=JSON
    )
    assert response.status_code == 200, response.text
    echoed = response.json()
    for value in (echoed.get("data", ""), echoed["parts"][0], echoed["named"]["k"]):
        assert base64.b64decode(value) == expected


# -- Struct numbers -----------------------------------------------------------------

META = {"n": 4, "half": 0.5, "list": [1, 2.5, -3], "deep": {"k": 3}, "zero": 0}
CANONICAL = json.dumps(META, sort_keys=True)  # json.dumps tells 4 from 4.0


def canonical(meta: Any) -> str:
    return json.dumps(meta, sort_keys=True)


async def test_struct_numbers_read_the_same_on_every_protocol(
    server: GrpcServer, client: httpx.AsyncClient
) -> None:
    blob = blob_type(server)
    seen: dict[str, str] = {}

    unary = await client.post(f"{SVC}/Echo", json={"meta": META}, headers=JSON)
    seen["connect-json"] = canonical(unary.json()["meta"])
    assert re.search(r'"n": 4[,}]', unary.text) and "4.0" not in unary.text  # map order varies
    query = urllib.parse.urlencode({"encoding": "json", "message": json.dumps({"meta": META})})
    get = await client.get(f"{SVC}/Echo?{query}")
    seen["connect-get"] = canonical(get.json()["meta"])
    stream = await client.post(
        f"{SVC}/Twice",
        content=envelope(json.dumps({"meta": META}).encode()),
        headers={"content-type": "application/connect+json"},
    )
    seen["connect-stream"] = canonical(json.loads(first_message(stream.content))["meta"])

    # the binary protocols carry each number as a double; Cello's dict mapping reads them
    request = blob()
    request.meta.update(META)
    raw = request.SerializeToString()
    proto = await client.post(
        f"{SVC}/Echo", content=raw, headers={"content-type": "application/proto"}
    )
    seen["connect-proto"] = canonical(message_to_dict(blob.FromString(proto.content))["meta"])
    web = await client.post(
        f"{SVC}/Echo", content=envelope(raw), headers={"content-type": "application/grpc-web+proto"}
    )
    reply = blob.FromString(first_message(web.content))
    seen["grpc-web"] = canonical(message_to_dict(reply)["meta"])
    async with grpc.aio.insecure_channel(server.address) as channel:
        native = await channel.unary_unary(f"{SVC}/Echo", response_deserializer=blob.FromString)(
            raw
        )
    seen["grpc"] = canonical(message_to_dict(native)["meta"])

    assert seen == dict.fromkeys(seen, CANONICAL)
