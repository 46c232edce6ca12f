"""The cost of pydantic validation per call, against the dataclass path, in one run.

    python benchmarks/pydantic.py           # about 15 s
    python benchmarks/pydantic.py --quick   # CI smoke run, a few seconds

Builds the stubs of `examples.library` (dataclasses) and `examples.library_pydantic`
(pydantic models of the same shape) and reports, for a `Book` with one author and a tags
map, what each path costs per call:

1. decode: `_pb2` request → the user's class (pydantic validates here), per message;
2. encode: the user's object → `_pb2` response, per message;
3. over the wire: unary `GetBook` and `AddBook` calls per second against a server in this
   process, for each kind, with the ratio pydantic / dataclass.

Conversion figures are the best of `--repeat` timed loops; wire figures are the median of
rounds that alternate the order (dataclass, pydantic; pydantic, dataclass; ...).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# run as a script, this file's folder is on sys.path, where `pydantic` would name this file
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
KINDS = ("dataclass", "pydantic")
MODULES = {"dataclass": "examples.library", "pydantic": "examples.library_pydantic"}


def build(out: Path) -> None:
    """`cello-gen build` each example into `out/<kind>`, an import root each."""
    for kind, module in MODULES.items():
        target = out / kind
        subprocess.run(
            [sys.executable, "-m", "cello.codegen.cli", "build", module, "--out", str(target)],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def per_call(fn: Callable[[], Any], loops: int, repeat: int) -> float:
    """Microseconds per call of `fn`: the best of `repeat` loops of `loops` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / loops * 1e6


def conversions(loops: int, repeat: int) -> dict[str, dict[str, float]]:
    """Decode and encode cost of one Book per kind, through the generated converters."""
    from cello._wire.stubs import load_bindings
    from examples import library, library_pydantic

    out: dict[str, dict[str, float]] = {}
    for kind, module in (("dataclass", library), ("pydantic", library_pydantic)):
        service = getattr(module, "PydanticLibraryService", None) or module.LibraryService
        (binding,) = load_bindings([service]).values()
        add = next(m for m in binding.methods if m.name in ("AddBook", "GetBook"))
        get = next(m for m in binding.methods if m.name == "GetBook")
        book = module.CATALOGUE["978-0"]
        message = get.encode_response(book)
        # the dataclass library has no AddBook: a Book is decoded as GetBook's response is
        decode = add.decode_request if add.name == "AddBook" else get.decode_response
        out[kind] = {
            "decode": per_call(lambda: decode(message), loops, repeat),  # noqa: B023
            "encode": per_call(lambda: get.encode_response(book), loops, repeat),  # noqa: B023
        }
    return out


async def wire(out: Path, seconds: float, rounds: int, concurrency: int) -> dict[str, float]:
    """Median unary GetBook calls per second of each kind, servers in this process."""
    import grpc.aio

    from cello.grpc import GrpcServer
    from examples import library, library_pydantic

    sys.path[:0] = [str(out / kind) for kind in KINDS]
    from demo.library.v1 import library_cello  # type: ignore[import-not-found]
    from demo.library_pydantic.v1 import library_pydantic_cello  # type: ignore[import-not-found]

    setups = {
        "dataclass": (library.LibraryService(), library_cello, library.GetBookRequest),
        "pydantic": (
            library_pydantic.PydanticLibraryService(),
            library_pydantic_cello,
            library_pydantic.GetBookRequest,
        ),
    }
    rates: dict[str, list[float]] = {k: [] for k in KINDS}
    servers = []
    clients = {}
    channels = []
    for kind, (service, stubs, request_type) in setups.items():
        server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=out / kind)
        server.register_service(service)
        await server.start()
        servers.append(server)
        channel = grpc.aio.insecure_channel(server.address)
        channels.append(channel)
        client_class = getattr(stubs, "PydanticLibraryServiceClient", None)
        client = (client_class or stubs.LibraryServiceClient)(channel)
        clients[kind] = (client, request_type(isbn="978-0"))
    try:

        async def drive(kind: str, length: float) -> float:
            client, request = clients[kind]
            done = 0
            stop = time.perf_counter() + length

            async def worker() -> None:
                nonlocal done
                while time.perf_counter() < stop:
                    await client.GetBook(request)
                    done += 1

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return done / (time.perf_counter() - start)

        for kind in KINDS:
            await drive(kind, seconds / 2)  # warm-up
        for n in range(rounds):
            for kind in KINDS if n % 2 == 0 else tuple(reversed(KINDS)):
                rates[kind].append(await drive(kind, seconds))
    finally:
        for channel in channels:
            await channel.close()
        for server in servers:
            await server.stop(0)
    return {kind: statistics.median(r) for kind, r in rates.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short smoke run (CI)")
    p.add_argument("--repeat", type=int, default=5, help="timed loops per conversion")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per kind on the wire")
    p.add_argument("--seconds", type=float, default=1.0, help="length of a wire round")
    p.add_argument("--concurrency", type=int, default=16, help="calls in flight")
    args = p.parse_args(argv)
    loops = 2_000 if args.quick else 20_000
    repeat, rounds, seconds = (
        (2, 2, 0.3) if args.quick else (args.repeat, args.rounds, args.seconds)
    )
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory(prefix="cello-bench-") as tmp:
        out = Path(tmp)
        build(out)
        conv = conversions(loops, repeat)
        rates = asyncio.run(wire(out, seconds, rounds, args.concurrency))
    print(f"{'per Book':<24}{'dataclass':>12}{'pydantic':>12}{'ratio':>8}")
    for step in ("decode", "encode"):
        d, m = conv["dataclass"][step], conv["pydantic"][step]
        print(f"{step + ' (us)':<24}{d:>12.2f}{m:>12.2f}{m / d:>8.2f}")
    d, m = rates["dataclass"], rates["pydantic"]
    print(f"{'GetBook calls/s':<24}{d:>12.0f}{m:>12.0f}{m / d:>8.2f}")
    extra = conv["pydantic"]["decode"] - conv["dataclass"]["decode"]
    print(f"validation adds {extra:.1f} us per decoded Book (a request, or a typed client's reply)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
