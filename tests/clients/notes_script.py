"""Calls the note service (tests/clients/services.py) with its standalone clients.

Usage: python notes_script.py tls HOST:PORT CA CERT KEY  (connect over mTLS, every way)
       python notes_script.py details HOST:PORT          (the error details of a refusal)
The generated client directory is on PYTHONPATH. Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from clienttest.v1.clienttest_client import Note, NoteServiceClient, NoteServiceSyncClient
from google.protobuf.json_format import MessageToDict

from cello import ClientTls, GrpcError


async def _tls(target: str, tls: ClientTls) -> dict[str, Any]:
    client = await NoteServiceClient.connect(target, tls=tls, timeout=10)
    awaited = (await client.Echo(Note("awaited"))).text
    await client.close()
    async with NoteServiceClient.connect(target, tls=tls) as client:
        in_with = (await client.Echo(Note("async with"))).text
    async with await NoteServiceClient.connect(target, tls=tls) as client:
        in_await_with = (await client.Echo(Note("await, async with"))).text
    no_cert = ClientTls(ca=tls.ca)
    return {
        "awaited": awaited,
        "async_with": in_with,
        "await_with": in_await_with,
        "no_cert": await _async_refused(lambda: NoteServiceClient.connect(target, tls=no_cert)),
    }


def _sync_tls(target: str, tls: ClientTls, pem: list[bytes]) -> dict[str, Any]:
    with NoteServiceSyncClient.connect(target, tls=tls, timeout=10) as client:
        echoed = client.Echo(Note("sync")).text
    # grpc credentials made by hand, as connect took them before tls=
    credentials = grpc.ssl_channel_credentials(*pem)
    with NoteServiceSyncClient.connect(target, credentials=credentials) as client:
        by_credentials = client.Echo(Note("credentials")).text
    no_cert = ClientTls(ca=tls.ca)
    return {
        "echo": echoed,
        "credentials": by_credentials,
        "no_cert": _refused(lambda: NoteServiceSyncClient.connect(target, tls=no_cert)),
        "unreachable": _refused(lambda: NoteServiceSyncClient.connect("127.0.0.1:1", timeout=0.3)),
    }


def _refused(call: Callable[[], Any]) -> Any:
    try:
        call()
    except GrpcError as exc:
        details = [[type(d).DESCRIPTOR.full_name, MessageToDict(d)] for d in exc.details]
        return [exc.status_name, exc.message, details]
    return None


async def _async_refused(make: Callable[[], Any]) -> Any:
    try:
        await make()
    except GrpcError as exc:
        details = [[type(d).DESCRIPTOR.full_name, MessageToDict(d)] for d in exc.details]
        return [exc.status_name, exc.message, details]
    return None


async def _details(target: str) -> dict[str, Any]:
    # a channel made by hand: the error path only, whatever connect does
    async with NoteServiceClient(grpc.aio.insecure_channel(target)) as client:

        async def stream() -> None:
            async for _ in client.RefuseLater(Note("x")):
                pass

        unary = await _async_refused(lambda: client.Refuse(Note("x")))
        streamed = await _async_refused(stream)
    with NoteServiceSyncClient(grpc.insecure_channel(target)) as sync:
        sync_unary = _refused(lambda: sync.Refuse(Note("x")))
        sync_streamed = _refused(lambda: list(sync.RefuseLater(Note("x"))))
    return {
        "async": unary,
        "async_stream": streamed,
        "sync": sync_unary,
        "sync_stream": sync_streamed,
    }


def main() -> None:
    mode, target, *pem = sys.argv[1:]
    if mode == "tls":
        ca, cert, key = pem
        tls = ClientTls(ca=ca, cert_chain=cert, private_key=key)
        pem = [Path(ca).read_bytes(), Path(key).read_bytes(), Path(cert).read_bytes()]
        result = {"async": asyncio.run(_tls(target, tls)), "sync": _sync_tls(target, tls, pem)}
    else:
        result = asyncio.run(_details(target))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
