"""Throughput of Cello against a hand-written grpc.aio servicer on the same generated `_pb2`.

    python benchmarks/unary.py                  # full run (about 40 s on 2 cores)
    python benchmarks/unary.py --quick          # smoke run for CI (under 10 s)
    python benchmarks/unary.py --profile cello  # also cProfile that server's event loop

Builds the stubs of `examples.library` with `cello-gen build` into a temporary directory,
starts two server processes — Cello serving `LibraryService`, and the servicer in
`handwritten.py` — and drives both from this process with the generated `LibraryServiceStub`
over plain grpc.aio: `--concurrency` calls in flight, a warm-up, then timed rounds
alternating the order (A B, B A, ...). Prints the median calls/second of each, the server
process's CPU time per call, the ratio Cello / hand-written, and the Python work each
server does per call measured in-process. See README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from harness import finish, load

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
KINDS = ("cello", "hand")
LABELS = {"cello": "cello", "hand": "hand-written"}
TARGET = 0.9


@dataclass(frozen=True, slots=True)
class Plan:
    """How long and how hard to drive each server."""

    concurrency: int
    warmup: float
    rounds: int
    seconds: float
    stream_books: int


@dataclass(slots=True)
class Samples:
    """Per-round figures for one server on one method."""

    rates: list[float] = field(default_factory=list)
    cpu_per_call: list[float] = field(default_factory=list)  # server process, us
    server_busy: list[float] = field(default_factory=list)  # server CPU s per wall s
    client_busy: list[float] = field(default_factory=list)  # client CPU s per wall s


@dataclass(slots=True)
class Server:
    """A running server process and its control pipe."""

    kind: str
    process: Any
    conn: Connection
    port: int

    def cpu(self) -> float:
        self.conn.send("cpu")
        return float(self.conn.recv())


def parse_args(argv: list[str] | None) -> tuple[Plan, argparse.Namespace]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short smoke run (CI)")
    p.add_argument("--concurrency", type=int, default=64, help="calls in flight (default 64)")
    p.add_argument("--rounds", type=int, help="timed rounds per server (default 5; quick 1)")
    p.add_argument("--seconds", type=float, help="length of a round (default 1.5; quick 0.5)")
    p.add_argument("--no-stream", action="store_true", help="skip the ListBooks comparison")
    p.add_argument("--stream-books", type=int, default=20, help="books per ListBooks stream")
    p.add_argument(
        "--profile",
        choices=KINDS,
        action="append",
        default=[],
        help="run that server under cProfile; stats to benchmarks/profile-KIND.prof",
    )
    args = p.parse_args(argv)
    plan = Plan(
        concurrency=args.concurrency,
        warmup=0.2 if args.quick else 1.0,
        rounds=args.rounds or (1 if args.quick else 5),
        seconds=args.seconds or (0.5 if args.quick else 1.5),
        stream_books=args.stream_books,
    )
    return plan, args


def build_stubs(out: Path) -> None:
    """`cello-gen build examples.library --out OUT`, as a user would run it."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "cello.codegen.cli",
        "build",
        "examples.library",
        "--out",
        str(out),
    ]
    subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)


def start_servers(stubs: Path, plan: Plan, profile: list[str]) -> dict[str, Server]:
    from servers import ServerSettings, run_server

    ctx = multiprocessing.get_context("spawn")  # no grpc state inherited across fork
    started: dict[str, Server] = {}
    for kind in KINDS:
        settings = ServerSettings(
            stubs_dir=str(stubs),
            concurrency_limit=max(100, 2 * plan.concurrency),
            stream_books=plan.stream_books,
            profile=str(HERE / f"profile-{kind}.prof") if kind in profile else None,
        )
        parent, child = ctx.Pipe()
        process = ctx.Process(target=run_server, args=(kind, settings, child), daemon=True)
        process.start()
        deadline = time.monotonic() + 60
        while not parent.poll(0.1):
            if not process.is_alive() or time.monotonic() > deadline:
                stop_servers(started)
                process.terminate()
                raise RuntimeError(
                    f"the {kind} server did not start (exit code {process.exitcode})"
                )
        started[kind] = Server(kind, process, parent, int(parent.recv()))
    return started


def stop_servers(running: dict[str, Server]) -> None:
    for server in running.values():
        if server.process.is_alive():
            server.conn.send("stop")
            if server.conn.poll(10):
                server.conn.recv()
        server.process.join(10)
        if server.process.is_alive():
            server.process.terminate()


async def closed_loop(
    call: Callable[[], Awaitable[None]], concurrency: int, seconds: float
) -> tuple[int, float]:
    """`concurrency` workers call back to back until `seconds` are up; (calls, elapsed)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + seconds
    calls = 0

    async def worker() -> None:
        nonlocal calls
        while loop.time() < deadline:
            await call()
            calls += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls, loop.time() - start


def callers(stub: Any, pb2: Any, books: int) -> dict[str, Callable[[], Awaitable[None]]]:
    get_request = pb2.GetBookRequest(isbn="978-0")
    list_request = pb2.ListBooksRequest(genre=pb2.GENRE_FICTION)

    async def get_book() -> None:
        await stub.GetBook(get_request)

    async def list_books() -> None:
        count = 0
        async for _ in stub.ListBooks(list_request):
            count += 1
        if count != books:
            raise AssertionError(f"ListBooks sent {count} books, expected {books}")

    return {"GetBook": get_book, "ListBooks": list_books}


async def check_same(stubs: dict[str, Any], pb2: Any, books: int) -> None:
    """Both servers must answer identically, or the comparison means nothing."""
    request = pb2.GetBookRequest(isbn="978-0")
    replies = {kind: await stub.GetBook(request) for kind, stub in stubs.items()}
    if replies["cello"] != replies["hand"]:
        raise AssertionError(f"GetBook replies differ:\n{replies['cello']}\nvs\n{replies['hand']}")
    streams = {}
    for kind, stub in stubs.items():
        streams[kind] = [m async for m in stub.ListBooks(pb2.ListBooksRequest(genre=1))]
    if streams["cello"] != streams["hand"] or len(streams["cello"]) != books:
        raise AssertionError("ListBooks replies differ between servers")


async def measure(
    running: dict[str, Server], calls: dict[str, Any], plan: Plan
) -> dict[str, Samples]:
    """Warm up each server, then time `plan.rounds` rounds of each, alternating the order."""
    for kind in KINDS:  # warm-up: caches, allocator, grpc's thread pool
        await closed_loop(calls[kind], plan.concurrency, plan.warmup)
    samples = {kind: Samples() for kind in KINDS}
    for r in range(plan.rounds):
        for kind in KINDS if r % 2 == 0 else KINDS[::-1]:
            server_before, client_before = running[kind].cpu(), time.process_time()
            n, elapsed = await closed_loop(calls[kind], plan.concurrency, plan.seconds)
            client = time.process_time() - client_before
            server = running[kind].cpu() - server_before
            s = samples[kind]
            s.rates.append(n / elapsed)
            s.cpu_per_call.append(server / n * 1e6)
            s.server_busy.append(server / elapsed)
            s.client_busy.append(client / elapsed)
    return samples


async def drive(running: dict[str, Server], stubs_dir: Path, plan: Plan, stream: bool) -> None:
    import grpc.aio

    sys.path.insert(0, str(stubs_dir))
    from demo.library.v1 import library_pb2 as pb2
    from demo.library.v1 import library_pb2_grpc as pb2_grpc

    channels = {k: grpc.aio.insecure_channel(f"127.0.0.1:{s.port}") for k, s in running.items()}
    try:
        stubs = {k: pb2_grpc.LibraryServiceStub(c) for k, c in channels.items()}
        await check_same(stubs, pb2, plan.stream_books)
        per_kind = {k: callers(stub, pb2, plan.stream_books) for k, stub in stubs.items()}
        for method in ["GetBook", *(["ListBooks"] if stream else [])]:
            calls = {k: per_kind[k][method] for k in KINDS}
            samples = await measure(running, calls, plan)
            print("\n".join(report(method, samples, plan)), flush=True)
    finally:
        for channel in channels.values():
            await channel.close()


def report(method: str, samples: dict[str, Samples], plan: Plan) -> list[str]:
    unit = "calls/s" if method == "GetBook" else f"streams/s, {plan.stream_books} books each"
    rounds = len(samples["cello"].rates)
    lines = [f"{method} ({unit}; {rounds} rounds x {plan.seconds:g} s, medians)"]
    med: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        s = samples[kind]
        med[kind] = m = {
            "rate": statistics.median(s.rates),
            "cpu": statistics.median(s.cpu_per_call),
            "server": statistics.median(s.server_busy),
            "client": statistics.median(s.client_busy),
        }
        lines.append(
            f"  {LABELS[kind]:<13}{m['rate']:>9,.0f}/s"
            f"  (rounds {min(s.rates):,.0f}..{max(s.rates):,.0f})"
            f"  server CPU {m['cpu']:,.0f} us/call  busy: server {m['server']:.0%},"
            f" client {m['client']:.0%}"
        )
    ratio = med["cello"]["rate"] / med["hand"]["rate"]
    cpu_ratio = med["hand"]["cpu"] / med["cello"]["cpu"]
    verdict = "meets" if ratio >= TARGET else "BELOW"
    lines.append(
        f"  ratio cello/hand-written: {ratio:.2f} ({verdict} target {TARGET:g});"
        f" by server CPU per call: {cpu_ratio:.2f}"
    )
    return lines


def report_costs(costs: dict[str, float], books: int) -> list[str]:
    lines = ["Python work per call around grpc, in-process, no network (best of runs)"]
    for method in ("GetBook", "ListBooks"):
        cello, hand = costs[f"{method} cello"], costs[f"{method} hand"]
        what = "call" if method == "GetBook" else f"stream of {books}"
        lines.append(
            f"  {method:<10} cello {cello:7.1f} us   hand-written {hand:7.1f} us"
            f"   cello adds {cello - hand:+6.1f} us per {what}"
        )
    with_mw = costs["GetBook cello+mw"]
    lines.append(
        f"  GetBook with access log + token auth middleware {with_mw:7.1f} us"
        f"   middleware adds {with_mw - costs['GetBook cello']:+6.1f} us per call"
    )
    return lines


def handler_costs(stubs: Path, plan: Plan, quick: bool) -> dict[str, float]:
    from concurrent.futures import ProcessPoolExecutor

    from servers import ServerSettings, handler_costs

    settings = ServerSettings(str(stubs), concurrency_limit=1, stream_books=plan.stream_books)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(
            handler_costs, settings, 3 if quick else 7, 500 if quick else 4000
        ).result()


def print_profile(kind: str) -> None:
    path = HERE / f"profile-{kind}.prof"
    print(f"\n{LABELS[kind]} server, event-loop thread (full stats: python -m pstats {path})")
    pstats.Stats(str(path)).sort_stats("tottime").print_stats(15)


def main(argv: list[str] | None = None) -> int:
    plan, args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    print(
        f"cello benchmark: Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load {load()}; concurrency {plan.concurrency}",
        flush=True,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cello-bench-") as tmp:
        stubs = Path(tmp) / "stubs"
        build_stubs(stubs)
        costs = handler_costs(stubs, plan, args.quick)
        print("\n".join(report_costs(costs, plan.stream_books)), flush=True)
        running = start_servers(stubs, plan, args.profile)
        try:
            asyncio.run(drive(running, stubs, plan, stream=not args.no_stream))
        finally:
            stop_servers(running)
    for kind in args.profile:
        print_profile(kind)
    return finish(started, profiled=bool(args.profile))


if __name__ == "__main__":
    sys.exit(main())
