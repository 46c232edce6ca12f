"""Node's @grpc/grpc-js + @grpc/proto-loader call a Cello server from the emitted .proto.

Values follow node_client.js: .proto field names, int64 as strings, enums as names,
WKTs as plain messages (Timestamp/Duration as seconds+nanos, Struct as `fields`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import peers
import pytest

if TYPE_CHECKING:
    from conftest import Served

pytestmark = pytest.mark.peer

LIBRARY_PROTO = "demo/library/v1/library.proto"
LIBRARY = "demo.library.v1.LibraryService"
SEED_PROTO = "examples/seed_services/seed_services.proto"
BORN_1920_10_08 = -1553644800  # 1920-10-08T00:00:00Z
FOURTEEN_DAYS = {"seconds": "1209600", "nanos": 0}

DUNE = {
    "isbn": "978-0",
    "title": "Dune",
    "authors": [{"name": "Frank Herbert", "born": {"seconds": str(BORN_1920_10_08), "nanos": 0}}],
    "genre": "GENRE_FICTION",
    "pages": 412,  # int32: a JS number, where an int64 would be a string
    "tags": {"series": "Dune"},
    "rating": 0,
    "loan_period": FOURTEEN_DAYS,
    "sequel": None,
    # `optional string subtitle` is unset, so protobufjs leaves it out
}
COSMOS = {
    "isbn": "978-1",
    "title": "Cosmos",
    "authors": [],
    "genre": "GENRE_SCIENCE",
    "pages": 365,
    "tags": {},
    "rating": 4.5,
    "loan_period": FOURTEEN_DAYS,
    "sequel": None,
}


def library_call(
    server: Served, method: str, request: object, mode: str = "unary"
) -> list[dict[str, object]]:
    return peers.node_call(
        server.out, LIBRARY_PROTO, LIBRARY, method, request, server.address, mode
    )


def test_get_book(cello_server: Served) -> None:
    assert library_call(cello_server, "GetBook", {"isbn": "978-0"}) == [DUNE]


def test_get_book_not_found(cello_server: Served) -> None:
    with pytest.raises(peers.PeerCallError) as info:
        library_call(cello_server, "GetBook", {"isbn": "nope"})
    assert (info.value.code_name, info.value.details) == ("NOT_FOUND", "no book nope")


@pytest.mark.parametrize(
    ("genre", "expected"),
    [("GENRE_FICTION", [DUNE]), ("GENRE_SCIENCE", [COSMOS]), ("GENRE_HISTORY", [])],
    ids=["fiction", "science", "empty-stream"],
)
def test_list_books(cello_server: Served, genre: str, expected: list[object]) -> None:
    books = library_call(cello_server, "ListBooks", {"genre": genre}, mode="server_stream")
    assert books == expected


def test_count_pages_synthesized_request(cello_server: Served) -> None:
    [reply] = library_call(cello_server, "CountPages", {"isbn": "978-1", "extra": "35"})
    assert reply == {"value": "400"}  # int64 → decimal string


def test_seed_get_user_struct(cello_server: Served) -> None:
    [reply] = peers.node_call(
        cello_server.out,
        SEED_PROTO,
        "examples.seed_services.UserService",
        "GetUser",
        {},
        cello_server.address,
    )
    # protobufjs spells Struct/Value fields lowerCamelCase (its bundled WKT definitions)
    assert reply == {
        "fields": {
            "id": {"numberValue": 1, "kind": "numberValue"},
            "name": {"stringValue": "Alice", "kind": "stringValue"},
        }
    }


def test_seed_get_order_reads_struct_request(cello_server: Served) -> None:
    [reply] = peers.node_call(
        cello_server.out,
        SEED_PROTO,
        "examples.seed_services.OrderService",
        "GetOrder",
        {"fields": {"id": {"stringValue": "42"}}},
        cello_server.address,
    )
    assert reply["fields"] == {
        "id": {"stringValue": "42", "kind": "stringValue"},
        "status": {"stringValue": "pending", "kind": "stringValue"},
    }
