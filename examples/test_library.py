"""Testing a Cello service with `cello.testing`: the library example, served in-process.

python -m pytest examples/test_library.py
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cello.grpc import GrpcError, GrpcRequest
from cello.testing import ServerUnderTest, assert_status, raises_status, serve
from examples.library import Genre, GetBookRequest, LibraryService, Loan


@pytest.fixture
async def library() -> AsyncIterator[ServerUnderTest]:
    """The library served on 127.0.0.1 and a free port, for one test."""
    async with serve(LibraryService()) as srv:
        yield srv


async def test_get_book_with_the_typed_client(library: ServerUnderTest) -> None:
    client = library.client(LibraryService)  # generated with the stubs; no build step
    book = await client.GetBook(GetBookRequest(isbn="978-0"))
    assert (book.title, book.genre, book.authors[0].name) == (
        "Dune",
        Genre.FICTION,
        "Frank Herbert",
    )


async def test_missing_book_is_not_found(library: ServerUnderTest) -> None:
    client = library.client(LibraryService)
    with raises_status(GrpcError.NOT_FOUND, match="no book 999") as status:
        await client.GetBook(GetBookRequest(isbn="999"))
    assert status.message == "no book 999"


async def test_streams(library: ServerUnderTest) -> None:
    client = library.client(LibraryService)
    titles = [book.title async for book in client.ListBooks(genre=Genre.SCIENCE)]
    assert titles == ["Cosmos"]
    when = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    loans = [Loan(isbn="978-0", member=name, when=when) for name in ("ada", "alan")]
    summary = await client.ReturnBooks(loans)
    assert (summary.count, summary.members) == (2, ["ada", "alan"])


async def test_dict_calls_through_the_channel(library: ServerUnderTest) -> None:
    response = await library.channel.call(
        "LibraryService", "GetBook", GrpcRequest(data={"isbn": "978-1"})
    )
    assert response.is_ok and response.data["title"] == "Cosmos"
    missing = await library.channel.call("LibraryService", "GetBook", {"isbn": "999"})
    assert_status(missing, "NOT_FOUND", match="no book")


async def test_the_cello_serve_fixture(cello_serve: Any) -> None:
    srv = await cello_serve(LibraryService())  # stopped when the test ends
    pages = await srv.client(LibraryService).count_pages(isbn="978-1", extra=5)
    assert pages == 370
