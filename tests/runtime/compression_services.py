"""A service telling whether its request arrived compressed, and compressing every other
message of a stream (module level for the stub builder)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from cello import GrpcService, current_call, grpc_method


@dataclass
class Blob:
    data: bytes = b""


@dataclass
class Verdict:
    compressed: str = ""  # "True", "False" or "None" (the transport cannot tell)


class Squeeze(GrpcService):
    package = "squeeze.v1"

    @grpc_method
    async def Arrived(self, request: Blob) -> Verdict:
        return Verdict(str(current_call().request_compressed))

    @grpc_method
    async def ArrivedStream(self, requests: AsyncIterator[Blob]) -> Verdict:
        seen = []
        async for _ in requests:
            seen.append(str(current_call().request_compressed))
        return Verdict(",".join(seen))

    @grpc_method
    async def Mixed(self, request: Blob) -> AsyncIterator[Blob]:
        """Four messages, gzip-compressed but the second and the fourth."""
        call = current_call()
        call.set_compression("gzip")
        for n in range(4):
            if n % 2:
                call.disable_next_message_compression()
            yield Blob(bytes(200))
