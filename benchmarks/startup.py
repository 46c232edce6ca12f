"""Start-up costs: `import cello` against `import grpc`, and a warm start of 100 services.

    python benchmarks/startup.py              # 7 alternating rounds
    python benchmarks/startup.py --rounds 3

Each figure is CPU time (user + system; on a shared machine wall time mostly measures the
other jobs) in a fresh interpreter (`python -c ...`), rounds alternating, reported as
median [min..max] in milliseconds. Bytecode is cached, as on a user's machine.

- `python -c pass`, `import grpc`, `import cello`, `from cello.grpc import GrpcServer`:
  the whole process, so the interpreter's own start is in every figure.
- `import cello after import grpc`: in one process, the CPU time of `import cello` once
  grpc is loaded: what Cello itself adds.
- warm start: a module of 100 services (5 methods each, 3 dataclass messages per service)
  is written to a temporary directory, and its stubs generated once into a fresh cache
  (`CELLO_CACHE_DIR`). Each timed process imports Cello and that module, then reports the
  CPU time from creating a `GrpcServer` to `start()` returning with every service
  registered (stubs from the cache, as on a developer's second run); and the same with
  `stubs_dir` pointing at a `cello-gen build` of the module.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def service_module(services: int) -> str:
    """Source of a module with `services` services of 5 methods each."""
    parts = [
        '"""Generated for benchmarks/startup.py: many services."""',
        "",
        "from __future__ import annotations",
        "",
        "import datetime as dt",
        "from collections.abc import AsyncIterator",
        "from dataclasses import dataclass, field",
        "",
        "from cello.grpc import GrpcService, grpc_method",
    ]
    for i in range(services):
        parts.append(
            textwrap.dedent(
                f"""

                @dataclass
                class Item{i}:
                    id: str
                    name: str = ""
                    count: int = 0
                    when: dt.datetime | None = None
                    tags: dict[str, str] = field(default_factory=dict)


                @dataclass
                class Query{i}:
                    id: str
                    limit: int = 10


                @dataclass
                class Page{i}:
                    items: list[Item{i}] = field(default_factory=list)
                    next: str | None = None


                class Service{i}(GrpcService):
                    package = "many.v{i % 10}"

                    @grpc_method
                    async def Get(self, request: Query{i}) -> Item{i}:
                        return Item{i}(id=request.id)

                    @grpc_method
                    async def List(self, request: Query{i}) -> Page{i}:
                        return Page{i}()

                    @grpc_method
                    async def Watch(self, request: Query{i}) -> AsyncIterator[Item{i}]:
                        yield Item{i}(id=request.id)

                    @grpc_method
                    async def Put(self, request: Item{i}) -> Item{i}:
                        return request

                    @grpc_method
                    async def Count{i}(self, id: str, extra: int = 0) -> int:
                        return extra
                """
            ).rstrip()
        )
    return "\n".join(parts) + "\n"


# the services are listed by hand, not with `cello.codegen.build.module_services`: importing
# the generator before the clock starts would hide what a warm start still loads from it
WARM = """
import asyncio, time
from cello.grpc import GrpcServer, GrpcService
import many_services

SERVICES = [
    v for v in vars(many_services).values()
    if isinstance(v, type) and issubclass(v, GrpcService) and v is not GrpcService
]

async def main():
    start = time.process_time()
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir={stubs_dir!r})
    for cls in SERVICES:
        server.register_service(cls())
    await server.start()
    took = time.process_time() - start
    await server.stop(0)
    print(took)

asyncio.run(main())
"""


ON_TOP = """
import time, grpc
start = time.process_time()
import cello
print(time.process_time() - start)
"""


def run(code: str, env: dict[str, str], cwd: Path) -> float:
    """CPU seconds: the process's own report if it prints one, else the whole process's.

    CPU time rather than wall time, because on a shared machine the wall clock mostly
    measures the other jobs.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{code[:60]!r} failed:\n{out.stderr}")
    if out.stdout.strip():
        return float(out.stdout)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--services", type=int, default=100)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cello-startup-") as tmp:
        root = Path(tmp)
        (root / "many_services.py").write_text(service_module(args.services))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(root), str(REPO)]),
            "CELLO_CACHE_DIR": str(root / "cache"),
            # as on a user's machine: bytecode is cached (outside the checkout)
            "PYTHONPYCACHEPREFIX": str(root / "pycache"),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        build = [sys.executable, "-m", "cello.codegen.cli", "build", "many_services"]
        subprocess.run(
            [*build, "--out", str(root / "built")],
            env=env,
            cwd=root,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cases = {
            "python -c pass": "pass",
            "import grpc": "import grpc",
            "import cello": "import cello",
            "from cello.grpc import GrpcServer": "from cello.grpc import GrpcServer",
            "import cello after import grpc": ON_TOP,
            f"warm start, {args.services} services (cache)": WARM.format(stubs_dir=None),
            f"warm start, {args.services} services (stubs_dir)": WARM.format(
                stubs_dir=str(root / "built")
            ),
        }
        for code in cases.values():  # untimed: fill the stub and bytecode caches
            run(code, env, root)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for r in range(args.rounds):
            for name in list(cases) if r % 2 == 0 else list(cases)[::-1]:
                times[name].append(run(cases[name], env, root) * 1000)
    print(f"start-up, ms: median [min..max] over {args.rounds} alternating rounds")
    for name, ms in times.items():
        print(f"  {name:<38}{statistics.median(ms):8.1f}  [{min(ms):.1f}..{max(ms):.1f}]")
    grpc_ms = statistics.median(times["import grpc"])
    cello_ms = statistics.median(times["import cello"])
    print(f"  import cello - import grpc: {cello_ms - grpc_ms:+.1f} ms (target <= +20)")
    own = statistics.median(times["import cello after import grpc"])
    print(f"  cello's own import (after grpc): {own:.1f} ms")
    print("  (warm start: GrpcServer() to start() returning, 100 services; target < 100)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
