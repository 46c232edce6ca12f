"""In-process cost of Cello's generated converters on the benchmark's `Book`, against `_pb2`.

    python benchmarks/converters.py            # best of 7 runs of 20,000 calls each

No network and no grpc: this isolates the Python work around a call that `throughput.py`
measures end to end. Each line is microseconds of the process's CPU time per call (`--wall`:
of the wall clock), best of the runs (the least disturbed by other jobs). The `_pb2` lines
are the floor any servicer pays.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import timeit
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--calls", type=int, default=20_000)
    p.add_argument(
        "--wall", action="store_true", help="time by the wall clock (default: process CPU time)"
    )
    args = p.parse_args(argv)
    sys.path[:0] = [str(HERE), str(REPO)]
    with tempfile.TemporaryDirectory(prefix="cello-conv-") as tmp:
        cmd = [sys.executable, "-m", "cello.codegen.cli", "build", "bench_service"]
        subprocess.run([*cmd, "--out", tmp], cwd=HERE, check=True, stdout=subprocess.DEVNULL)
        sys.path.insert(0, tmp)
        from bench.v1 import bench_pb2 as pb2  # type: ignore[import-not-found]
        from bench_service import BOOK, BOOK_DICT, BenchService, Book
        from google.protobuf import json_format
        from servicers import BOOK_MESSAGE, book_message

        from cello._wire.convert import dict_to_message
        from cello._wire.stubs import load_bindings

        (service,) = load_bindings([BenchService], stubs_dir=tmp).values()
        get = next(m for m in service.methods if m.name == "GetBook")
        encode, decode = get.encode_response, get.decode_response
        # the dict a typed handler returns: JSON-style (strings for times), or `asdict`'s
        encode_dict = getattr(get, "encode_response_dict", None) or (
            lambda d: dict_to_message(d, pb2.Book)  # stubs of an older generator
        )
        plain = asdict(BOOK)
        # a sparse Book (empty lists and maps, no optionals): many real messages look so
        sparse = Book(isbn=BOOK.isbn, title=BOOK.title, published=BOOK.published)
        sparse_message = encode(sparse)
        raw = BOOK_MESSAGE.SerializeToString()
        assert encode(BOOK) == BOOK_MESSAGE and decode(pb2.Book.FromString(raw)) == BOOK
        assert encode_dict(BOOK_DICT) == BOOK_MESSAGE == encode_dict(plain)
        cases = {
            "_pb2: SerializeToString": lambda: BOOK_MESSAGE.SerializeToString(),
            "_pb2: FromString": lambda: pb2.Book.FromString(raw),
            "_pb2 by hand from the dataclass": lambda: book_message(BOOK),
            "cello: encode (dataclass -> _pb2)": lambda: encode(BOOK),
            "cello: decode (_pb2 -> dataclass)": lambda: decode(BOOK_MESSAGE),
            "cello: encode a sparse Book": lambda: encode(sparse),
            "cello: decode a sparse Book": lambda: decode(sparse_message),
            "cello: encode dict (JSON-style)": lambda: encode_dict(BOOK_DICT),
            "cello: encode dict (asdict)": lambda: encode_dict(plain),
            "generic dict_to_message (JSON-style)": lambda: dict_to_message(BOOK_DICT, pb2.Book),
            "json_format.ParseDict (dict -> _pb2)": lambda: json_format.ParseDict(
                BOOK_DICT, pb2.Book()
            ),
        }
        # CPU time: on a shared machine, time spent descheduled is not the converters'
        timer = time.perf_counter if args.wall else time.process_time
        best = {name: float("inf") for name in cases}
        for _ in range(args.runs):  # interleaved, so a noisy moment hits every case alike
            for name, fn in cases.items():
                t = timeit.timeit(fn, number=args.calls, timer=timer) / args.calls * 1e6
                best[name] = min(best[name], t)
    clock = "wall clock" if args.wall else "CPU time"
    print(f"us per call ({clock}), best of {args.runs} x {args.calls:,}")
    for name, us in best.items():
        print(f"  {name:<40}{us:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
