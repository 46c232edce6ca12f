"""Peer servers that run in the peer venv: `python peer_servers.py KIND STUBS_DIR OPTIONS_JSON`.

KIND is `pydantic-rpc` or `connectrpc`. Same contract as `bench_servers.py`: serve
`BenchService` on 127.0.0.1 (a free port), print the port on stdout, run until stdin closes
or SIGTERM. This module runs under the peer venv's Python (`peer_env.py`), so it imports
neither Cello nor `bench_service`: only the `cello-gen build` output (`bench/v1/*_pb2*`,
plus `bench_connect.py` from protoc-gen-connectrpc) and the peer's own packages.
OPTIONS_JSON is the grpc channel options every grpcio server of the run gets.

No `from __future__ import annotations` here: pydantic-rpc reads the handlers' annotations
with `inspect.signature` and needs them evaluated.
"""

import asyncio
import datetime as dt
import enum
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONCURRENCY_LIMIT = 1000  # as bench_servers.py


def _pydantic_models() -> tuple[type, Any]:
    """The `Book` of `bench_service`, as pydantic-rpc `Message` models; (service class, BOOK)."""
    from pydantic_rpc import Message

    class Genre(enum.IntEnum):
        UNSPECIFIED = 0
        FICTION = 1
        SCIENCE = 2
        HISTORY = 3

    class Author(Message):
        name: str
        born: dt.datetime | None = None

    class Category(Message):
        name: str
        parent: "Category | None" = None  # noqa: UP037  # the class is not bound yet

    class Book(Message):
        isbn: str
        title: str
        authors: list[Author] = []
        genre: Genre = Genre.FICTION
        pages: int = 0
        tags: dict[str, str] = {}
        subtitle: str | None = None
        rating: float = 0.0
        loan_period: dt.timedelta = dt.timedelta(days=14)
        published: dt.datetime | None = None
        category: Category | None = None
        in_print: bool = True
        sequel_isbn: str | None = None

    class GetBookRequest(Message):
        isbn: str

    class ListBooksRequest(Message):
        count: int

    Category.model_rebuild()
    book = Book(
        isbn="978-0441013593",
        title="Dune",
        authors=[
            Author(name="Frank Herbert", born=dt.datetime(1920, 10, 8, tzinfo=dt.UTC)),
            Author(name="Brian Herbert", born=dt.datetime(1947, 6, 29, 12, 30, tzinfo=dt.UTC)),
        ],
        genre=Genre.FICTION,
        pages=412,
        tags={"series": "Dune", "format": "paperback", "language": "en"},
        subtitle="Deluxe Edition",
        rating=4.25,
        loan_period=dt.timedelta(days=21, seconds=3600),
        published=dt.datetime(1965, 8, 1, 9, 0, 0, 250_000, tzinfo=dt.UTC),
        category=Category(name="Science fiction", parent=Category(name="Fiction")),
        in_print=True,
        sequel_isbn="978-0593098233",
    )

    # pydantic-rpc maps the PascalCase of each method name to the rpc; the annotations are
    # what it converts by, so they name the models above.
    class BenchService:
        async def get_book(self, request: GetBookRequest) -> Book:
            return book

        async def get_book_dict(self, request: GetBookRequest) -> Book:
            return book

        async def list_books(self, request: ListBooksRequest) -> AsyncIterator[Book]:
            for _ in range(request.count):
                yield book

        async def echo_books(self, requests: AsyncIterator[Book]) -> AsyncIterator[Book]:
            async for item in requests:
                yield item

    return BenchService, book


async def _pydantic_rpc(options: list[tuple[str, Any]]) -> tuple[Callable[[], Any], int]:
    from bench.v1 import bench_pb2, bench_pb2_grpc  # type: ignore[import-not-found]
    from pydantic_rpc import AsyncIOServer

    service, _ = _pydantic_models()
    server = AsyncIOServer(options=options, maximum_concurrent_rpcs=CONCURRENCY_LIMIT)
    # on the shared .proto rather than pydantic-rpc's own: it has no `double` (a Python
    # float becomes proto `float`), so its generated Book differs on the wire (README.md)
    server.mount_using_pb2_modules(bench_pb2_grpc, bench_pb2, service())
    port = server._server.add_insecure_port("127.0.0.1:0")  # run() binds [::]:fixed port
    await server._server.start()
    return lambda: server.stop(0), port


async def _connectrpc(options: list[tuple[str, Any]]) -> tuple[Callable[[], Any], int]:
    from bench.v1 import bench_pb2  # type: ignore[import-not-found]
    from bench.v1.bench_connect import BenchServiceASGIApplication  # type: ignore[import-not-found]
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    book = bench_pb2.Book.FromString(bytes.fromhex(os.environ["CELLO_BENCH_BOOK"]))

    class ConnectBench:
        """connectrpc's generated service protocol, raw `_pb2`: the floor, as `AioBench`."""

        async def get_book(self, request: Any, ctx: Any) -> Any:
            return book

        async def get_book_dict(self, request: Any, ctx: Any) -> Any:
            return book

        async def list_books(self, request: Any, ctx: Any) -> AsyncIterator[Any]:
            for _ in range(request.count):
                yield book

        async def echo_books(self, requests: AsyncIterator[Any], ctx: Any) -> AsyncIterator[Any]:
            async for item in requests:
                yield item

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound here so the port is known before hypercorn starts
    sock.listen(1024)
    sock.set_inheritable(True)
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.errorlog = None
    config.h2_max_concurrent_streams = CONCURRENCY_LIMIT
    shutdown = asyncio.Event()
    task = asyncio.ensure_future(
        serve(BenchServiceASGIApplication(ConnectBench()), config, shutdown_trigger=shutdown.wait)
    )

    async def stop() -> None:
        shutdown.set()
        await task
        sock.detach()  # hypercorn closed the fd; holding `sock` till now kept it open

    return stop, sock.getsockname()[1]


SERVERS = {"pydantic-rpc": _pydantic_rpc, "connectrpc": _connectrpc}


async def _serve(kind: str, options: list[tuple[str, Any]]) -> None:
    stop, port = await SERVERS[kind](options)
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)

    def wait_for_eof() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stopped.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    print(port, flush=True)
    await stopped.wait()
    await stop()


def main() -> None:
    kind, stubs, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    # the script's directory holds `pydantic.py` (another benchmark), which would shadow pydantic
    sys.path[:] = [stubs, *(p for p in sys.path if Path(p or ".").resolve() != HERE)]
    asyncio.run(_serve(kind, [tuple(o) for o in options]))
    os._exit(0)  # skip interpreter teardown; nothing is left to flush


if __name__ == "__main__":
    main()
