"""`SyncGrpcChannel`: the dict-style channel from blocking code, against a real server."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from cello import GrpcError, SyncGrpcChannel
from cello.grpc import GrpcServer


def _calls(address: str) -> dict[str, Any]:
    with SyncGrpcChannel.connect(address) as channel:
        book = channel.call("demo.library.v1.LibraryService", "GetBook", {"isbn": "978-0"})
        missing = channel.call("demo.library.v1.LibraryService", "GetBook", {"isbn": "x"})
        titles = [
            b["title"]
            for b in channel.stream(
                "demo.library.v1.LibraryService", "ListBooks", {"genre": "GENRE_SCIENCE"}
            )
        ]
        summary = channel.call(
            "demo.library.v1.LibraryService",
            "ReturnBooks",
            requests=[  # `Loan.when` is required: a Loan without it is refused
                {"isbn": "1", "member": "ann", "when": "2024-05-17T12:30:00Z"},
                {"isbn": "2", "member": "bob", "when": "2024-05-17T12:30:00Z"},
            ],
        )
        with pytest.raises(GrpcError) as raised:
            channel.call(
                "demo.library.v1.LibraryService", "GetBook", {"isbn": "x"}, raise_on_error=True
            )
        return {
            "title": book.data["title"],
            "missing": (missing.status_code, missing.message),
            "titles": titles,
            "members": summary.data["members"],
            "raised": raised.value.code,
            "thread_alive": channel._loop.thread.is_alive(),
            "thread": channel._loop.thread,
        }


async def test_blocking_calls_and_streams(library_server: GrpcServer) -> None:
    # the server runs on this loop, so the blocking caller runs in a worker thread
    result = await asyncio.to_thread(_calls, library_server.address)
    assert result["title"] == "Dune"
    assert result["missing"] == (GrpcError.NOT_FOUND, "no book x")
    assert result["titles"] == ["Cosmos"]
    assert result["members"] == ["ann", "bob"]
    assert result["raised"] == GrpcError.NOT_FOUND
    assert result["thread_alive"] and not result["thread"].is_alive()  # close() stopped it
    assert threading.current_thread() is threading.main_thread()


def test_connect_failure_is_unavailable_and_leaves_no_thread() -> None:
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(GrpcError) as raised:
        SyncGrpcChannel.connect("127.0.0.1:1", timeout=0.2)
    assert raised.value.code == GrpcError.UNAVAILABLE
    assert "cello-sync-channel" not in {t.name for t in threading.enumerate()} - before
