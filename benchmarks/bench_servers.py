"""One benchmark server per process: `python bench_servers.py KIND STUBS_DIR [PROFILE]`.

Serves `BenchService` on 127.0.0.1 (a free port), prints the port on stdout, and runs until
stdin closes (the harness holds the pipe) or SIGTERM. KIND is one of `SERVERS`, or
`cello-TRANSPORT` for Cello on each transport of `CELLO_TRANSPORTS`. With
PROFILE, the main thread (the event loop of the asyncio servers) runs under cProfile and
the stats are written there on exit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# the same concurrency cap for every grpcio server, so only the Python around each call differs
CONCURRENCY_LIMIT = 1000
SYNC_WORKERS = 16
# Cello's transports the benchmark knows, each with the GrpcConfig options it runs with
# (beyond `transport=`); throughput.py runs those `cello._definitions.config.TRANSPORTS` also lists
CELLO_TRANSPORTS: dict[str, dict[str, Any]] = {
    "aio": {},
    "threads": {"handler_threads": SYNC_WORKERS},  # the worker pool, as grpc sync's
    "h2": {},
    # Envoy in front of the app; its worker threads follow the CPUs the server is pinned to
    "envoy": {},
}


async def _cello(transport: str) -> tuple[Any, int]:
    from bench_service import BenchService

    from cello import GrpcConfig
    from cello.grpc import GrpcServer

    options = CELLO_TRANSPORTS.get(transport, {})
    config = GrpcConfig(
        concurrency_limit=CONCURRENCY_LIMIT,
        # h2load is one trusted client multiplexing 16 streams per connection: the default
        # share (half the limit; half the threads on "threads") is for untrusted ones
        max_calls_per_connection=CONCURRENCY_LIMIT,
        health=False,
        transport=transport,
        **options,
    )
    server = GrpcServer(host="127.0.0.1", port=0, config=config, stubs_dir=sys.argv[2])
    server.register_service(BenchService())
    await server.start()
    return server, server.port


async def _hand(typed: bool = False) -> tuple[Any, int]:
    import grpc.aio
    from bench.v1 import bench_pb2_grpc as pb2_grpc  # type: ignore[import-not-found]
    from servicers import AioBench, TypedAioBench

    from cello import GrpcConfig
    from cello._server.ports import server_options

    config = GrpcConfig(concurrency_limit=CONCURRENCY_LIMIT)
    server = grpc.aio.server(
        options=server_options(config), maximum_concurrent_rpcs=config.concurrency_limit
    )
    servicer = TypedAioBench() if typed else AioBench()
    pb2_grpc.add_BenchServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def _sync() -> tuple[Any, int]:
    from concurrent import futures

    import grpc
    from bench.v1 import bench_pb2_grpc as pb2_grpc
    from servicers import SyncBench

    from cello import GrpcConfig
    from cello._server.ports import server_options

    config = GrpcConfig(concurrency_limit=CONCURRENCY_LIMIT)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=SYNC_WORKERS),
        options=server_options(config),
        maximum_concurrent_rpcs=config.concurrency_limit,
    )
    pb2_grpc.add_BenchServiceServicer_to_server(SyncBench(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


async def _betterproto() -> tuple[Any, int]:
    from grpclib.server import Server
    from servicers import betterproto_servicer

    server = Server([betterproto_servicer()])
    await server.start("127.0.0.1", 0)
    port = server._server.sockets[0].getsockname()[1]  # grpclib has no public accessor
    return server, port


ASYNC_SERVERS: dict[str, Callable[[], Awaitable[tuple[Any, int]]]] = {
    "hand": _hand,
    "typed": lambda: _hand(typed=True),
    "betterproto": _betterproto,
}
SERVERS = (*ASYNC_SERVERS, "sync", *(f"cello-{t}" for t in CELLO_TRANSPORTS))


def _wait_for_eof(stop: Callable[[], None]) -> None:
    sys.stdin.read()
    stop()


async def _serve_async(kind: str) -> None:
    if kind.startswith("cello-"):
        server, port = await _cello(kind.removeprefix("cello-"))
    else:
        server, port = await ASYNC_SERVERS[kind]()
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    threading.Thread(
        target=_wait_for_eof, args=(lambda: loop.call_soon_threadsafe(stopped.set),), daemon=True
    ).start()
    print(port, flush=True)
    await stopped.wait()
    if kind == "betterproto":
        server.close()
        await server.wait_closed()
    else:
        await server.stop(0)


def main() -> None:
    kind, stubs = sys.argv[1], sys.argv[2]
    for path in (stubs, str(HERE), str(REPO)):
        sys.path.insert(0, path)
    if kind == "sync":
        server, port = _sync()
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        threading.Thread(target=_wait_for_eof, args=(done.set,), daemon=True).start()
        print(port, flush=True)
        done.wait()
        server.stop(0)
    elif len(sys.argv) > 3:
        import cProfile

        profiler = cProfile.Profile()
        profiler.runcall(asyncio.run, _serve_async(kind))
        profiler.dump_stats(sys.argv[3])
    else:
        asyncio.run(_serve_async(kind))
    os._exit(0)  # skip interpreter teardown; nothing is left to flush


if __name__ == "__main__":
    main()
