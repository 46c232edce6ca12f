"""A Go client, compiled from the emitted .proto, calls a Cello server.

The client (go/main.go) reads every field through the typed getters protoc-gen-go
generated, and prints JSON lines; one build serves every test of the session.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import peers
import pytest

if TYPE_CHECKING:
    from conftest import Served

pytestmark = pytest.mark.peer

GO_MAIN = Path(__file__).resolve().parent / "go" / "main.go"
LIBRARY_PROTO = "demo/library/v1/library.proto"

DUNE = {
    "isbn": "978-0",
    "title": "Dune",
    "authors": [{"name": "Frank Herbert", "born": "1920-10-08T00:00:00Z"}],
    "genre": "GENRE_FICTION",
    "genre_number": 1,
    "pages": 412,
    "tags": {"series": "Dune"},
    "has_subtitle": False,
    "rating": 0,
    "loan_period": "336h0m0s",
    "has_sequel": False,
}
COSMOS = {
    "isbn": "978-1",
    "title": "Cosmos",
    "authors": None,  # empty repeated and map fields are nil in Go
    "genre": "GENRE_SCIENCE",
    "genre_number": 2,
    "pages": 365,
    "tags": None,
    "has_subtitle": False,
    "rating": 4.5,
    "loan_period": "336h0m0s",
    "has_sequel": False,
}


@pytest.fixture(scope="session")
def go_client(stubs_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    started = time.monotonic()
    binary = peers.build_go_client(
        stubs_out, [LIBRARY_PROTO], GO_MAIN, tmp_path_factory.mktemp("gobuild")
    )
    print(f"go client built in {time.monotonic() - started:.1f}s")
    return binary


def run_go(binary: Path, server: Served, *args: str, ok: bool = True) -> list[Any]:
    proc = subprocess.run(
        [str(binary), server.address, *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == (0 if ok else 1), f"exit {proc.returncode}: {proc.stderr}"
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_get_book(go_client: Path, cello_server: Served) -> None:
    assert run_go(go_client, cello_server, "getbook", "978-0") == [DUNE]


def test_get_book_not_found(go_client: Path, cello_server: Served) -> None:
    error = run_go(go_client, cello_server, "getbook", "nope", ok=False)
    assert error == [{"code": 5, "details": "no book nope"}]


@pytest.mark.parametrize(
    ("genre", "expected"),
    [("GENRE_FICTION", [DUNE]), ("GENRE_SCIENCE", [COSMOS]), ("GENRE_HISTORY", [])],
    ids=["fiction", "science", "empty-stream"],
)
def test_list_books(
    go_client: Path, cello_server: Served, genre: str, expected: list[dict[str, Any]]
) -> None:
    assert run_go(go_client, cello_server, "listbooks", genre) == expected


def test_return_books_client_stream(go_client: Path, cello_server: Served) -> None:
    summary = run_go(go_client, cello_server, "returnbooks", "ann", "bob", "cy")
    assert summary == [{"count": 3, "members": ["ann", "bob", "cy"]}]


def test_chat_bidi_keeps_oneof(go_client: Path, cello_server: Served) -> None:
    replies = run_go(go_client, cello_server, "chat", "ann", "bob")
    when = "2024-01-02T03:04:05Z"
    assert replies == [
        {
            "isbn": "978-0",
            "member": "ANN",
            "when": when,
            "copy_ebook": {"url": "https://x/ann", "size_bytes": 2**40},
        },
        {"isbn": "978-0", "member": "BOB", "when": when, "copy_paper": {"shelf": "Bbob"}},
    ]


@pytest.fixture(scope="module")
def rich_server(stubs_out: Path) -> Any:
    """LibraryService with a middleware refusing isbn "bad" with a BadRequest detail."""
    from google.rpc import error_details_pb2

    from cello.grpc import GrpcConfig, GrpcError, GrpcServer
    from examples.library import LibraryService
    from tests.loop_thread import LoopThread

    async def validate(call: Any, call_next: Any) -> Any:
        if call.request is not None and getattr(call.request, "isbn", None) == "bad":
            violation = error_details_pb2.BadRequest.FieldViolation(
                field="isbn", description="not an ISBN"
            )
            detail = error_details_pb2.BadRequest(field_violations=[violation])
            raise GrpcError(GrpcError.INVALID_ARGUMENT, "invalid isbn", details=[detail])
        return await call_next()

    server = GrpcServer(
        "127.0.0.1", 0, GrpcConfig(health=False), stubs_dir=stubs_out, middleware=[validate]
    )
    server.register_service(LibraryService())
    loop = LoopThread()
    try:
        loop.run(server.start())
        yield type("Served", (), {"address": server.address, "out": stubs_out})
        loop.run(server.stop(0))
    finally:
        loop.close()


def test_rich_error_details_read_by_go(go_client: Path, rich_server: Any) -> None:
    error = run_go(go_client, rich_server, "getbook", "bad", ok=False)
    assert error == [
        {
            "code": 3,
            "details": "invalid isbn",
            "bad_request": [{"field": "isbn", "description": "not an ISBN"}],
        }
    ]


@pytest.fixture(scope="module", params=["aio", "threads", "envoy"])
def transport_server(request: pytest.FixtureRequest, stubs_out: Path) -> Any:
    """LibraryService on each transport."""
    from cello.grpc import GrpcConfig, GrpcServer
    from examples.library import LibraryService
    from tests.loop_thread import LoopThread

    config = GrpcConfig(health=False, transport=request.param)
    server = GrpcServer("127.0.0.1", 0, config, stubs_dir=stubs_out)
    server.register_service(LibraryService())
    loop = LoopThread()
    try:
        loop.run(server.start())
        yield type("Served", (), {"address": server.address, "out": stubs_out})
        loop.run(server.stop(0))
    finally:
        loop.close()


def test_every_call_shape_on_each_transport(go_client: Path, transport_server: Any) -> None:
    assert run_go(go_client, transport_server, "getbook", "978-0") == [DUNE]
    error = run_go(go_client, transport_server, "getbook", "nope", ok=False)
    assert error == [{"code": 5, "details": "no book nope"}]
    assert run_go(go_client, transport_server, "listbooks", "GENRE_SCIENCE") == [COSMOS]
    summary = run_go(go_client, transport_server, "returnbooks", "ann", "bob")
    assert summary == [{"count": 2, "members": ["ann", "bob"]}]
    replies = run_go(go_client, transport_server, "chat", "ann")
    assert [r["member"] for r in replies] == ["ANN"]
