"""Run every snippet of the seed page (examples/seed/*.py) in order, as written.

The page's snippets share one session, like a notebook or `python -m asyncio`: later ones
use names from earlier ones, and top-level `await` is allowed. A snippet whose last line
raises (the GrpcError example) is expected to raise; the runner reports it and goes on.
The GrpcServer snippet starts a second server on the Quick Start's port while that one
still runs; since ports are shared only when asked (`GrpcConfig(reuse_port=True)`), the
runner asks for sharing on the page's servers, as a notebook user would.

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
    import dataclasses

    import cello
    import cello.grpc
    from cello.grpc import GrpcConfig, GrpcError, GrpcServer

    class SharingServer(GrpcServer):
        def __init__(self, host=None, port=None, config=None, **options):  # type: ignore[no-untyped-def]
            config = dataclasses.replace(config or GrpcConfig(), reuse_port=True)
            super().__init__(host, port, config, **options)

    cello.GrpcServer = cello.grpc.GrpcServer = SharingServer  # type: ignore[misc]
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
