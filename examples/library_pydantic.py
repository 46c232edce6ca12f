"""The library catalogue of `library.py`, written with pydantic models.

Requests are validated by the models before a handler runs: a bad ISBN or an empty author
name is answered INVALID_ARGUMENT with a `google.rpc.BadRequest` naming the field.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from cello import GrpcError, Int32
from cello.grpc import GrpcService, grpc_method

Isbn = Annotated[str, Field(pattern=r"^97[89]-[0-9]+$", description="ISBN-13, e.g. 978-0.")]


class Genre(enum.IntEnum):
    FICTION = 1
    SCIENCE = 2
    HISTORY = 3


class Author(BaseModel):
    """Who wrote a book."""

    name: str = Field(min_length=1, description="The author's full name.")
    born: dt.date | None = None


class Book(BaseModel):
    """A book of the catalogue."""

    isbn: Isbn
    title: str = Field(min_length=1, max_length=200)
    authors: list[Author] = Field(default_factory=list)
    genre: Genre = Genre.FICTION
    pages: Annotated[int, Int32] = Field(default=0, ge=0)
    tags: dict[str, str] = Field(default_factory=dict)
    subtitle: str | None = None
    rating: float = Field(default=0.0, ge=0, le=5)
    price: Decimal = Decimal("0")
    format: Literal["paper", "ebook"] = "paper"
    loan_period: dt.timedelta = dt.timedelta(days=14)


class GetBookRequest(BaseModel):
    isbn: Isbn


class Loan(BaseModel):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    isbn: Isbn
    member: str = Field(min_length=1)
    due: dt.date


class LoanSummary(BaseModel):
    count: int
    members: list[str]


CATALOGUE = {
    "978-0": Book(
        isbn="978-0",
        title="Dune",
        authors=[Author(name="Frank Herbert", born=dt.date(1920, 10, 8))],
        pages=412,
        tags={"series": "Dune"},
        price=Decimal("9.99"),
    ),
    "978-1": Book(isbn="978-1", title="Cosmos", genre=Genre.SCIENCE, pages=365, rating=4.5),
}


class PydanticLibraryService(GrpcService):
    package = "demo.library_pydantic.v1"

    @grpc_method
    async def GetBook(self, request: GetBookRequest) -> Book:
        book = CATALOGUE.get(request.isbn)
        if book is None:
            raise GrpcError(GrpcError.NOT_FOUND, f"no book {request.isbn}")
        return book

    @grpc_method
    async def AddBook(self, book: Book) -> Book:
        CATALOGUE[book.isbn] = book
        return book

    @grpc_method
    def ListBooks(self, genre: Genre) -> Iterator[Book]:
        """A sync generator: it runs in the server's thread pool."""
        for book in list(CATALOGUE.values()):
            if book.genre == genre:
                yield book

    @grpc_method
    async def ReturnBooks(self, requests: AsyncIterator[Loan]) -> LoanSummary:
        members = [loan.member async for loan in requests]
        return LoanSummary(count=len(members), members=members)
