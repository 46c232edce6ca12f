"""REST from `@grpc_method(http=Http...)`, called with curl over real HTTP.

Every verb, path templates (`{field}`, `{name=operations/*}`, custom verbs), the query
mapping (repeated keys, nested fields with dots, JSON or proto names), JSON and protobuf
bodies, gzip both ways, `google.rpc.Status` errors with details, newline-delimited
server streams, the 404 listing the nearest routes, and clashing routes refused.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rest_service

from cello import DefinitionError, GrpcConfig, GrpcServer, GrpcService, Http, grpc_method

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def curl(url: str, *args: str) -> Reply:
    """`curl -i` → the last response's status, headers (lower-cased) and raw body."""
    proc = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "-i",
        "--max-time",
        "20",
        *args,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)  # values too
    return Reply(int(lines[0].split()[1]), headers, body)


async def start(transport: str = "aio", **options: Any) -> GrpcServer:
    web_port = {} if transport == "h2" else {"web_port": 0}
    config = GrpcConfig(transport=transport, enable_web=True, **web_port, **options)
    server = GrpcServer("127.0.0.1", 0, config)
    server.register_service(rest_service.Bookshop())
    await server.start()
    return server


@pytest.fixture
async def base() -> AsyncIterator[str]:
    server = await start()
    yield f"http://127.0.0.1:{server.web_port}"
    await server.stop(0)


async def test_get_binds_path_and_query(base: str) -> None:
    query = "tags=a&tags=b&author.fullName=Ann&author.born=1970&in_print=true&genre=GENRE_POETRY"
    reply = await curl(f"{base}/v1/shelves/3/books/978-0?{query}")
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {
        "isbn": "978-0",
        "shelf": "3",  # int64 as a string: proto3 JSON
        "pages": str(2**53 + 1),
        "tags": ["a", "b"],
        "author": {"fullName": "Ann", "born": "1970"},
        "genre": "GENRE_POETRY",
        "inPrint": True,
    }


async def test_post_put_patch_delete_and_a_custom_verb(base: str) -> None:
    json_body = ("-H", "content-type: application/json")
    posted = await curl(
        f"{base}/v1/books",
        "-X",
        "POST",
        *json_body,
        "-d",
        '{"isbn": "1", "title": "Dune", "in_print": true}',
    )
    assert (posted.status, posted.json()) == (
        200,
        {"isbn": "1", "title": "Dune", "inPrint": True},
    )
    put = await curl(f"{base}/v1/books/2", "-X", "PUT", *json_body, "-d", '{"title": "Emma"}')
    assert put.json() == {"isbn": "2", "title": "Emma"}  # the path wins for isbn
    patched = await curl(f"{base}/v1/books/3", "-X", "PATCH", *json_body, "-d", '{"title": "X"}')
    assert patched.json() == {"isbn": "3", "title": "X"}  # body="book": the body is the field
    deleted = await curl(f"{base}/v1/books/4", "-X", "DELETE")
    assert deleted.json() == {"name": "deleted/4", "done": True}
    cancelled = await curl(f"{base}/v1/operations/op-7:cancel", "-X", "POST")
    assert cancelled.json() == {"name": "operations/op-7", "done": True}


async def test_response_body_sends_one_field(base: str) -> None:
    reply = await curl(f"{base}/v1/shelves/s1")
    assert reply.json() == [{"isbn": "1"}, {"isbn": "2"}]


async def test_protobuf_bodies_both_ways(base: str, tmp_path: Path) -> None:
    from google.protobuf import symbol_database

    book_type = symbol_database.Default().GetSymbol("bookshop.v1.Book")
    raw = tmp_path / "book.bin"
    raw.write_bytes(book_type(isbn="9", title="Binary", pages=12).SerializeToString())
    reply = await curl(
        f"{base}/v1/books",
        "-X",
        "POST",
        "-H",
        "content-type: application/x-protobuf",
        "--data-binary",
        f"@{raw}",
    )
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/x-protobuf"
    assert book_type.FromString(reply.body) == book_type(isbn="9", title="Binary", pages=12)
    # JSON in, protobuf out, by Accept
    reply = await curl(f"{base}/v1/books/5", "-H", "accept: application/protobuf", "-X", "DELETE")
    assert reply.headers["content-type"] == "application/x-protobuf"
    # protobuf in, JSON out, by Accept
    reply = await curl(
        f"{base}/v1/books",
        "-X",
        "POST",
        "-H",
        "accept: application/json",
        "-H",
        "content-type: application/protobuf",
        "--data-binary",
        f"@{raw}",
    )
    assert reply.json() == {"isbn": "9", "title": "Binary", "pages": "12"}


async def test_gzip_both_ways(tmp_path: Path) -> None:
    server = await start(compression="gzip")
    try:
        body = tmp_path / "book.json.gz"
        body.write_bytes(gzip.compress(b'{"isbn": "1", "title": "Squeezed"}'))
        reply = await curl(
            f"http://127.0.0.1:{server.web_port}/v1/books",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-H",
            "content-encoding: gzip",
            "-H",
            "accept-encoding: gzip",
            "--data-binary",
            f"@{body}",
        )
        assert reply.headers["content-encoding"] == "gzip"
        assert json.loads(gzip.decompress(reply.body)) == {"isbn": "1", "title": "Squeezed"}
    finally:
        await server.stop(0)


async def test_errors_are_google_rpc_status_with_details(base: str) -> None:
    reply = await curl(f"{base}/v1/shelves/3/books/missing")
    assert reply.status == 404
    assert reply.json() == {
        "code": 5,
        "message": "no book missing",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "isbn", "description": "no such book"}],
            }
        ],
    }
    bad = await curl(f"{base}/v1/shelves/3/books/1?in_print=maybe")
    assert bad.status == 400 and "not a bool" in bad.json()["message"]
    unknown = await curl(f"{base}/v1/shelves/3/books/1?colour=red")
    assert unknown.status == 400 and "'colour' names no field" in unknown.json()["message"]
    not_json = await curl(
        f"{base}/v1/books", "-X", "POST", "-H", "content-type: application/json", "-d", "{nope"
    )
    assert not_json.status == 400 and not_json.json()["code"] == 3


async def test_server_stream_is_newline_delimited_json(base: str) -> None:
    reply = await curl(f"{base}/v1/shelves/8/books:stream", "-N")
    lines = [json.loads(line) for line in reply.body.splitlines()]
    assert lines == [
        {"result": {"isbn": "1", "shelf": "8"}},
        {"result": {"isbn": "2", "shelf": "8"}},
    ]
    failed = await curl(f"{base}/v1/shelves/8/books:stream?isbn=fail", "-N")
    lines = [json.loads(line) for line in failed.body.splitlines()]
    assert lines == [
        {"result": {"isbn": "1", "shelf": "8"}},
        {"error": {"code": 9, "message": "shelf is locked", "details": []}},
    ]


async def test_no_route_is_404_with_the_nearest_routes(base: str) -> None:
    reply = await curl(f"{base}/v1/shelvez/3")
    assert reply.status == 404
    assert b"No route for GET /v1/shelvez/3" in reply.body
    assert b"GET /v1/shelves/{name}" in reply.body


async def test_rpcs_without_rules_keep_connect(base: str) -> None:
    reply = await curl(
        f"{base}/bookshop.v1.Bookshop/Ping",
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        '{"name": "p"}',
    )
    assert reply.json() == {"name": "p"}
    # and rpcs with rules too
    reply = await curl(
        f"{base}/bookshop.v1.Bookshop/DeleteBook",
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        '{"isbn": "z"}',
    )
    assert reply.json() == {"name": "deleted/z", "done": True}


async def test_served_on_the_h2_port() -> None:
    server = await start("h2")
    try:
        reply = await curl(f"http://127.0.0.1:{server.port}/v1/books/4", "-X", "DELETE")
        assert reply.json() == {"name": "deleted/4", "done": True}
    finally:
        await server.stop(0)


@dataclass
class Ref:
    id: str = ""


class Clashing(GrpcService):
    package = "clash.v1"

    @grpc_method(http=Http.get("/v1/things/{id}"))
    async def get_thing(self, request: Ref) -> Ref:
        return request

    @grpc_method(http=Http.get("/v1/things/{id}"))
    async def find_thing(self, request: Ref) -> Ref:
        return request


def test_clashing_routes_are_refused_naming_both() -> None:
    from cello.codegen.schema.introspect import build_schema

    with pytest.raises(DefinitionError, match=r"get_thing.*find_thing|find_thing.*get_thing"):
        build_schema([Clashing])


def test_unknown_fields_in_rules_are_refused_at_definition() -> None:
    from cello.codegen.schema.introspect import build_schema

    class Bad(GrpcService):
        package = "bad.v1"

        @grpc_method(http=Http.get("/v1/things/{ident}"))
        async def get_thing(self, request: Ref) -> Ref:
            return request

    with pytest.raises(DefinitionError, match=r"Bad\.get_thing.*'ident'.*its fields: id"):
        build_schema([Bad])

    class BodyOnGet(GrpcService):
        package = "bad.v1"

        @grpc_method(http=Http("GET", "/v1/things", body="*"))
        async def get_thing(self, request: Ref) -> Ref:
            return request

    with pytest.raises(DefinitionError, match="a GET has no body"):
        build_schema([BodyOnGet])


@pytest.mark.parametrize(
    "path",
    ["v1/x", "/v1/{a", "/v1//x", "/v1/**/x", "/v1/{a.}", "/v1/x:!"],
    ids=["no-slash", "unclosed", "empty", "double-star-inside", "bad-field", "bad-verb"],
)
def test_bad_templates_are_refused_when_declared(path: str) -> None:
    with pytest.raises(DefinitionError, match="HttpRule"):
        Http.get(path)


class FirstShop(GrpcService):
    package = "clash.first.v1"

    @grpc_method(http=Http.get("/v1/items/{id}"))
    async def get_item(self, request: Ref) -> Ref:
        return request


class SecondShop(GrpcService):
    package = "clash.second.v1"

    @grpc_method(http=Http.get("/v1/items/{id}"))
    async def fetch_item(self, request: Ref) -> Ref:
        return request


async def test_clashes_across_services_are_refused_at_registration() -> None:
    server = GrpcServer("127.0.0.1", 0, GrpcConfig(enable_web=True, web_port=0))
    server.register_service(FirstShop())
    server.register_service(SecondShop())
    with pytest.raises(DefinitionError, match=r"SecondShop.fetch_item.*FirstShop.get_item"):
        server.web_app()


async def test_unknown_rpcs_keep_their_protocols_answer(base: str) -> None:
    """A path shaped like an rpc is not a REST 404: Connect answers it as before."""
    reply = await curl(
        f"{base}/bookshop.v1.Bookshop/Nope",
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        "{}",
    )
    assert reply.json()["code"] == "unimplemented"


async def test_middleware_auth_and_cors_apply() -> None:
    from cello import token_auth

    config = GrpcConfig(enable_web=True, web_port=0, web_origins=("https://app.example",))
    server = GrpcServer("127.0.0.1", 0, config)
    server.register_service(rest_service.Bookshop())
    server.add_middleware(token_auth(lambda token: token == "s3cret" or None))
    await server.start()
    base = f"http://127.0.0.1:{server.web_port}"
    try:
        denied = await curl(f"{base}/v1/books/1", "-X", "DELETE")
        assert denied.status == 401 and denied.json()["code"] == 16
        allowed = await curl(
            f"{base}/v1/books/1",
            "-X",
            "DELETE",
            "-H",
            "authorization: Bearer s3cret",
            "-H",
            "origin: https://app.example",
        )
        assert allowed.status == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        preflight = await curl(
            f"{base}/v1/books/1",
            "-X",
            "OPTIONS",
            "-H",
            "origin: https://app.example",
            "-H",
            "access-control-request-method: PATCH",
        )
        assert "patch" in preflight.headers["access-control-allow-methods"]  # lower-cased
        stranger = await curl(f"{base}/v1/books/1", "-X", "DELETE", "-H", "origin: https://evil")
        assert stranger.status == 403
    finally:
        await server.stop(0)


async def test_unknown_query_keys_dropped_when_configured() -> None:
    server = await start(web_json_ignore_unknown_fields=True)
    try:
        reply = await curl(f"http://127.0.0.1:{server.web_port}/v1/books/4?_=123", "-X", "DELETE")
        assert reply.json() == {"name": "deleted/4", "done": True}
    finally:
        await server.stop(0)


async def test_metadata_both_ways(base: str) -> None:
    """Request headers are metadata; the response's come back as Grpc-Metadata-* and
    Grpc-Trailer-* headers, as grpc-gateway sends them."""
    reply = await curl(f"{base}/v1/books/meta", "-X", "DELETE", "-H", "x-request: r-1")
    assert reply.status == 200
    assert reply.headers["grpc-metadata-x-seen"] == "r-1"
    assert reply.headers["grpc-trailer-x-deleted"] == "1"
