"""`@grpc_method(http=Http...)`: `option (google.api.http)` in the `.proto`, every form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cello import GrpcService, Http, grpc_method


@dataclass
class Book:
    isbn: str = ""
    title: str = ""


@dataclass
class BookRef:
    shelf: str = ""
    isbn: str = ""


@dataclass
class UpdateBook:
    isbn: str = ""
    book: Book | None = None


@dataclass
class Shelf:
    name: str = ""
    books: list[Book] = field(default_factory=list)


class Library(GrpcService):
    package = "rest.v1"

    @grpc_method(
        idempotent=True,
        http=Http.get(
            "/v1/shelves/{shelf}/books/{isbn}",
            additional_bindings=(Http.get("/v1/books/{isbn}"),),
        ),
    )
    async def GetBook(self, request: BookRef) -> Book:
        """Read a book."""
        return Book(isbn=request.isbn)

    @grpc_method(http=Http.post("/v1/books", body="*"))
    async def CreateBook(self, request: Book) -> Book:
        return request

    @grpc_method(http=Http.patch("/v1/books/{isbn}", body="book"))
    async def UpdateBook(self, request: UpdateBook) -> Book:
        return request.book or Book()

    @grpc_method(http=Http.delete("/v1/{shelf=shelves/*}/books/{isbn}"))
    async def DeleteBook(self, request: BookRef) -> Book:
        return Book(isbn=request.isbn)

    @grpc_method(http=Http.post("/v1/{name=shelves/*}:archive"))
    async def ArchiveShelf(self, request: Shelf) -> Shelf:
        return request

    @grpc_method(http=Http.get("/v1/{name=shelves/*}", response_body="books"))
    async def GetShelf(self, request: Shelf) -> Shelf:
        return request

    @grpc_method(http=Http.custom("HEAD", "/v1/shelves/{name}/books"))
    async def CheckShelf(self, request: Shelf) -> Shelf:
        return request

    @grpc_method(stream=True, http=Http.get("/v1/shelves/{name}/books:watch"))
    async def WatchShelf(self, request: Shelf) -> AsyncIterator[Book]:
        yield Book()
