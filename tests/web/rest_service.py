"""A bookshop served as REST from `@grpc_method(http=Http...)` rules, for tests/web/test_rest.py."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from google.rpc import error_details_pb2

from cello import GrpcError, GrpcService, Http, Int64, current_call, grpc_method


class Genre(enum.Enum):
    GENRE_UNSPECIFIED = 0
    NOVEL = 1
    POETRY = 2


@dataclass
class Author:
    """Who wrote a book."""

    full_name: str = ""
    born: int = 0


@dataclass
class Book:
    """A book on a shelf."""

    isbn: str = ""
    title: str = ""
    shelf: int = 0
    pages: Annotated[int, Int64] = 0
    tags: list[str] = field(default_factory=list)
    author: Author | None = None
    genre: Genre = Genre.GENRE_UNSPECIFIED
    in_print: bool = False


@dataclass
class GetBookRequest:
    shelf: int = 0
    isbn: str = ""
    tags: list[str] = field(default_factory=list)
    author: Author | None = None
    genre: Genre = Genre.GENRE_UNSPECIFIED
    in_print: bool = False


@dataclass
class UpdateBookRequest:
    isbn: str = ""
    book: Book | None = None


@dataclass
class Operation:
    name: str = ""
    done: bool = False


@dataclass
class Shelf:
    name: str = ""
    books: list[Book] = field(default_factory=list)


class Bookshop(GrpcService):
    package = "bookshop.v1"

    @grpc_method(http=Http.get("/v1/shelves/{shelf}/books/{isbn}"))
    async def get_book(self, request: GetBookRequest) -> Book:
        """Read a book; the fields not in the path come from the query string."""
        if request.isbn == "missing":
            violation = error_details_pb2.BadRequest.FieldViolation(
                field="isbn", description="no such book"
            )
            raise GrpcError(
                GrpcError.NOT_FOUND,
                f"no book {request.isbn}",
                details=[error_details_pb2.BadRequest(field_violations=[violation])],
            )
        return Book(
            isbn=request.isbn,
            shelf=request.shelf,
            tags=request.tags,
            author=request.author,
            genre=request.genre,
            in_print=request.in_print,
            pages=2**53 + 1,
        )

    @grpc_method(
        http=Http.post(
            "/v1/books",
            body="*",
            additional_bindings=(Http.put("/v1/books/{isbn}", body="*"),),
        )
    )
    async def create_book(self, request: Book) -> Book:
        """Store a book (POST the whole book, or PUT it at its ISBN)."""
        return request

    @grpc_method(http=Http.patch("/v1/books/{isbn}", body="book"))
    async def update_book(self, request: UpdateBookRequest) -> Book:
        """Change a book: the body is the `book` field."""
        book = request.book or Book()
        book.isbn = request.isbn
        return book

    @grpc_method(http=Http.delete("/v1/books/{isbn}"))
    async def delete_book(self, request: GetBookRequest) -> Operation:
        call = current_call()
        if request.isbn == "meta":
            await call.send_headers({"x-seen": call.metadata.get("x-request", "")})
            call.set_trailers({"x-deleted": "1"})
        return Operation(name=f"deleted/{request.isbn}", done=True)

    @grpc_method(http=Http.post("/v1/{name=operations/*}:cancel"))
    async def cancel_operation(self, request: Operation) -> Operation:
        """A custom verb: `:cancel` on an operation."""
        return Operation(name=request.name, done=True)

    @grpc_method(http=Http.get("/v1/shelves/{name}", response_body="books"))
    async def list_shelf(self, request: Shelf) -> Shelf:
        return Shelf(name=request.name, books=[Book(isbn="1"), Book(isbn="2")])

    @grpc_method(stream=True, http=Http.get("/v1/shelves/{shelf}/books:stream"))
    async def stream_books(self, request: GetBookRequest) -> AsyncIterator[Book]:
        """Every book on a shelf; `isbn=fail` fails after the first."""
        yield Book(isbn="1", shelf=request.shelf)
        if request.isbn == "fail":
            raise GrpcError(GrpcError.FAILED_PRECONDITION, "shelf is locked")
        yield Book(isbn="2", shelf=request.shelf)

    @grpc_method
    async def ping(self, request: Operation) -> Operation:
        """No rule: Connect only."""
        return request
