"""What `tracing=True`, `metrics=True` (with the Prometheus port) and both cost per call, in
server CPU microseconds, against the same server without them, in one run.

    python benchmarks/observability.py                 # aio, 5 rounds of 3000 GetBook calls
    python benchmarks/observability.py --transport h2 --rounds 3 --calls 2000

One server process per mode, all started at once; the rounds take turns over them, so a
busy machine slows every mode alike. The server's CPU time (user + system, from
/proc/PID/stat) is read before and after each round of sequential unary calls made by a
grpc.aio client in this process; the median round per mode is printed. The servers use
the OpenTelemetry SDK as users would: a batching span processor (its exporter drops the
spans) and an in-memory metric reader.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
from pathlib import Path

import grpc.aio

ROOT = Path(__file__).resolve().parents[1]
MODES = {
    "off": {},
    "tracing": {"tracing": True},
    "metrics": {"metrics": True, "metrics_port": 0},
    "both": {"tracing": True, "metrics": True, "metrics_port": 0},
}
SERVER = """
import asyncio, os, sys
sys.path[:0] = [{root!r}, {bench!r}]
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

class Drop(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(Drop()))
trace.set_tracer_provider(provider)
metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))

from cello import GrpcConfig, GrpcServer
from bench_service import BenchService

async def main():
    config = GrpcConfig(port=0, transport={transport!r}, concurrency_limit=1000, **{options!r})
    server = GrpcServer(config=config)
    server.register_service(BenchService())
    await server.start()
    print(server.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def round_of(port: int, calls: int, request: bytes) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        get = channel.unary_unary("/bench.v1.BenchService/GetBook")
        for _ in range(calls):
            await get(request)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", default="aio", choices=("aio", "threads", "h2"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    servers = {}
    for mode, options in MODES.items():
        code = SERVER.format(
            root=str(ROOT),
            bench=str(ROOT / "benchmarks"),
            transport=args.transport,
            options=options,
        )
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
        )
        assert process.stdout is not None
        servers[mode] = (process, int(process.stdout.readline()))
    request = b"\n\x05978-0"  # GetBookRequest(isbn="978-0")
    per_call: dict[str, list[float]] = {mode: [] for mode in MODES}
    try:
        for _, port in servers.values():  # warm up: stubs, caches, first spans
            await round_of(port, 300, request)
        for _ in range(args.rounds):
            for mode, (process, port) in servers.items():
                before = cpu_seconds(process.pid)
                await round_of(port, args.calls, request)
                per_call[mode].append((cpu_seconds(process.pid) - before) / args.calls * 1e6)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait()
    base = statistics.median(per_call["off"])
    print(f"server CPU per unary GetBook call, transport {args.transport}, median of rounds")
    for mode, values in per_call.items():
        median = statistics.median(values)
        extra = "" if mode == "off" else f"  {median - base:+6.1f} µs  {median / base - 1:+6.1%}"
        print(f"  {mode:8} {median:7.1f} µs{extra}")


if __name__ == "__main__":
    asyncio.run(main())
