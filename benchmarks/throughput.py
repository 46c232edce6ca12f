"""Throughput of Cello against a hand-written grpc.aio servicer (and Python peers), via h2load.

    python benchmarks/throughput.py                 # Cello vs hand-written, 5 rounds (~2 min)
    python benchmarks/throughput.py --peers         # also grpc sync, betterproto, pydantic-rpc,
                                                    # connectrpc (their venvs: peer_env.py)
    python benchmarks/throughput.py --quick         # CI smoke run (one short round)

Builds `bench_service` with `cello-gen build`, starts each server in its own process pinned
to one core (Cello once per transport of `--transports`; pydantic-rpc and connectrpc with
their own venv's Python), and loads it with `h2load` (or `--client go`) pinned to the other,
sending pre-serialized requests. h2load ignores grpc-status, so every round checks the
reply bytes received against the exact size of the expected replies; one call per method
is also made with a grpc client and compared message for message with the hand-written
server's reply. Rounds alternate the server order (A B C, C B A, ...) so drift hits every
server alike. See README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import drivers
import peer_env
from drivers import Call, Load
from harness import finish, frame, load, require_h2load

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASELINE = "hand"
ECHO_UNSUPPORTED = (
    "pydantic-rpc 0.15.2 cannot read a request with an optional Timestamp or message field"
    " (it hands the _pb2 value to pydantic: INVALID_ARGUMENT)"
)


@dataclass(frozen=True, slots=True)
class Kind:
    """A row of the benchmark: how its server runs and which calls it can serve."""

    label: str
    peer: bool = False  # only with --peers
    venv: str | None = None  # a peer_env venv running peer_servers.py, else bench_servers.py
    unsupported: dict[str, str] = field(default_factory=dict)  # call -> why it is not run


# The rows in print order; `cello-<transport>` rows are added per --transports (cello_kind).
KINDS = {
    "hand": Kind("hand-written grpc.aio"),
    "typed": Kind("typed by hand, grpc.aio"),
    "sync": Kind("grpc sync + threads", peer=True),
    "betterproto": Kind("betterproto + grpclib", peer=True),
    "pydantic-rpc": Kind(
        "pydantic-rpc (grpc.aio)",
        peer=True,
        venv="pydantic-rpc",
        unsupported={"EchoBooks": ECHO_UNSUPPORTED},
    ),
    "connectrpc": Kind("connectrpc + hypercorn", peer=True, venv="connectrpc"),
}
PEERS = tuple(k for k, v in KINDS.items() if v.peer)
TRANSPORTS = ("aio", "threads", "h2", "envoy")


def cello_kind(transport: str) -> Kind:
    return Kind(f"cello ({transport})")


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: int
    seconds: float
    load: Load
    client: str  # h2load or go
    stream_books: int
    echo_books: int
    calls: tuple[str, ...]
    kinds: dict[str, Kind]  # the servers of this run, in print order
    profile: tuple[str, ...]


@dataclass(slots=True)
class Samples:
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server process CPU per call
    busy: list[float] = field(default_factory=list)  # server CPU seconds per wall second


def parse_args(argv: list[str] | None) -> Plan:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one short round, unary + stream (CI)")
    p.add_argument("--peers", action="store_true", help="also run " + ", ".join(PEERS))
    p.add_argument(
        "--transports",
        help="comma-separated Cello transports, one row each"
        f" (default {','.join(TRANSPORTS)}; aio with --quick); those not in"
        " cello._definitions.config.TRANSPORTS are skipped with a note",
    )
    p.add_argument("--rounds", type=int, help="timed rounds per server (default 5)")
    p.add_argument("--seconds", type=float, help="target length of a round (default 2)")
    p.add_argument(
        "--client",
        choices=("h2load", "go"),
        default="h2load",
        help="load client: h2load, or the Go client in loadgen/ (bidi interleaved)",
    )
    p.add_argument("--clients", type=int, default=4, help="client connections (default 4)")
    p.add_argument("--streams", type=int, default=16, help="streams per connection (16)")
    p.add_argument("--stream-books", type=int, default=100, help="books per ListBooks")
    p.add_argument("--echo-books", type=int, default=100, help="books per EchoBooks call")
    p.add_argument(
        "--calls",
        default="GetBook,ListBooks,EchoBooks,GetBookDict",
        help="comma-separated calls to run",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin client/servers to cores")
    p.add_argument(
        "--profile",
        metavar="KIND",
        action="append",
        default=[],
        help="run that server's main thread under cProfile (cello-<transport>, hand, typed,"
        " betterproto; the profiled run's figures are not valid)",
    )
    a = p.parse_args(argv)
    calls = tuple(a.calls.split(","))
    if a.quick:
        calls = tuple(c for c in calls if c in ("GetBook", "ListBooks"))
    kinds = {f"cello-{t}": cello_kind(t) for t in transports(a.transports, a.quick)}
    for name, kind in KINDS.items():
        if (a.peers or not kind.peer) and not (a.quick and name == "typed"):
            kinds[name] = kind
    for name in a.profile:
        if name not in kinds or kinds[name].venv or name == "sync":
            p.error(f"--profile {name}: choose from cello-<transport>, hand, typed, betterproto")
    return Plan(
        rounds=a.rounds or (1 if a.quick else 5),
        seconds=a.seconds or (0.3 if a.quick else 2.0),
        load=Load(
            clients=a.clients, streams=a.streams, pin=not a.no_pin and (os.cpu_count() or 1) >= 2
        ),
        client=a.client,
        stream_books=10 if a.quick else a.stream_books,
        echo_books=10 if a.quick else a.echo_books,
        calls=calls,
        kinds=kinds,
        profile=tuple(a.profile),
    )


def transports(wanted: str | None, quick: bool) -> list[str]:
    """The transports to run: those asked for that this checkout's Cello has, with a note."""
    from cello._definitions.config import TRANSPORTS as HAVE

    asked = wanted.split(",") if wanted else ["aio"] if quick else list(TRANSPORTS)
    for t in asked:
        if t not in HAVE:
            print(f"note: cello ({t}) skipped: cello._definitions.config.TRANSPORTS is {HAVE}")
    return [t for t in asked if t in HAVE]


def peer_pythons(plan: Plan) -> dict[str, Path]:
    """Make (once) the venv of each peer in the plan; a peer whose venv fails is dropped."""
    pythons = {}
    for name, kind in list(plan.kinds.items()):
        if kind.venv is None:
            continue
        try:
            pythons[kind.venv] = peer_env.python(kind.venv)
        except RuntimeError as exc:
            print(f"note: {kind.label} skipped: {exc}")
            del plan.kinds[name]
    return pythons


def build_stubs(out: Path, plan: Plan, pythons: dict[str, Path]) -> None:
    """`cello-gen build bench_service --out OUT`, as a user would run it, plus the peers' code."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)])}
    cmd = [sys.executable, "-m", "cello.codegen.cli", "build", "bench_service", "--out", str(out)]
    cmd += ["--betterproto"] if "betterproto" in plan.kinds else []
    subprocess.run(cmd, cwd=HERE, env=env, check=True, stdout=subprocess.DEVNULL)
    if "connectrpc" in pythons:  # its service base, from the .proto cello-gen wrote
        from grpc_tools import protoc

        plugin = pythons["connectrpc"].parent / "protoc-gen-connectrpc"
        wkt = Path(protoc.__file__).parent / "_proto"
        args = [f"-I{out}", f"-I{wkt}", f"--plugin=protoc-gen-connectrpc={plugin}"]
        args += [f"--connectrpc_out={out}", "--connectrpc_opt=protobuf=google"]
        if protoc.main(["protoc", *args, "bench/v1/bench.proto"]) != 0:
            raise RuntimeError("protoc-gen-connectrpc failed on bench/v1/bench.proto")


def make_calls(plan: Plan) -> dict[str, Call]:
    from bench.v1 import bench_pb2 as pb2  # type: ignore[import-not-found]
    from servicers import BOOK_MESSAGE

    book = BOOK_MESSAGE.SerializeToString()
    get = pb2.GetBookRequest(isbn="978-0441013593").SerializeToString()
    listing = pb2.ListBooksRequest(count=plan.stream_books).SerializeToString()
    reply = len(frame(book))
    known = {
        "GetBook": Call("GetBook", "GetBook", "unary", get, 1, frame(get), reply, "calls/s"),
        "GetBookDict": Call(
            "GetBookDict", "GetBookDict", "unary", get, 1, frame(get), reply, "calls/s"
        ),
        "ListBooks": Call(
            "ListBooks",
            "ListBooks",
            "server",
            listing,
            1,
            frame(listing),
            plan.stream_books * reply,
            "streams/s",
        ),
        "EchoBooks": Call(
            "EchoBooks",
            "EchoBooks",
            "bidi",
            book,
            plan.echo_books,
            frame(book) * plan.echo_books,
            plan.echo_books * reply,
            "streams/s",
        ),
    }
    unknown = [c for c in plan.calls if c not in known]
    if unknown:
        raise SystemExit(f"--calls: unknown {unknown[0]!r}; choose from {', '.join(known)}")
    return {name: known[name] for name in plan.calls}


def peer_options() -> str:
    """The grpc options of the hand-written servers, as JSON for the peers' grpcio servers."""
    from bench_servers import CONCURRENCY_LIMIT

    from cello import GrpcConfig
    from cello._server.ports import server_options

    return json.dumps(server_options(GrpcConfig(concurrency_limit=CONCURRENCY_LIMIT)))


class Server:
    """A server process, pinned to the last core when pinning."""

    def __init__(
        self,
        kind: str,
        stubs: Path,
        pin: bool,
        profile: Path | None = None,
        python: Path | None = None,
    ) -> None:
        self.kind = kind
        if python is None:
            cmd = [sys.executable, str(HERE / "bench_servers.py"), kind, str(stubs)]
            cmd += [str(profile)] if profile else []
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)])}
        else:  # a peer's venv: nothing of this environment on its path
            from servicers import BOOK_MESSAGE

            cmd = [str(python), str(HERE / "peer_servers.py"), kind, str(stubs), peer_options()]
            env = {**os.environ, "CELLO_BENCH_BOOK": BOOK_MESSAGE.SerializeToString().hex()}
            env.pop("PYTHONPATH", None)
        if pin:
            cmd = ["taskset", "-c", str((os.cpu_count() or 2) - 1), *cmd]
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
        )

    def wait_port(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"the {self.kind} server did not start (exit {self.process.wait()})")
        self.port = int(line)

    def cpu(self) -> float:
        """CPU seconds used so far by the whole process (all threads)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def replies(stub: Any, name: str) -> list[Any]:
    """One call of `name` through a grpcio client (3 books for the streams)."""
    from bench.v1 import bench_pb2 as pb2
    from servicers import BOOK_MESSAGE

    request = pb2.GetBookRequest(isbn="978-0441013593")
    if name == "ListBooks":
        return list(stub.ListBooks(pb2.ListBooksRequest(count=3), timeout=30))
    if name == "EchoBooks":
        return list(stub.EchoBooks(iter([BOOK_MESSAGE] * 3), timeout=30))
    return [getattr(stub, name)(request, timeout=30)]


def check_replies(servers: dict[str, Server], plan: Plan) -> None:
    """Every server answers every call with exactly the hand-written server's messages."""
    import grpc
    from bench.v1 import bench_pb2_grpc as pb2_grpc
    from servicers import BOOK_MESSAGE

    for kind, server in servers.items():
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb2_grpc.BenchServiceStub(channel)
            for name in plan.calls:
                if name in plan.kinds[kind].unsupported:
                    continue
                got = replies(stub, name)
                want = [BOOK_MESSAGE] * (1 if name.startswith("Get") else 3)
                if got != want:
                    raise AssertionError(f"{kind} {name}: reply differs:\n{got[0]}")


def drive(call: Call, port: int, requests: int, plan: Plan, files: Path) -> tuple[float, int]:
    """One client run: (calls/s, reply bytes received)."""
    if plan.client == "go":
        return drivers.loadgen(files / "loadgen", call, port, requests, plan.load, files)
    return drivers.h2load(call, port, requests, plan.load, files)


def measure(servers: dict[str, Server], call: Call, plan: Plan, files: Path) -> dict[str, Samples]:
    """Calibrate each server's request count to ~plan.seconds, then alternate timed rounds."""
    servers = {k: s for k, s in servers.items() if call.name not in plan.kinds[k].unsupported}
    counts = {}
    for kind, server in servers.items():  # warm-up doubles as calibration
        probe = max(plan.load.clients, 20 if call.unit == "streams/s" else 200)
        rate, _ = drive(call, server.port, probe, plan, files)
        counts[kind] = max(probe, int(rate * plan.seconds))
    samples = {kind: Samples() for kind in servers}
    order = list(servers)
    for r in range(plan.rounds):
        for kind in order if r % 2 == 0 else order[::-1]:
            server, n = servers[kind], counts[kind]
            before = server.cpu()
            rate, data = drive(call, server.port, n, plan, files)
            cpu = server.cpu() - before
            if data != n * call.reply_bytes:
                raise AssertionError(
                    f"{kind} {call.name}: received {data} reply bytes, expected"
                    f" {n} x {call.reply_bytes}; some calls failed (h2load ignores grpc-status)"
                )
            s = samples[kind]
            s.rates.append(rate)
            s.cpu_us.append(cpu / n * 1e6)
            s.busy.append(cpu * rate / n)  # over the client's own elapsed time
    return samples


def report(call: Call, samples: dict[str, Samples], plan: Plan) -> list[str]:
    per = ""
    if call.name == "ListBooks":
        per = f", {plan.stream_books} books each"
    elif call.name == "EchoBooks":
        per = f", {plan.echo_books} books each way"
    lines = [f"{call.name} ({call.unit}{per}; {plan.rounds} rounds, median [min..max])"]
    base = statistics.median(samples[BASELINE].rates)
    base_cpu = statistics.median(samples[BASELINE].cpu_us)
    for kind, spec in plan.kinds.items():
        if kind not in samples:
            lines.append(f"  {spec.label:<25}n/a: {spec.unsupported[call.name]}")
            continue
        s = samples[kind]
        rate, cpu = statistics.median(s.rates), statistics.median(s.cpu_us)
        lines.append(
            f"  {spec.label:<25}{rate:>7,.0f}  [{min(s.rates):,.0f}..{max(s.rates):,.0f}]"
            f"  ratio {rate / base:5.2f} [{min(s.rates) / base:.2f}..{max(s.rates) / base:.2f}]"
            f"  server CPU {cpu:,.0f} us/call (ratio {base_cpu / cpu:.2f})"
            f"  busy {statistics.median(s.busy):.0%}"
        )
    return lines


def summary(results: dict[str, dict[str, Samples]], plan: Plan) -> list[str]:
    """The closing tables: per server and call, throughput and CPU per call against the floor.

    Each cell is the median's ratio to the baseline's median, and in brackets the ratios of
    the server's worst and best rounds, so the spread shows next to the figure.
    """
    base = plan.kinds[BASELINE].label
    lines = [
        "",
        f"Throughput relative to {base} (median [min..max] of {plan.rounds} rounds; >1 is faster)",
        *table(results, plan, lambda s: s.rates, lambda value, floor: value / floor),
        "",
        f"Server CPU per call relative to {base} (its median CPU / the server's; >1 is cheaper)",
    ]
    lines += table(results, plan, lambda s: s.cpu_us, lambda value, floor: floor / value)
    return lines


def table(
    results: dict[str, dict[str, Samples]],
    plan: Plan,
    values: Callable[[Samples], list[float]],
    ratio: Callable[[float, float], float],
) -> list[str]:
    lines = [f"  {'server':<25}" + "".join(f"{c:>20}" for c in results)]
    for kind, spec in plan.kinds.items():
        cells = []
        for samples in results.values():
            floor = statistics.median(values(samples[BASELINE]))
            if kind not in samples:
                cells.append(f"{'n/a':>20}")
                continue
            got = sorted(ratio(v, floor) for v in values(samples[kind]))
            mid = ratio(statistics.median(values(samples[kind])), floor)
            cells.append(f"{f'{mid:.2f} [{got[0]:.2f}..{got[-1]:.2f}]':>20}")
        lines.append(f"  {spec.label:<25}" + "".join(cells))
    return lines


def main(argv: list[str] | None = None) -> int:
    plan = parse_args(argv)
    if plan.client == "h2load":
        require_h2load()
    started = time.perf_counter()
    print(
        f"cello benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs,"
        f" load {load()}; {plan.client} {plan.load.clients} connections x"
        f" {plan.load.streams} streams"
        + (", client on core 0, servers on the last core" if plan.load.pin else ", not pinned"),
        flush=True,
    )
    pythons = peer_pythons(plan)
    for venv, python in pythons.items():
        print(f"{venv} venv: {peer_env.versions(python)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cello-bench-") as tmp:
        stubs = Path(tmp) / "stubs"
        build_stubs(stubs, plan, pythons)
        files = Path(tmp)
        if plan.client == "go":
            drivers.build_loadgen(files)
        for path in (str(stubs), str(HERE), str(REPO)):
            sys.path.insert(0, path)
        calls = make_calls(plan)
        servers: dict[str, Server] = {}
        try:
            for kind, spec in plan.kinds.items():  # start all first: their imports overlap
                profile = HERE / f"profile-{kind}.prof" if kind in plan.profile else None
                python = pythons[spec.venv] if spec.venv else None
                servers[kind] = Server(kind, stubs, plan.load.pin, profile, python)
            for server in servers.values():
                server.wait_port()
            check_replies(servers, plan)
            results = {}
            for call in calls.values():
                drivers.write_files(call, files)
                results[call.name] = measure(servers, call, plan, files)
                print("\n".join(report(call, results[call.name], plan)), flush=True)
            print("\n".join(summary(results, plan)))
        finally:
            for server in servers.values():
                server.stop()
    for kind in plan.profile:
        path = HERE / f"profile-{kind}.prof"
        print(f"\n{plan.kinds[kind].label}: main thread, by own time (python -m pstats {path})")
        pstats.Stats(str(path)).sort_stats("tottime").print_stats(20)
    return finish(started, profiled=bool(plan.profile))


if __name__ == "__main__":
    sys.exit(main())
