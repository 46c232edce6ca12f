"""The app the deploy tests serve: every reply carries the serving process's pid."""

from __future__ import annotations

import asyncio
import os

from cello import App, GrpcConfig
from cello.grpc import GrpcService, grpc_method


class WhoService(GrpcService):
    package = "deploy.v1"

    @grpc_method
    async def Whoami(self) -> int:
        return os.getpid()

    @grpc_method
    async def Sleep(self, ms: int) -> int:
        await asyncio.sleep(ms / 1000)
        return os.getpid()


app = App()
app.enable_grpc(
    GrpcConfig(host="127.0.0.1", port=0, enable_web=True, web_port=0, shutdown_grace_secs=10)
)
app.register_service(WhoService())
