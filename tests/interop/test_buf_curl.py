"""`buf curl` calls a Cello server knowing nothing but its address: the schema comes
from server reflection alone (no .proto given).

Responses are the proto3 JSON mapping: lowerCamelCase names, enums by name, int64 as
strings, Timestamp/Duration as strings, Struct as a plain JSON object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import peers
import pytest

if TYPE_CHECKING:
    from conftest import Served

pytestmark = pytest.mark.peer

LIBRARY = "demo.library.v1.LibraryService"
PROTOCOLS = pytest.mark.parametrize(
    "reflect_protocol", [None, "grpc-v1", "grpc-v1alpha"], ids=["default", "v1", "v1alpha"]
)

DUNE = {
    "isbn": "978-0",
    "title": "Dune",
    "authors": [{"name": "Frank Herbert", "born": "1920-10-08T00:00:00Z"}],
    "genre": "GENRE_FICTION",
    "pages": 412,
    "tags": {"series": "Dune"},
    "rating": 0,
    "loanPeriod": "1209600s",
    "sequel": None,
    # `optional string subtitle` is unset, so even --emit-defaults leaves it out
}
COSMOS = {
    "isbn": "978-1",
    "title": "Cosmos",
    "authors": [],
    "genre": "GENRE_SCIENCE",
    "pages": 365,
    "tags": {},
    "rating": 4.5,
    "loanPeriod": "1209600s",
    "sequel": None,
}


@PROTOCOLS
def test_get_book(cello_server: Served, reflect_protocol: str | None) -> None:
    book = peers.buf_curl(
        cello_server.address,
        f"{LIBRARY}/GetBook",
        {"isbn": "978-0"},
        reflect_protocol=reflect_protocol,
    )
    assert book == DUNE


def test_count_pages_synthesized_request(cello_server: Served) -> None:
    reply = peers.buf_curl(
        cello_server.address, f"{LIBRARY}/CountPages", {"isbn": "978-1", "extra": "35"}
    )
    assert reply == {"value": "400"}


def test_list_books_stream(cello_server: Served) -> None:
    books = peers.buf_curl_stream(
        cello_server.address, f"{LIBRARY}/ListBooks", {"genre": "GENRE_SCIENCE"}
    )
    assert books == [COSMOS]


def test_not_found(cello_server: Served) -> None:
    with pytest.raises(peers.PeerCallError) as info:
        peers.buf_curl(cello_server.address, f"{LIBRARY}/GetBook", {"isbn": "nope"})
    assert (info.value.code_name, info.value.details) == ("NOT_FOUND", "no book nope")


@PROTOCOLS
def test_seed_get_user(cello_server: Served, reflect_protocol: str | None) -> None:
    user = peers.buf_curl(
        cello_server.address,
        "examples.seed_services.UserService/GetUser",
        {},
        reflect_protocol=reflect_protocol,
    )
    assert user == {"id": 1, "name": "Alice"}


def test_seed_get_order_reads_struct_request(cello_server: Served) -> None:
    order = peers.buf_curl(
        cello_server.address, "examples.seed_services.OrderService/GetOrder", {"id": "42"}
    )
    assert order == {"id": "42", "status": "pending"}


def test_list_services(cello_server: Served) -> None:
    services = peers.buf_curl_list(cello_server.address, what="services")
    assert {
        LIBRARY,
        "examples.seed_services.OrderService",
        "examples.seed_services.UserService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } == set(services)


def test_list_methods(cello_server: Served) -> None:
    methods = peers.buf_curl_list(cello_server.address, what="methods")
    assert f"{LIBRARY}/GetBook" in methods
    assert "examples.seed_services.UserService/GetUser" in methods
