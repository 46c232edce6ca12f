"""Server processes for the benchmark: Cello or the hand-written servicer, one per process.

Each process serves on 127.0.0.1 (port 0), sends its port up a pipe, then answers two
requests on that pipe from a helper thread: "cpu" (process CPU seconds so far, all
threads) and "stop". With `profile` set, the event-loop thread runs under cProfile and the
stats are written to that path on stop.
"""

from __future__ import annotations

import asyncio
import cProfile
import dataclasses
import logging
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What both servers share, so that only the dispatch differs."""

    stubs_dir: str
    concurrency_limit: int
    stream_books: int
    profile: str | None = None


def run_server(kind: str, settings: ServerSettings, conn: Connection) -> None:
    """Process entry point: serve `kind` ("cello" or "hand") until told to stop."""
    for path in (str(REPO), settings.stubs_dir):
        if path not in sys.path:
            sys.path.insert(0, path)
    stock_catalogue(settings.stream_books)
    asyncio.run(_serve(kind, settings, conn))


def stock_catalogue(fiction_books: int) -> None:
    """Grow `examples.library.CATALOGUE` to `fiction_books` FICTION books for ListBooks.

    The extra books are copies of "978-0" (Dune) under new ISBNs; GetBook still asks for
    "978-0", so unary results are unaffected.
    """
    from examples.library import CATALOGUE, Genre

    dune = CATALOGUE["978-0"]
    have = sum(1 for b in CATALOGUE.values() if b.genre == Genre.FICTION)
    for i in range(max(0, fiction_books - have)):
        isbn = f"bench-{i:04d}"
        CATALOGUE[isbn] = dataclasses.replace(dune, isbn=isbn, title=f"{dune.title} #{i}")


async def _serve(kind: str, settings: ServerSettings, conn: Connection) -> None:
    server, port = await (_start_cello if kind == "cello" else _start_hand)(settings)
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    threading.Thread(target=_control, args=(conn, loop, stopped), daemon=True).start()
    profiler = cProfile.Profile() if settings.profile else None
    if profiler is not None:
        profiler.enable()
    conn.send(port)
    await stopped.wait()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(settings.profile)
    await server.stop(0)
    conn.send("stopped")


def _control(conn: Connection, loop: asyncio.AbstractEventLoop, stopped: asyncio.Event) -> None:
    while True:
        request = conn.recv()
        if request == "cpu":
            conn.send(time.process_time())
        elif request == "stop":
            loop.call_soon_threadsafe(stopped.set)
            return


async def _start_cello(settings: ServerSettings) -> tuple[object, int]:
    from cello import GrpcConfig
    from cello.grpc import GrpcServer
    from examples.library import LibraryService

    config = GrpcConfig(concurrency_limit=settings.concurrency_limit)
    server = GrpcServer(host="127.0.0.1", port=0, config=config, stubs_dir=settings.stubs_dir)
    server.register_service(LibraryService())
    await server.start()
    return server, server.port


async def _start_hand(settings: ServerSettings) -> tuple[object, int]:
    import grpc.aio
    from handwritten import add_to_server

    from cello import GrpcConfig
    from cello._server.ports import server_options

    # the same grpcio options and concurrency cap as Cello's server, so only dispatch differs
    config = GrpcConfig(concurrency_limit=settings.concurrency_limit)
    server = grpc.aio.server(
        options=server_options(config), maximum_concurrent_rpcs=config.concurrency_limit
    )
    add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


class _FakeContext:
    """Just enough of `ServicerContext` for the benchmark's calls (writes are dropped)."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer bench"),)

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    async def write(self, message: object) -> None:
        pass


def handler_costs(settings: ServerSettings, repeats: int, calls: int) -> dict[str, float]:
    """Microseconds per call of the Python work each server does around grpc, no network.

    Cello: its registered grpc handler on the serialized request (parse, convert, call,
    encode, serialize); "cello+mw" adds the access log (to a handler that drops the lines)
    and token auth. Hand-written: `FromString`, the servicer method, `SerializeToString`
    (what grpc does around it). The best of `repeats` runs of `calls` calls each; a
    ListBooks call consumes the whole stream.
    """
    for path in (str(REPO), settings.stubs_dir):
        if path not in sys.path:
            sys.path.insert(0, path)
    stock_catalogue(settings.stream_books)
    return asyncio.run(_handler_costs(settings, repeats, calls))


async def _handler_costs(settings: ServerSettings, repeats: int, calls: int) -> dict[str, float]:
    from demo.library.v1 import library_pb2 as pb2  # type: ignore[import-not-found]
    from handwritten import HandWrittenLibrary

    from cello import access_log, token_auth
    from cello._call.dispatch import method_endpoint
    from cello._call.endpoint import Limiter
    from cello._transports.grpc_aio import method_handler
    from cello._wire.stubs import load_bindings
    from examples.library import LibraryService

    (service,) = load_bindings([LibraryService], stubs_dir=settings.stubs_dir).values()
    limiter = Limiter(settings.concurrency_limit)
    instance = LibraryService()
    methods = {
        m.name: method_handler(method_endpoint(m, instance, limiter=limiter))
        for m in service.methods
    }
    dropped = logging.getLogger("bench.access")
    dropped.addHandler(logging.NullHandler())
    dropped.setLevel(logging.INFO)
    dropped.propagate = False
    middleware = [access_log(dropped), token_auth(lambda token: token)]
    with_mw = {
        m.name: method_handler(method_endpoint(m, instance, limiter=limiter, middleware=middleware))
        for m in service.methods
    }
    context, hand = _FakeContext(), HandWrittenLibrary()
    get_raw = pb2.GetBookRequest(isbn="978-0").SerializeToString()
    list_raw = pb2.ListBooksRequest(genre=pb2.GENRE_FICTION).SerializeToString()
    get_cello, list_cello = methods["GetBook"].unary_unary, methods["ListBooks"].unary_stream
    get_mw = with_mw["GetBook"].unary_unary

    async def cello_get() -> object:
        return await get_cello(get_raw, context)

    async def cello_mw_get() -> object:
        return await get_mw(get_raw, context)

    async def hand_get() -> object:
        request = pb2.GetBookRequest.FromString(get_raw)
        return pb2.Book.SerializeToString(await hand.GetBook(request, context))

    async def cello_list() -> object:
        return await list_cello(list_raw, context)

    async def hand_list() -> object:
        request = pb2.ListBooksRequest.FromString(list_raw)
        return [pb2.Book.SerializeToString(m) async for m in hand.ListBooks(request, context)]

    cases = {
        "GetBook cello": (cello_get, calls),
        "GetBook hand": (hand_get, calls),
        "GetBook cello+mw": (cello_mw_get, calls),
        "ListBooks cello": (cello_list, max(1, calls // settings.stream_books)),
        "ListBooks hand": (hand_list, max(1, calls // settings.stream_books)),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeats):  # interleaved, so a noisy moment hits every case alike
        for name, (call, n) in cases.items():
            start = time.perf_counter()
            for _ in range(n):
                await call()
            best[name] = min(best[name], (time.perf_counter() - start) / n * 1e6)
    return best
