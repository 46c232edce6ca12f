"""Services typed by pydantic models (module level, so generated stubs import them)."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Annotated

import pydantic
from pydantic import BaseModel, Field

import cello
from cello import GrpcService, grpc_method


class Genre(enum.Enum):
    FICTION = 1
    SCIENCE = 2


class Author(BaseModel):
    """Who wrote a book."""

    name: str = Field(min_length=1, description="The author's full name.")
    born: int | None = None


class Book(BaseModel):
    """A book on the shelf."""

    isbn: Annotated[str, cello.Field(3)] = Field(pattern=r"^[0-9-]+$")
    title: str = Field(max_length=40, json_schema_extra={"number": 1})
    authors: list[Author] = Field(default_factory=list)
    genre: Genre = Genre.FICTION
    tags: dict[str, int] = {}
    rating: float | None = None
    shelf: int | str = 0  # → oneof
    pages: int = Field(default=0, ge=0)


@pydantic.dataclasses.dataclass
class Query:
    isbn: str
    limit: int = 3


class BookShop(GrpcService):
    package = "pyd.v1"

    @grpc_method
    async def Store(self, book: Book) -> Book:
        return book.model_copy(update={"title": book.title.upper()})

    @grpc_method
    async def Find(self, query: Query) -> Book:
        return Book(isbn=query.isbn, title="found", pages=query.limit)

    @grpc_method
    async def Pages(self, first: int, count: int = 2) -> AsyncIterator[Book]:
        for n in range(first, first + count):
            yield Book(isbn=str(n), title=f"page {n}", pages=n)
