"""`SyncGrpcChannel`: the dict-style `GrpcChannel` for blocking code, on a private event loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import grpc

from .._definitions.messages import GrpcRequest, GrpcResponse
from .._security.tls import ClientTls
from .calls import ClientMiddleware, Metadata
from .channel import GrpcChannel
from .closing import Closing
from .connection import ChannelOptions

T = TypeVar("T")


class SyncGrpcChannel(Closing):
    """A blocking `GrpcChannel`: the same calls, without `await`.

    grpc.aio channels belong to one event loop, so the channel lives on a loop of its own
    in a daemon thread and each call waits for its result there. Safe to use from several
    threads; `close()` (or `with`) stops the loop.
    """

    def __init__(self, channel: GrpcChannel, loop: _LoopThread) -> None:
        self.channel = channel
        self._loop = loop

    @classmethod
    def connect(
        cls,
        target: str,
        *,
        timeout: float = 10.0,
        raise_on_error: bool = False,
        max_message_size: int = 4_194_304,
        local_stubs: bool = True,
        tls: ClientTls | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: ChannelOptions = (),
        middleware: Sequence[ClientMiddleware] = (),
        propagate: Iterable[str] = (),
        compression: str | None = None,
        tracing: bool = False,
    ) -> SyncGrpcChannel:
        """Open a channel to `target` ("host:port") and wait until it is ready.

        Takes the options of `GrpcChannel.connect`, `tls=` and `tracing=` included. The
        channel runs on its own event loop, so its middleware is the async form, `async def
        mw(call, call_next)`, run on that loop (a ready-made middleware works on every
        client); its calls run on a thread of their own, so their spans start new traces.

        Raises:
            GrpcError: UNAVAILABLE if no connection is made within `timeout` seconds, or at
                once when the TLS handshake fails.
        """
        loop = _LoopThread()
        connecting = GrpcChannel.connect(
            target,
            timeout=timeout,
            raise_on_error=raise_on_error,
            max_message_size=max_message_size,
            local_stubs=local_stubs,
            tls=tls,
            tracing=tracing,
            credentials=credentials,
            options=options,
            middleware=middleware,
            propagate=propagate,
            compression=compression,
        )
        try:
            channel = loop.wait(connecting)
        except BaseException:
            loop.stop()
            raise
        return cls(channel, loop)

    def call(
        self,
        service: str,
        method: str,
        request: GrpcRequest[Any] | dict[str, Any] | None = None,
        *,
        requests: Iterable[Any] | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        raise_on_error: bool | None = None,
    ) -> GrpcResponse[Any]:
        """Call a method and return its `GrpcResponse`; see `GrpcChannel.call`."""
        return self._loop.wait(
            self.channel.call(
                service,
                method,
                request,
                requests=None if requests is None else list(requests),
                timeout=timeout,
                metadata=metadata,
                raise_on_error=raise_on_error,
            )
        )

    def stream(
        self,
        service: str,
        method: str,
        request: GrpcRequest[Any] | dict[str, Any] | None = None,
        *,
        requests: Iterable[Any] | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield each message of a streaming method as a dict; see `GrpcChannel.stream`.

        Raises:
            GrpcError: the call ended with a non-OK status.
        """
        replies: AsyncIterator[dict[str, Any]] = self.channel.stream(
            service,
            method,
            request,
            requests=None if requests is None else list(requests),
            timeout=timeout,
            metadata=metadata,
        )
        while (reply := self._loop.wait(_next(replies))) is not None:
            yield reply

    def close(self) -> None:
        """Close the connection and stop the channel's loop."""
        if self._loop.stopped:
            return
        try:
            self._loop.wait(self.channel.close())
        finally:
            self._loop.stop()


async def _next(replies: AsyncIterator[dict[str, Any]]) -> dict[str, Any] | None:
    # StopAsyncIteration cannot cross the thread boundary as a result; None can
    return await anext(replies, None)


class _LoopThread:
    """An event loop running in a daemon thread, waited on from other threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="cello-sync-channel", daemon=True
        )
        self.thread.start()
        self.stopped = False

    def wait(self, coro: Coroutine[Any, Any, T]) -> T:
        # run in the caller's context, so a call made inside a handler sees the rpc being
        # served (`current_call()`) and inherits its deadline
        context = contextvars.copy_context()

        async def in_context() -> T:
            return await asyncio.get_running_loop().create_task(coro, context=context)

        return asyncio.run_coroutine_threadsafe(in_context(), self.loop).result()

    def stop(self) -> None:
        self.stopped = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
