"""`BenchService` written by hand: on the generated `_pb2`, and on betterproto (a peer).

`AioBench` and `SyncBench` are the floor a Python gRPC server can reach: the `Book` reply is
a `_pb2` message built once at start-up, the stream yields it `count` times, the echo sends
each request message straight back. Only grpc's own (de)serialization runs per call, so the
ratio against them is the whole cost of Cello's typed model and dispatch.

`TypedAioBench` is what an engineer writes to get dataclasses in and out by hand: every
reply is built field by field from the `Book` dataclass, and every echoed request is read
into a `Book` and built back, as Cello's generated converters do.

Import this module only once the `cello-gen build` output directory is on `sys.path`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

from bench.v1 import bench_pb2 as pb2  # type: ignore[import-not-found]
from bench.v1 import bench_pb2_grpc as pb2_grpc  # type: ignore[import-not-found]
from bench_service import BOOK, Author, Book, Category, Genre


def author_message(author: Author) -> Any:
    message = pb2.Author(name=author.name)
    if author.born is not None:
        message.born.FromDatetime(author.born)
    return message


def category_message(category: Category) -> Any:
    message = pb2.Category(name=category.name)
    if category.parent is not None:
        message.parent.CopyFrom(category_message(category.parent))
    return message


def book_message(book: Book) -> Any:
    """`Book` → `pb2.Book`, field by field (used once, at start-up)."""
    message = pb2.Book(
        isbn=book.isbn,
        title=book.title,
        authors=[author_message(a) for a in book.authors],
        genre=int(book.genre),
        pages=book.pages,
        tags=book.tags,
        subtitle=book.subtitle,
        rating=book.rating,
        in_print=book.in_print,
        sequel_isbn=book.sequel_isbn,
    )
    message.loan_period.FromTimedelta(book.loan_period)
    if book.published is not None:
        message.published.FromDatetime(book.published)
    if book.category is not None:
        message.category.CopyFrom(category_message(book.category))
    return message


BOOK_MESSAGE = book_message(BOOK)


def book_from_message(message: Any) -> Book:
    """`pb2.Book` → `Book`, field by field."""
    return Book(
        isbn=message.isbn,
        title=message.title,
        authors=[
            Author(
                a.name,
                a.born.ToDatetime(tzinfo=dt.UTC) if a.HasField("born") else None,
            )
            for a in message.authors
        ],
        genre=Genre(message.genre),
        pages=message.pages,
        tags=dict(message.tags),
        subtitle=message.subtitle if message.HasField("subtitle") else None,
        rating=message.rating,
        loan_period=message.loan_period.ToTimedelta(),
        published=(
            message.published.ToDatetime(tzinfo=dt.UTC) if message.HasField("published") else None
        ),
        category=category_from_message(message.category) if message.HasField("category") else None,
        in_print=message.in_print,
        sequel_isbn=message.sequel_isbn if message.HasField("sequel_isbn") else None,
    )


def category_from_message(message: Any) -> Category:
    parent = category_from_message(message.parent) if message.HasField("parent") else None
    return Category(message.name, parent)


class AioBench(pb2_grpc.BenchServiceServicer):  # type: ignore[misc]
    """grpc.aio, raw `_pb2`."""

    async def GetBook(self, request: Any, context: Any) -> Any:
        return BOOK_MESSAGE

    async def GetBookDict(self, request: Any, context: Any) -> Any:
        return BOOK_MESSAGE

    async def ListBooks(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for _ in range(request.count):
            yield BOOK_MESSAGE

    async def EchoBooks(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        async for book in requests:
            yield book


class TypedAioBench(pb2_grpc.BenchServiceServicer):  # type: ignore[misc]
    """grpc.aio, dataclasses converted by hand on every call."""

    async def GetBook(self, request: Any, context: Any) -> Any:
        return book_message(BOOK)

    async def GetBookDict(self, request: Any, context: Any) -> Any:
        return book_message(BOOK)

    async def ListBooks(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for _ in range(request.count):
            yield book_message(BOOK)

    async def EchoBooks(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        async for message in requests:
            yield book_message(book_from_message(message))


class SyncBench(pb2_grpc.BenchServiceServicer):  # type: ignore[misc]
    """grpc's sync server with a thread pool, raw `_pb2`."""

    def GetBook(self, request: Any, context: Any) -> Any:
        return BOOK_MESSAGE

    def GetBookDict(self, request: Any, context: Any) -> Any:
        return BOOK_MESSAGE

    def ListBooks(self, request: Any, context: Any) -> Iterator[Any]:
        for _ in range(request.count):
            yield BOOK_MESSAGE

    def EchoBooks(self, requests: Iterator[Any], context: Any) -> Iterator[Any]:
        yield from requests


def betterproto_servicer() -> Any:
    """betterproto's generated `BenchServiceBase` for grpclib (an optional peer), same floor."""
    from betterproto_stubs.bench.v1 import (  # type: ignore[import-not-found]
        BenchServiceBase,
    )
    from betterproto_stubs.bench.v1 import Book as BpBook

    book = BpBook().parse(BOOK_MESSAGE.SerializeToString())

    class BetterprotoBench(BenchServiceBase):  # type: ignore[misc]
        async def get_book(self, get_book_request: Any) -> Any:
            return book

        async def get_book_dict(self, get_book_request: Any) -> Any:
            return book

        async def list_books(self, list_books_request: Any) -> AsyncIterator[Any]:
            for _ in range(list_books_request.count):
                yield book

        async def echo_books(self, book_iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
            async for item in book_iterator:
                yield item

    return BetterprotoBench()
