"""Unary throughput on the web port: Connect JSON, Connect proto and gRPC-Web, one handler.

    python benchmarks/connect.py           # full run (about 30 s on 2 cores)
    python benchmarks/connect.py --quick   # smoke run for CI (a few seconds)

One server process serves `examples.library.LibraryService` with `enable_web`; this
process drives `GetBook` (isbn "978-0": a Book with an author, a timestamp, a map and a
duration) over each protocol with httpx on keep-alive HTTP/1.1 connections, `--concurrency`
calls in flight. After a warm-up, timed rounds rotate the protocol order so drift hits all
alike. Prints the median calls/second of each, the server's CPU time per call (from
/proc), and the ratios to gRPC-Web. Always exits 0 unless a call fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
PATH = "/demo.library.v1.LibraryService/GetBook"
PROTOCOLS = ("connect-json", "connect-proto", "grpc-web")
SERVER = """
import asyncio, sys
from cello import GrpcConfig, GrpcServer
from examples.library import LibraryService

async def main():
    server = GrpcServer("127.0.0.1", 0, GrpcConfig(enable_web=True, web_port=0))
    server.register_service(LibraryService())
    await server.start()
    print(server.web_port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(0)

asyncio.run(main())
"""


def _requests(request_type: Any) -> dict[str, tuple[bytes, dict[str, str], Callable[..., bool]]]:
    """Per protocol: the body, the headers, and a check of the response."""
    raw = request_type(isbn="978-0").SerializeToString()
    return {
        "connect-json": (
            json.dumps({"isbn": "978-0"}).encode(),
            {"content-type": "application/json", "connect-protocol-version": "1"},
            lambda r: r.status_code == 200 and b'"Dune"' in r.content,
        ),
        "connect-proto": (
            raw,
            {"content-type": "application/proto", "connect-protocol-version": "1"},
            lambda r: r.status_code == 200 and b"Dune" in r.content,
        ),
        "grpc-web": (
            struct.pack(">BI", 0, len(raw)) + raw,
            {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
            lambda r: r.status_code == 200 and b"grpc-status: 0" in r.content,
        ),
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _round(
    client: httpx.AsyncClient, request: tuple[bytes, dict[str, str], Any], seconds: float, n: int
) -> int:
    body, headers, ok = request
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await client.post(PATH, content=body, headers=headers)
            if not ok(response):
                raise RuntimeError(
                    f"bad response {response.status_code}: {response.content[:200]!r}"
                )
            done += 1

    await asyncio.gather(*(worker() for _ in range(n)))
    return done


async def bench(args: argparse.Namespace) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        sys.path.insert(0, str(REPO))
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        limits = httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
        ) as client:
            schema = await client.get("/cello.schema.v1/FileDescriptorSet.binpb")
            pool = descriptor_pool.DescriptorPool()
            for file in descriptor_pb2.FileDescriptorSet.FromString(schema.content).file:
                pool.Add(file)
            request_type = message_factory.GetMessageClass(
                pool.FindMessageTypeByName("demo.library.v1.GetBookRequest")
            )
            requests = _requests(request_type)
            for name in PROTOCOLS:  # warm-up, and every protocol answers correctly
                await _round(client, requests[name], args.warmup, args.concurrency)
            rates: dict[str, list[float]] = {p: [] for p in PROTOCOLS}
            cpu: dict[str, list[float]] = {p: [] for p in PROTOCOLS}
            for i in range(args.rounds):
                order = PROTOCOLS[i % 3 :] + PROTOCOLS[: i % 3]
                for name in order:
                    before, start = _cpu_seconds(proc.pid), time.perf_counter()
                    calls = await _round(client, requests[name], args.seconds, args.concurrency)
                    elapsed = time.perf_counter() - start
                    rates[name].append(calls / elapsed)
                    cpu[name].append((_cpu_seconds(proc.pid) - before) / calls * 1e6)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(10)
    base = statistics.median(rates["grpc-web"])
    print(f"GetBook unary, {args.concurrency} in flight, {args.rounds} rounds of {args.seconds}s")
    print(f"{'protocol':<15}{'calls/s':>10}{'server CPU/call':>18}{'vs gRPC-Web':>14}")
    for name in PROTOCOLS:
        rate = statistics.median(rates[name])
        per_call = statistics.median(cpu[name])
        print(f"{name:<15}{rate:>10.0f}{per_call:>15.0f} us{rate / base:>13.2f}x")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short smoke run (CI)")
    p.add_argument("--concurrency", type=int, default=16, help="calls in flight (default 16)")
    p.add_argument("--rounds", type=int, default=6, help="timed rounds per protocol")
    p.add_argument("--seconds", type=float, default=1.5, help="length of a round")
    args = p.parse_args(argv)
    args.warmup = 0.3 if args.quick else 1.0
    if args.quick:
        args.rounds, args.seconds = 3, 0.4
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
