"""A typed example: a small library catalogue written with dataclasses and type hints."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from cello import Field, GrpcError, Int32
from cello.grpc import GrpcRequest, GrpcService, grpc_method


class Genre(enum.IntEnum):
    FICTION = 1
    SCIENCE = 2
    HISTORY = 3


@dataclass
class Author:
    name: str
    born: dt.datetime | None = None


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
    sequel: Book | None = None


@dataclass
class Shelf:
    name: str
    books: list[Book] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@dataclass
class Ebook:
    url: str
    size_bytes: int = 0


@dataclass
class Paper:
    shelf: str


@dataclass
class Loan:
    isbn: str
    member: str
    when: dt.datetime
    copy: Ebook | Paper | None = None
    note: Annotated[str, Field(10)] = ""


@dataclass
class GetBookRequest:
    isbn: str


@dataclass
class LoanSummary:
    count: int
    members: list[str]


CATALOGUE = {
    "978-0": Book(
        isbn="978-0",
        title="Dune",
        authors=[Author("Frank Herbert", dt.datetime(1920, 10, 8, tzinfo=dt.UTC))],
        genre=Genre.FICTION,
        pages=412,
        tags={"series": "Dune"},
    ),
    "978-1": Book(isbn="978-1", title="Cosmos", genre=Genre.SCIENCE, pages=365, rating=4.5),
}


class LibraryService(GrpcService):
    package = "demo.library.v1"

    @grpc_method
    async def GetBook(self, request: GetBookRequest) -> Book:
        book = CATALOGUE.get(request.isbn)
        if book is None:
            raise GrpcError(GrpcError.NOT_FOUND, f"no book {request.isbn}")
        return book

    @grpc_method
    async def find_book(self, request: GrpcRequest[GetBookRequest]) -> Book:
        return await self.GetBook(request.message)

    @grpc_method
    async def count_pages(self, isbn: str, extra: int = 0) -> int:
        book = CATALOGUE.get(isbn)
        return (book.pages if book else 0) + extra

    @grpc_method
    async def ListBooks(self, genre: Genre) -> AsyncIterator[Book]:
        for book in CATALOGUE.values():
            if book.genre == genre:
                yield book

    @grpc_method
    async def ReturnBooks(self, requests: AsyncIterator[Loan]) -> LoanSummary:
        members = [loan.member async for loan in requests]
        return LoanSummary(count=len(members), members=members)

    @grpc_method
    async def Chat(self, requests: AsyncIterator[Loan]) -> AsyncIterator[Loan]:
        async for loan in requests:
            yield Loan(isbn=loan.isbn, member=loan.member.upper(), when=loan.when, copy=loan.copy)

    @grpc_method
    async def Describe(self, request):
        return {"books": len(CATALOGUE), "name": "demo"}

    @grpc_method
    async def ShelfOf(self, request: Shelf) -> Shelf:
        return request
