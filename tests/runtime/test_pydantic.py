"""pydantic models as messages: served, validated and returned by the typed client."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2, status_pb2

from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcServer

from .pydantic_services import Author, Book, BookShop, Genre, Query


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pydantic-stubs")
    assert cello_gen(["build", "tests.runtime.pydantic_services", "--out", str(out)]) == 0
    sys.path.insert(0, str(out))
    return out


@pytest.fixture
async def channel(stubs: Path) -> AsyncIterator[grpc.aio.Channel]:
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=stubs)
    server.register_service(BookShop())
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as ch:
            yield ch
    finally:
        await server.stop(0)


def _modules(stubs: Path) -> tuple[ModuleType, ModuleType]:
    from pyd.v1 import pyd_cello, pyd_pb2  # type: ignore[import-not-found]

    return pyd_pb2, pyd_cello


async def test_typed_client_sends_and_returns_models(stubs: Path, channel: Any) -> None:
    client = _modules(stubs)[1].BookShopClient(channel)
    sent = Book(
        isbn="978-0",
        title="dune",
        authors=[Author(name="Frank Herbert", born=1920)],
        genre=Genre.SCIENCE,
        tags={"sf": 1},
        rating=4.5,
        shelf="top",
        pages=412,
    )
    got = await client.Store(sent)
    assert isinstance(got, Book) and isinstance(got.authors[0], Author)
    assert got == sent.model_copy(update={"title": "DUNE"})
    assert await client.Find(Query(isbn="1-2", limit=7)) == Book(isbn="1-2", title="found", pages=7)
    pages = [b async for b in client.Pages(first=5)]
    assert [(b.isbn, b.pages) for b in pages] == [("5", 5), ("6", 6)]


async def test_defaults_fill_absent_fields(stubs: Path, channel: Any) -> None:
    pb2 = _modules(stubs)[0]
    call = channel.unary_unary(
        "/pyd.v1.BookShop/Store",
        request_serializer=pb2.Book.SerializeToString,
        response_deserializer=pb2.Book.FromString,
    )
    reply = await call(pb2.Book(isbn="1", title="t"))
    assert (reply.genre, reply.WhichOneof("shelf"), reply.shelf_int64) == (
        pb2.GENRE_FICTION,
        "shelf_int64",
        0,
    )


async def test_invalid_request_is_invalid_argument_with_field_violations(
    stubs: Path, channel: Any
) -> None:
    pb2 = _modules(stubs)[0]
    call = channel.unary_unary(
        "/pyd.v1.BookShop/Store",
        request_serializer=pb2.Book.SerializeToString,
        response_deserializer=pb2.Book.FromString,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(pb2.Book(isbn="not a number", title="x" * 41, pages=-1))
    error = caught.value
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "isbn" in (error.details() or "")
    raw = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail)
    fields = {v.field: v.description for v in detail.field_violations}
    assert set(fields) == {"isbn", "title", "pages"}
    assert "40 characters" in fields["title"]


def test_field_numbers_and_descriptions_reach_the_proto(stubs: Path) -> None:
    proto = (stubs / "pyd" / "v1" / "pyd.proto").read_text()
    assert "  string isbn = 3;\n  string title = 1;\n  repeated Author authors = 2;" in proto
    assert "  // The author's full name.\n  string name = 1;" in proto
    assert "oneof shelf {" in proto


def test_import_cello_does_not_import_pydantic() -> None:
    code = (
        "import sys, cello, cello.grpc, cello.client\n"
        "from cello.codegen.schema import introspect\n"
        "assert 'pydantic' not in sys.modules, 'pydantic imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


async def test_a_non_zero_default_holds_for_a_peer_leaving_the_field_out(
    stubs: Path, channel: Any
) -> None:
    pb2 = _modules(stubs)[0]
    call = channel.unary_unary(
        "/pyd.v1.BookShop/Find",
        request_serializer=pb2.Query.SerializeToString,
        response_deserializer=pb2.Book.FromString,
    )
    assert (await call(pb2.Query(isbn="1-2"))).pages == 3  # `limit: int = 3`, not 0
    assert (await call(pb2.Query(isbn="1-2", limit=0))).pages == 0


async def test_an_unknown_enum_number_fails_the_models_validation(
    stubs: Path, channel: Any
) -> None:
    # pydantic validates an enum field against its members: closed, whatever proto3 says
    pb2 = _modules(stubs)[0]
    call = channel.unary_unary(
        "/pyd.v1.BookShop/Store",
        request_serializer=pb2.Book.SerializeToString,
        response_deserializer=pb2.Book.FromString,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(pb2.Book(isbn="1", title="t", genre=9))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "genre" in (caught.value.details() or "")
