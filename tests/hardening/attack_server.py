"""The server the HTTP/2 attacks hit: `python -m tests.hardening.attack_server TRANSPORT`.

It runs in its own process so its RSS is its own, prints `PORT <n>` once serving, and
stops when its stdin closes. `AttackService` has what the attacks need: a cheap unary
call (the well-behaved client's), a large server stream and a client stream that waits.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cello import GrpcConfig, GrpcServer, GrpcService, grpc_method

PACKAGE = "attack.v1"
SERVICE = f"/{PACKAGE}.AttackService"


@dataclass
class Note:
    text: str = ""


BIG = Note(text="x" * 60_000)


class AttackService(GrpcService):
    package = PACKAGE

    @grpc_method
    async def Hello(self, request: Note) -> Note:
        return request

    @grpc_method
    async def Flood(self, request: Note) -> AsyncIterator[Note]:
        for _ in range(100_000):  # about 6 GB: more than any client reads in a test
            yield BIG

    @grpc_method
    async def Collect(self, requests: AsyncIterator[Note]) -> Note:
        count = 0
        async for _ in requests:
            count += 1
        return Note(text=str(count))


async def main(transport: str) -> None:
    server = GrpcServer("127.0.0.1", 0, GrpcConfig(transport=transport, health=False))
    server.register_service(AttackService())
    await server.start()
    print(f"PORT {server.port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the harness closes our stdin
    await server.stop(0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
