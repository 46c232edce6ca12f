"""Throughput of `cello serve --workers 2` against `--workers 1`, driven by h2load.

    python benchmarks/workers.py            # full run (about 1 minute on 2 cores)
    python benchmarks/workers.py --quick    # smoke run for CI (about 10 s)

Serves `examples.library:LibraryService` with `cello serve --workers N` on 127.0.0.1 and
drives `GetBook` with h2load (Debian's nghttp2-client): a C load generator that costs
little CPU, sending a pre-serialized gRPC request over `--connections` HTTP/2 connections
(the kernel spreads connections over the workers) with `--streams` calls in flight on
each. h2load counts HTTP 200 as success and ignores `grpc-status`, so every round also
checks the response bytes: each call must return exactly the one message a real client
received first. Rounds alternate (1, 2, 2, 1, ...) and the medians give the ratio.
See README.md.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import frame, require_h2load

REPO = Path(__file__).resolve().parent.parent
TARGET = "examples.library:LibraryService"
PATH = "/demo.library.v1.LibraryService/GetBook"


def start(workers: int, env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    """`cello serve --workers N`; returns the process and its port once it serves."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cello", "serve", TARGET, "--host", "127.0.0.1", "--port", "0"]
        + ["--workers", str(workers), "--log-format", "json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"serving gRPC with \d+ workers? .* on [\d.]+:(\d+)$", line)
        if found:
            return process, int(found.group(1))
    raise SystemExit(f"cello serve --workers {workers} did not start")


def reply_of(port: int, request: bytes) -> bytes:
    """The serialized GetBook reply, from a real gRPC client."""
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(PATH)  # bytes in, bytes out
        reply: bytes = call(request, timeout=30)
    return reply


def round_of(port: int, body: Path, reply: bytes, args: argparse.Namespace, *, calls: int) -> float:
    """One h2load run; returns calls/s after checking every response's bytes."""
    # a fixed number of calls rather than a duration, so every reply's bytes are counted
    command = ["h2load", f"--requests={calls}"]
    command += [f"--clients={args.connections}", f"--max-concurrent-streams={args.streams}"]
    command += ["--threads=1", f"--data={body}", "--header=content-type: application/grpc"]
    command += ["--header=te: trailers", f"http://127.0.0.1:{port}{PATH}"]
    run = subprocess.run(command, capture_output=True, text=True)
    out = run.stdout + run.stderr
    if run.returncode:
        raise SystemExit(f"h2load failed:\n{out}")
    done = re.search(r"requests: .*?(\d+) succeeded, (\d+) failed, (\d+) errored", out)
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    data = re.search(r"\((\d+)\) data", out)
    if not (done and rate and data):
        raise SystemExit(f"cannot read h2load's output:\n{out}")
    succeeded, failed, errored = (int(g) for g in done.groups())
    if failed or errored or succeeded != calls:
        raise SystemExit(f"h2load: {failed} failed, {errored} errored:\n{out}")
    # an error status is a trailers-only response with no DATA: the byte count would fall
    if int(data.group(1)) != succeeded * len(frame(reply)):
        raise SystemExit(f"responses are not all the expected GetBook reply:\n{out}")
    return float(rate.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round (CI smoke run)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per worker count")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per timed round")
    parser.add_argument("--warmup", type=int, default=2_000, help="untimed calls first")
    parser.add_argument("--connections", type=int, default=8, help="HTTP/2 connections")
    parser.add_argument("--streams", type=int, default=16, help="calls in flight per connection")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.warmup = 1, 1_000, 200
    require_h2load()
    sys.path.insert(0, str(REPO))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        env.setdefault("CELLO_CACHE_DIR", str(Path(tmp) / "cache"))
        # GetBookRequest{isbn="978-0"}: field 1, length-delimited
        isbn = b"978-0"
        request = b"\x0a" + bytes([len(isbn)]) + isbn
        body = Path(tmp) / "request.bin"
        body.write_bytes(frame(request))
        print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
        rates: dict[int, list[float]] = {1: [], 2: []}
        order = [1, 2, 2, 1] * args.rounds
        for workers in order[: 2 * args.rounds]:
            process, port = start(workers, env)
            try:
                reply = reply_of(port, request)
                round_of(port, body, reply, args, calls=args.warmup)
                rates[workers].append(round_of(port, body, reply, args, calls=args.calls))
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
            time.sleep(0.2)
        for workers, values in rates.items():
            shown = ", ".join(f"{v:,.0f}" for v in values)
            print(f"--workers {workers}: median {statistics.median(values):,.0f} calls/s [{shown}]")
        ratio = statistics.median(rates[2]) / statistics.median(rates[1])
        print(f"ratio workers 2/1: {ratio:.2f}x (load average {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
