"""`examples/library_pydantic.py` served and called over the wire with its typed client."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path

import grpc.aio
import pytest
from google.rpc import error_details_pb2

from cello import GrpcError
from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcServer
from examples.library_pydantic import Book, Genre, GetBookRequest, Loan, PydanticLibraryService


async def test_pydantic_library_over_the_wire(tmp_path: Path) -> None:
    assert cello_gen(["build", "examples.library_pydantic", "--out", str(tmp_path)]) == 0
    sys.path.insert(0, str(tmp_path))
    try:
        from demo.library_pydantic.v1.library_pydantic_cello import (  # type: ignore[import-not-found]
            PydanticLibraryServiceClient,
        )

        server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=tmp_path)
        server.register_service(PydanticLibraryService())
        async with server, grpc.aio.insecure_channel(server.address) as channel:
            client = PydanticLibraryServiceClient(channel)
            dune = await client.GetBook(GetBookRequest(isbn="978-0"))
            assert isinstance(dune, Book)
            assert (dune.price, dune.authors[0].born) == (Decimal("9.99"), dt.date(1920, 10, 8))
            titles = [b.title async for b in client.ListBooks(genre=Genre.SCIENCE)]
            assert titles == ["Cosmos"]
            loans = [Loan(isbn="978-0", member=m, due=dt.date(2030, 1, 1)) for m in "ab"]
            summary = await client.ReturnBooks(loans)
            assert (summary.count, summary.members) == (2, ["a", "b"])
            bad = Book.model_construct(isbn="123", title="", pages=-1)  # skips validation
            with pytest.raises(GrpcError) as caught:
                await client.AddBook(bad)
        assert caught.value.code == GrpcError.INVALID_ARGUMENT
        (detail,) = caught.value.details
        assert isinstance(detail, error_details_pb2.BadRequest)
        assert {v.field for v in detail.field_violations} == {"isbn", "title", "pages"}
    finally:
        sys.path.remove(str(tmp_path))
