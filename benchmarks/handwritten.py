"""The baseline: a hand-written grpc.aio servicer for `LibraryService` on Cello's generated `_pb2`.

It is what an engineer would write without Cello, serving the same data: it subclasses the
generated `LibraryServiceServicer`, looks the book up in `examples.library.CATALOGUE` (the
same dataclasses Cello's handler returns), and builds the `_pb2.Book` field by field on
every call — no response is cached. Registration goes through the generated
`add_LibraryServiceServicer_to_server`, so grpc deserializes requests and serializes
responses with the generated `FromString`/`SerializeToString`.

Import this module only once the `cello-gen build` output directory is on `sys.path`
(`library_pb2_grpc` imports `demo.library.v1.library_pb2` absolutely).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
from demo.library.v1 import library_pb2 as pb2  # type: ignore[import-not-found]
from demo.library.v1 import library_pb2_grpc as pb2_grpc  # type: ignore[import-not-found]

from examples.library import CATALOGUE, Author, Book


def author_message(author: Author) -> Any:
    """`Author` dataclass → `pb2.Author`."""
    message = pb2.Author(name=author.name)
    if author.born is not None:
        message.born.FromDatetime(author.born)
    return message


def book_message(book: Book) -> Any:
    """`Book` dataclass → `pb2.Book`, every field, as a careful hand-written servicer would."""
    message = pb2.Book(
        isbn=book.isbn,
        title=book.title,
        authors=[author_message(a) for a in book.authors],
        genre=int(book.genre),
        pages=book.pages,
        tags=book.tags,
        subtitle=book.subtitle,
        rating=book.rating,
    )
    message.loan_period.FromTimedelta(book.loan_period)
    if book.sequel is not None:
        message.sequel.CopyFrom(book_message(book.sequel))
    return message


class HandWrittenLibrary(pb2_grpc.LibraryServiceServicer):  # type: ignore[misc]
    """`GetBook` and `ListBooks`, written directly against grpc.aio."""

    async def GetBook(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # type: ignore[type-arg]
        book = CATALOGUE.get(request.isbn)
        if book is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no book {request.isbn}")
        return book_message(book)

    async def ListBooks(
        self,
        request: Any,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> AsyncIterator[Any]:
        for book in CATALOGUE.values():
            if int(book.genre) == request.genre:
                yield book_message(book)


def add_to_server(server: grpc.aio.Server) -> None:
    """Register the servicer the way generated code intends."""
    pb2_grpc.add_LibraryServiceServicer_to_server(HandWrittenLibrary(), server)
