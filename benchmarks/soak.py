"""Soak: server memory over many calls, and health-probe latency while the server is flooded.

    python benchmarks/soak.py            # 200,000 unary calls, 20,000 streams, a flood
    python benchmarks/soak.py --quick    # CI smoke run (a few seconds of each)

One Cello server process serves `examples.library.LibraryService` on 127.0.0.1 with a small
`concurrency_limit`. h2load (Debian's nghttp2-client), a C load generator that costs little
CPU, sends pre-serialized gRPC requests: `GetBook` calls, then `ListBooks` streams of
`--stream-books` books. The server's RSS is printed before and after. h2load ignores
`grpc-status`, so the DATA bytes of each run are checked against the replies a real gRPC
client got first: a refused call is a trailers-only response with no DATA.

Then a flood of streams, far more than `concurrency_limit` at once, fills the limit while a
prober in this process calls `grpc.health.v1.Health/Check` one after another and records
its latency; the probe's p50/p99 idle and during the flood are printed, and any probe that
did not answer SERVING. See README.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import frame, load, require_h2load  # noqa: E402
from servers import REPO, ServerSettings, run_server  # noqa: E402
from unary import build_stubs  # noqa: E402

SERVICE = "/demo.library.v1.LibraryService"
HEALTH = "/grpc.health.v1.Health/Check"


@dataclass(frozen=True, slots=True)
class Load:
    """One h2load run's outcome, read from its output."""

    calls: int
    answered: int  # calls whose reply bytes arrived in full
    rate: float


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def h2load(
    port: int, method: str, body: Path, reply_bytes: int, *, calls: int, clients: int, streams: int
) -> Load:
    """`calls` calls of `method` with the request in `body`; counts the full replies."""
    command = ["h2load", f"--requests={calls}", f"--clients={clients}"]
    command += [f"--max-concurrent-streams={streams}", "--threads=1", f"--data={body}"]
    command += ["--header=content-type: application/grpc", "--header=te: trailers"]
    command += [f"http://127.0.0.1:{port}{SERVICE}/{method}"]
    run = subprocess.run(command, capture_output=True, text=True)
    out = run.stdout + run.stderr
    done = re.search(r"requests: .*?(\d+) succeeded, (\d+) failed, (\d+) errored", out)
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    data = re.search(r"\((\d+)\) data", out)
    if run.returncode or not (done and rate and data):
        raise SystemExit(f"h2load failed:\n{out}")
    succeeded, failed, errored = (int(g) for g in done.groups())
    if failed or errored or succeeded != calls:
        raise SystemExit(f"h2load: {failed} failed, {errored} errored:\n{out}")
    received = int(data.group(1))
    # every answered call carries exactly the reference reply; a refused one carries nothing
    if received % reply_bytes:
        raise SystemExit(f"{method}: {received} DATA bytes are not whole replies:\n{out}")
    return Load(calls, received // reply_bytes, float(rate.group(1)))


class Prober(threading.Thread):
    """Calls one unary method back to back on its own channel and records each latency;
    a call that fails, or whose reply is not `expected`, is counted by its status."""

    def __init__(self, port: int, interval: float, path: str, request: bytes, expected: bytes):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.path, self.request, self.expected = path, request, expected
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        import grpc

        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            call = channel.unary_unary(self.path)  # bytes in, bytes out
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    reply = call(self.request, timeout=5)
                except grpc.RpcError as exc:
                    self.failures.append(exc.code().name)
                else:
                    self.latencies.append(time.perf_counter() - started)
                    if reply != self.expected:
                        self.failures.append("unexpected reply")
                self.stop.wait(self.interval)

    def finish(self) -> Prober:
        self.stop.set()
        self.join()
        return self

    def failed(self) -> str:
        tally = Counter(self.failures)
        return ", ".join(f"{n:,} {code}" for code, n in sorted(tally.items())) or "none"


def percentiles(latencies: list[float]) -> str:
    if len(latencies) < 2:
        return f"{len(latencies)} probes"
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return (
        f"{len(latencies)} probes, p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms"
    )


def references(port: int, stubs: Path, books: int) -> tuple[bytes, bytes, bytes, int]:
    """The serialized requests, GetBook's reply and the byte length of a full ListBooks
    stream, from a real client."""
    import grpc

    sys.path.insert(0, str(stubs))
    from demo.library.v1 import library_pb2 as pb2

    get = pb2.GetBookRequest(isbn="978-0").SerializeToString()
    listing = pb2.ListBooksRequest(genre=pb2.GENRE_FICTION).SerializeToString()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        book: bytes = channel.unary_unary(f"{SERVICE}/GetBook")(get, timeout=30)
        streamed = list(channel.unary_stream(f"{SERVICE}/ListBooks")(listing, timeout=30))
    if len(streamed) != books:
        raise SystemExit(f"ListBooks sent {len(streamed)} books, expected {books}")
    return get, listing, book, sum(len(frame(m)) for m in streamed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (CI smoke)")
    parser.add_argument("--calls", type=int, default=200_000, help="unary GetBook calls")
    parser.add_argument("--streams", type=int, default=20_000, help="ListBooks streams")
    parser.add_argument("--stream-books", type=int, default=20, help="books per stream")
    parser.add_argument("--limit", type=int, default=4, help="the server's concurrency_limit")
    parser.add_argument("--flood", type=int, default=20_000, help="streams in the flood")
    parser.add_argument("--probe-interval", type=float, default=0.02, help="seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.streams, args.flood = 2_000, 200, 1_000
    require_h2load()
    sys.path.insert(0, str(REPO))
    started = time.perf_counter()
    print(f"cello soak: {os.cpu_count()} CPUs, load {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cello-soak-") as tmp:
        stubs = Path(tmp) / "stubs"
        build_stubs(stubs)
        settings = ServerSettings(str(stubs), args.limit, args.stream_books)
        ctx = multiprocessing.get_context("spawn")  # no grpc state inherited across fork
        conn, child = ctx.Pipe()
        server = ctx.Process(target=run_server, args=("cello", settings, child), daemon=True)
        server.start()
        try:
            if not conn.poll(60):
                raise SystemExit(f"the server did not start (exit code {server.exitcode})")
            port = int(conn.recv())
            assert server.pid is not None
            run(args, Path(tmp), stubs, port, server.pid)
        finally:
            if server.is_alive():
                conn.send("stop")
                if conn.poll(10):
                    conn.recv()
            server.join(10)
            if server.is_alive():
                server.terminate()
    print(f"total {time.perf_counter() - started:.0f} s, load {load()}")
    return 0


def run(args: Any, tmp: Path, stubs: Path, port: int, pid: int) -> None:
    get, listing, book, stream_bytes = references(port, stubs, args.stream_books)
    book_bytes = len(frame(book))
    bodies = {"GetBook": tmp / "get.bin", "ListBooks": tmp / "list.bin"}
    bodies["GetBook"].write_bytes(frame(get))
    bodies["ListBooks"].write_bytes(frame(listing))
    # the soak keeps `--limit` calls in flight: the limit is full, yet nothing is refused
    unary = {"clients": 2, "streams": max(1, args.limit // 2)}
    warm = h2load(port, "GetBook", bodies["GetBook"], book_bytes, calls=1_000, **unary)
    h2load(port, "ListBooks", bodies["ListBooks"], stream_bytes, calls=100, **unary)
    before = rss_mb(pid)
    print(f"server RSS after warm-up ({warm.calls:,} calls): {before:.1f} MB", flush=True)

    calls = h2load(port, "GetBook", bodies["GetBook"], book_bytes, calls=args.calls, **unary)
    print(
        f"GetBook: {calls.answered:,} of {calls.calls:,} calls answered, "
        f"{calls.rate:,.0f} calls/s; server RSS {rss_mb(pid):.1f} MB",
        flush=True,
    )
    streams = h2load(
        port, "ListBooks", bodies["ListBooks"], stream_bytes, calls=args.streams, **unary
    )
    after = rss_mb(pid)
    if calls.answered != calls.calls or streams.answered != streams.calls:
        raise SystemExit("calls within the concurrency limit were refused")
    print(
        f"ListBooks: {streams.answered:,} of {streams.calls:,} streams of {args.stream_books} "
        f"answered, {streams.rate:,.0f} streams/s; server RSS {after:.1f} MB",
        flush=True,
    )
    print(f"server RSS before {before:.1f} MB, after {after:.1f} MB ({after - before:+.1f} MB)")

    def health() -> Prober:
        # HealthCheckRequest() is empty; HealthCheckResponse(status=SERVING) is 08 01
        return Prober(port, args.probe_interval, HEALTH, b"", b"\x08\x01")

    idle = health()
    idle.start()
    time.sleep(1 if args.quick else 3)
    print(f"health probe, idle: {percentiles(idle.finish().latencies)}", flush=True)
    # a GetBook prober beside it shows what a call inside the limit sees meanwhile
    probers = health(), Prober(port, args.probe_interval, f"{SERVICE}/GetBook", get, book)
    for prober in probers:
        prober.start()
    # 8 x 64 streams in flight against a limit of --limit: many are refused at once
    flood = h2load(
        port, "ListBooks", bodies["ListBooks"], stream_bytes, calls=args.flood, clients=8,
        streams=64,
    )  # fmt: skip
    probe, getbook = (prober.finish() for prober in probers)
    refused = flood.calls - flood.answered
    print(
        f"flood: {flood.calls:,} streams, 512 at once, concurrency_limit {args.limit}: "
        f"{flood.answered:,} answered, {refused:,} refused (RESOURCE_EXHAUSTED)"
    )
    if not refused:
        print(f"note: the flood never filled the limit of {args.limit}; try a lower --limit")
    print(f"health probe, during the flood: {percentiles(probe.latencies)}")
    print(f"health probes failed: idle {idle.failed()}; during the flood {probe.failed()}")
    print(f"GetBook probe, during the flood: {percentiles(getbook.latencies)}")
    print(f"GetBook probes failed during the flood: {getbook.failed()}")
    print(f"server RSS after the flood: {rss_mb(pid):.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
