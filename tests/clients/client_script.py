"""Calls a Cello library server with the standalone clients; run inside a venv without the server.

Usage: python client_script.py HOST:PORT  (the generated client directory on PYTHONPATH).
Prints one JSON object with what the calls returned.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import json
import sys
from typing import Any

from demo.library.v1.library_client import (
    Book,
    Genre,
    GetBookRequest,
    LibraryServiceClient,
    LibraryServiceSyncClient,
    Loan,
)

from cello import GrpcError


def _book(book: Book) -> dict[str, Any]:
    assert isinstance(book, Book) and isinstance(book.genre, Genre)
    return {
        "title": book.title,
        "genre": book.genre.name,
        "pages": book.pages,
        "tags": book.tags,
        "loan_days": book.loan_period.days,
        "born_year": book.authors[0].born.year if book.authors and book.authors[0].born else None,
    }


async def _async(target: str) -> dict[str, Any]:
    async with LibraryServiceClient.connect(target) as client:
        book = await client.GetBook(GetBookRequest(isbn="978-0"))
        try:
            await client.GetBook(GetBookRequest(isbn="nope"))
            missing: Any = None
        except GrpcError as exc:
            missing = [exc.code, exc.message]
        titles = [b.title async for b in client.ListBooks(Genre.SCIENCE)]
        when = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
        summary = await client.ReturnBooks([Loan("978-0", "ann", when), Loan("978-1", "bob", when)])
        echoed = [x.member async for x in client.Chat([Loan("978-0", "cy", when)])]
        return {
            "book": _book(book),
            "missing": missing,
            "pages": await client.count_pages("978-0", extra=8),
            "science": titles,
            "returned": [summary.count, summary.members],
            "chat": echoed,
            "describe": await client.Describe(),
        }


def _sync(target: str) -> dict[str, Any]:
    with LibraryServiceSyncClient.connect(target) as client:
        book = client.GetBook(GetBookRequest(isbn="978-1"))
        try:
            client.GetBook(GetBookRequest(isbn="nope"))
            missing: Any = None
        except GrpcError as exc:
            missing = [exc.code, exc.message]
        return {
            "book": _book(book),
            "missing": missing,
            "pages": client.count_pages("978-1"),
            "science": [b.title for b in client.ListBooks(Genre.SCIENCE)],
        }


def main() -> None:
    target = sys.argv[1]
    result = {
        "server_importable": importlib.util.find_spec("examples") is not None,
        "async": asyncio.run(_async(target)),
        "sync": _sync(target),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
