"""REST JSON against Connect JSON for the same rpc, on the same web port, in one run.

    python benchmarks/rest.py           # full run (about 20 s on 2 cores)
    python benchmarks/rest.py --quick   # smoke run (a few seconds)

One server process serves a service whose `GetBook` has a REST route
(`GET /v1/shelves/{shelf}/books/{isbn}`, the request from the path and the query string)
and whose `CreateBook` takes a JSON body (`POST /v1/books`, `body="*"`). This process
drives each rpc over REST and over Connect JSON with httpx on keep-alive HTTP/1.1
connections, `--concurrency` calls in flight, rotating the order of the timed rounds.
Prints the median calls/second, the server's CPU time per call (from /proc) and the ratio
of REST to Connect for the same rpc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
SERVER = """
import asyncio, sys
from dataclasses import dataclass, field
from cello import GrpcConfig, GrpcServer, GrpcService, Http, grpc_method

@dataclass
class Book:
    isbn: str = ""
    title: str = ""
    shelf: int = 0
    tags: list[str] = field(default_factory=list)

@dataclass
class BookRef:
    shelf: int = 0
    isbn: str = ""
    view: str = ""

class RestBench(GrpcService):
    package = "restbench.v1"

    @grpc_method(http=Http.get("/v1/shelves/{shelf}/books/{isbn}"))
    async def get_book(self, request: BookRef) -> Book:
        return Book(isbn=request.isbn, shelf=request.shelf, title="Dune", tags=["sf", request.view])

    @grpc_method(http=Http.post("/v1/books", body="*"))
    async def create_book(self, request: Book) -> Book:
        return request

async def main():
    config = GrpcConfig(enable_web=True, web_port=0, concurrency_limit=1000, health=False)
    server = GrpcServer("127.0.0.1", 0, config)
    server.register_service(RestBench())
    await server.start()
    print(server.web_port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(0)

asyncio.run(main())
"""
BOOK = {"isbn": "978-0", "title": "Dune", "shelf": "3", "tags": ["sf", "classic"]}
CONNECT = {"content-type": "application/json", "connect-protocol-version": "1"}
# name → (method, path, body, headers)
CASES: dict[str, tuple[str, str, bytes | None, dict[str, str]]] = {
    "GetBook REST": ("GET", "/v1/shelves/3/books/978-0?view=full", None, {}),
    "GetBook Connect": (
        "POST",
        "/restbench.v1.RestBench/GetBook",
        json.dumps({"shelf": "3", "isbn": "978-0", "view": "full"}).encode(),
        CONNECT,
    ),
    "CreateBook REST": (
        "POST",
        "/v1/books",
        json.dumps(BOOK).encode(),
        {"content-type": "application/json"},
    ),
    "CreateBook Connect": (
        "POST",
        "/restbench.v1.RestBench/CreateBook",
        json.dumps(BOOK).encode(),
        CONNECT,
    ),
}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _round(client: httpx.AsyncClient, case: Any, seconds: float, n: int) -> int:
    method, path, body, headers = case
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await client.request(method, path, content=body, headers=headers)
            if response.status_code != 200 or b'"978-0"' not in response.content:
                raise RuntimeError(f"{path}: {response.status_code} {response.content[:200]!r}")
            done += 1

    await asyncio.gather(*(worker() for _ in range(n)))
    return done


async def bench(args: argparse.Namespace) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    names = list(CASES)
    rates: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        limits = httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
        ) as client:
            for name in names:  # warm-up, and every case answers correctly
                await _round(client, CASES[name], args.warmup, args.concurrency)
            for i in range(args.rounds):
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    before, start = _cpu_seconds(proc.pid), time.perf_counter()
                    calls = await _round(client, CASES[name], args.seconds, args.concurrency)
                    elapsed = time.perf_counter() - start
                    rates[name].append(calls / elapsed)
                    cpu[name].append((_cpu_seconds(proc.pid) - before) / calls * 1e6)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(10)
    print(f"{args.concurrency} in flight, {args.rounds} rounds of {args.seconds}s")
    print(f"{'case':<20}{'calls/s':>10}{'server CPU/call':>18}{'vs Connect':>13}")
    for name in names:
        rate, per_call = statistics.median(rates[name]), statistics.median(cpu[name])
        connect = statistics.median(rates[name.split()[0] + " Connect"])
        print(f"{name:<20}{rate:>10.0f}{per_call:>15.0f} us{rate / connect:>12.2f}x")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short smoke run")
    p.add_argument("--concurrency", type=int, default=16, help="calls in flight (default 16)")
    p.add_argument("--rounds", type=int, default=4, help="timed rounds per case")
    p.add_argument("--seconds", type=float, default=1.5, help="length of a round")
    args = p.parse_args(argv)
    args.warmup = 0.3 if args.quick else 1.0
    if args.quick:
        args.rounds, args.seconds = 2, 0.4
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
