"""A peer program: the `connectrpc` client, with code protoc-gen-connectrpc generated from
the `.proto` cello-gen emitted, calls `ConnectProbe` and prints what it saw as JSON.

Run as `python connectrpc_client.py URL` with the generated code on PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from connectrpc.compat import google_protobuf_json_codec
from connectrpc.errors import ConnectError
from connecttest.v1.connecttest_connect import ConnectProbeClient
from connecttest.v1.connecttest_pb2 import Count, ItemKey, Tick


async def main(url: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, codec in (("proto", None), ("json", google_protobuf_json_codec())):
        options: dict[str, Any] = {} if codec is None else {"codec": codec}
        client = ConnectProbeClient(url, **options)
        item = await client.lookup(ItemKey(item_id=7), headers={"x-peer": "connectrpc"})
        seen[f"{name}.lookup"] = [item.item_id, item.display_name, item.created.seconds]
        got = await client.lookup(ItemKey(item_id=8), use_get=True)
        seen[f"{name}.get"] = got.display_name
        try:
            await client.lookup(ItemKey(item_id=-1))
        except ConnectError as exc:
            seen[f"{name}.not_found"] = [exc.code.name, exc.message]
        ticks = [t.i async for t in client.countdown(Count(n=3))]
        seen[f"{name}.countdown"] = ticks
        try:
            await client.gather(_ticks())
        except ConnectError as exc:
            seen[f"{name}.gather"] = exc.code.name
    return seen


async def _ticks() -> Any:
    yield Tick(i=1)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))), flush=True)
    # the connectrpc client's HTTP stack (pyqwest, Rust) sometimes aborts (SIGABRT) while
    # the interpreter tears down, after every call above has finished and been printed;
    # leave without that teardown so the exit code reports the calls, not the library
    os._exit(0)
