"""`cello-gen build --betterproto` stubs, used with grpclib, call a Cello server.

The client runs in a subprocess with only the build directory on its path, where the
grpcio modules (`demo.library.v1.library_pb2`) and the betterproto package
(`betterproto_stubs.demo.library.v1`) live side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Served

pytestmark = pytest.mark.peer

CLIENT = textwrap.dedent(
    """
    import asyncio, datetime, json, sys
    from pathlib import Path

    import betterproto
    from grpclib.client import Channel
    from grpclib.exceptions import GRPCError

    # the build directory must not shadow the betterproto library itself
    assert not Path(betterproto.__file__).is_relative_to(sys.argv[2]), betterproto.__file__
    from demo.library.v1 import library_pb2  # grpcio modules of the same package still import
    from betterproto_stubs.demo.library.v1 import (
        Book, Ebook, Genre, GetBookRequest, LibraryServiceStub, ListBooksRequest, Loan, Paper)

    def book(b):
        assert isinstance(b, Book) and isinstance(b.genre, Genre), (type(b), type(b.genre))
        assert isinstance(b.loan_period, datetime.timedelta), type(b.loan_period)
        return {
            "isbn": b.isbn, "title": b.title, "genre": b.genre.name, "pages": b.pages,
            "authors": [[a.name, a.born.isoformat()] for a in b.authors],
            "tags": b.tags, "subtitle": b.subtitle, "rating": b.rating,
            "loan_days": b.loan_period.days,
        }

    async def loans():
        when = datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)
        yield Loan(isbn="978-0", member="ann", when=when, copy_ebook=Ebook(url="u"))
        yield Loan(isbn="978-1", member="bob", when=when, copy_paper=Paper(shelf="B"))

    async def main(host, port):
        async with Channel(host, port) as channel:
            stub = LibraryServiceStub(channel)
            print(json.dumps(book(await stub.get_book(GetBookRequest(isbn="978-0")))))
            science = [book(b) async for b in stub.list_books(
                ListBooksRequest(genre=Genre.SCIENCE))]
            print(json.dumps(science))
            summary = await stub.return_books(loans())
            print(json.dumps({"count": summary.count, "members": summary.members}))
            try:
                await stub.get_book(GetBookRequest(isbn="nope"))
            except GRPCError as exc:
                print(json.dumps({"code": exc.status.value, "details": exc.message}))
        assert library_pb2.Book.DESCRIPTOR.full_name == "demo.library.v1.Book"

    host, port = sys.argv[1].rsplit(":", 1)
    asyncio.run(main(host, int(port)))
    """
)


@pytest.fixture(scope="module")
def betterproto_out(
    cello_gen: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("betterproto")
    written = cello_gen("build", "examples.library", "--out", str(out), "--betterproto")
    assert str(out / "betterproto_stubs/demo/library/v1/__init__.py") in written.splitlines()
    return out


def run_client(out: Path, server: Served) -> list[Any]:
    script = out / "client.py"
    script.write_text(CLIENT)
    proc = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", str(script), server.address, str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(out)},
        cwd=out,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_betterproto_client(betterproto_out: Path, cello_server: Served) -> None:
    dune, science, summary, error = run_client(betterproto_out, cello_server)
    assert dune == {
        "isbn": "978-0",
        "title": "Dune",
        "genre": "FICTION",  # betterproto strips the GENRE_ prefix
        "pages": 412,
        "authors": [["Frank Herbert", "1920-10-08T00:00:00+00:00"]],
        "tags": {"series": "Dune"},
        "subtitle": None,  # proto3 optional, unset
        "rating": 0.0,
        "loan_days": 14,
    }
    assert [(b["isbn"], b["title"], b["genre"], b["pages"], b["rating"]) for b in science] == [
        ("978-1", "Cosmos", "SCIENCE", 365, 4.5)
    ]
    assert summary == {"count": 2, "members": ["ann", "bob"]}
    assert error == {"code": 5, "details": "no book nope"}
