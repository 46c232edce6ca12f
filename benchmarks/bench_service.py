"""The benchmark's service: a rich `Book` served unary, as a server stream and as a bidi echo.

`Book` has 13 fields covering what a typed API really sends: a nested list, an enum, a
datetime, a timedelta, a map, optionals and a recursive category. `GetBookDict` returns the
same book as a plain dict from a typed handler (the "dict" style).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from cello import Int32
from cello.grpc import GrpcService, grpc_method


class Genre(enum.IntEnum):
    FICTION = 1
    SCIENCE = 2
    HISTORY = 3


@dataclass
class Author:
    name: str
    born: dt.datetime | None = None


@dataclass
class Category:
    name: str
    parent: Category | None = None


@dataclass
class Book:
    isbn: str
    title: str
    authors: list[Author] = field(default_factory=list)
    genre: Genre = Genre.FICTION
    pages: Annotated[int, Int32] = 0
    tags: dict[str, str] = field(default_factory=dict)
    subtitle: str | None = None
    rating: float = 0.0
    loan_period: dt.timedelta = dt.timedelta(days=14)
    published: dt.datetime | None = None
    category: Category | None = None
    in_print: bool = True
    sequel_isbn: str | None = None


@dataclass
class GetBookRequest:
    isbn: str


@dataclass
class ListBooksRequest:
    count: int


BOOK = Book(
    isbn="978-0441013593",
    title="Dune",
    authors=[
        Author("Frank Herbert", dt.datetime(1920, 10, 8, tzinfo=dt.UTC)),
        Author("Brian Herbert", dt.datetime(1947, 6, 29, 12, 30, tzinfo=dt.UTC)),
    ],
    genre=Genre.FICTION,
    pages=412,
    tags={"series": "Dune", "format": "paperback", "language": "en"},
    subtitle="Deluxe Edition",
    rating=4.25,
    loan_period=dt.timedelta(days=21, seconds=3600),
    published=dt.datetime(1965, 8, 1, 9, 0, 0, 250_000, tzinfo=dt.UTC),
    category=Category("Science fiction", Category("Fiction")),
    in_print=True,
    sequel_isbn="978-0593098233",
)


def book_dict(book: Book) -> dict[str, Any]:
    """The book as the dict a handler might build from a database row (JSON-style names)."""
    d = asdict(book)
    d["genre"] = int(book.genre)
    d["loan_period"] = f"{book.loan_period.total_seconds():.6f}s"
    d["published"] = book.published.isoformat() if book.published else None
    d["authors"] = [
        {"name": a.name, "born": a.born.isoformat() if a.born else None} for a in book.authors
    ]
    return {k: v for k, v in d.items() if v is not None}


BOOK_DICT = book_dict(BOOK)


class BenchService(GrpcService):
    package = "bench.v1"

    @grpc_method
    async def GetBook(self, request: GetBookRequest) -> Book:
        return BOOK

    @grpc_method
    async def GetBookDict(self, request: GetBookRequest) -> Book:
        return BOOK_DICT  # type: ignore[return-value]  # the "dict" style under test

    @grpc_method
    async def ListBooks(self, request: ListBooksRequest) -> AsyncIterator[Book]:
        for _ in range(request.count):
            yield BOOK

    @grpc_method
    async def EchoBooks(self, requests: AsyncIterator[Book]) -> AsyncIterator[Book]:
        async for book in requests:
            yield book
