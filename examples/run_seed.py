"""Run every snippet of the seed page (examples/seed/*.py) in order, as written.

The page's snippets share one session, like a notebook or `python -m asyncio`: later ones
use names from earlier ones, and top-level `await` is allowed. A snippet whose last line
raises (the GrpcError example) is expected to raise; the runner reports it and goes on.

    python examples/run_seed.py
"""

from __future__ import annotations

import ast
import asyncio
import gc
import sys
import types
from pathlib import Path

SNIPPETS = Path(__file__).parent / "seed"


async def run_all() -> int:
    from cello.grpc import GrpcError, GrpcServer

    namespace: dict[str, object] = {"__name__": "seed_page"}
    sys.modules["seed_page"] = types.ModuleType("seed_page")
    namespace = vars(sys.modules["seed_page"])
    for path in sorted(SNIPPETS.glob("*.py")):
        print(f"--- {path.name}", flush=True)
        code = compile(
            path.read_text(encoding="utf-8"),
            str(path),
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        )
        try:
            result = eval(code, namespace)  # noqa: S307 - running the seed's own snippets
            if asyncio.iscoroutine(result):
                await result
        except GrpcError as exc:
            print(f"raised GrpcError(code={exc.code}, message={exc.message!r})", flush=True)
    for server in [o for o in gc.get_objects() if isinstance(o, GrpcServer)]:
        await server.stop(0)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(run_all()))
