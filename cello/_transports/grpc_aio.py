"""The grpc.aio transport: endpoints as grpc method handlers, on bytes.

It owns binary (de)serialization (a malformed request is INVALID_ARGUMENT, not grpc's
INTERNAL) and carries out `CallContext` operations on `grpc.aio.ServicerContext`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc
import grpc.aio
from grpc.aio import EOF

from .._call.context import CallContext, pairs
from .._call.endpoint import Endpoint, status_of
from .._errors import GrpcError
from .grpc_servicer import STATUS, Context, ServicerCall, parser, unary_incoming
from .grpc_servicer import generic_handlers as _grouped


class GrpcAioCall(ServicerCall):
    """A `CallContext` over a `grpc.aio.ServicerContext`."""

    def time_remaining(self) -> float | None:
        remaining: float | None = self._context.time_remaining()
        return remaining

    @property
    def cancelled(self) -> bool:
        return self._abandoned or bool(self._context.cancelled())

    async def send_headers(
        self, metadata: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()
    ) -> None:
        if self._headers_sent:
            raise RuntimeError(f"{self.method}: send_headers() after the headers were sent")
        self._headers_sent = True
        await self._context.send_initial_metadata(pairs(metadata))

    def _write(self, message: Any) -> Awaitable[None]:
        # not a coroutine itself: once the headers are out, the caller awaits grpc's own
        # write, one coroutine less per message of a stream
        payload = message.SerializeToString()
        self.response_size += len(payload)
        if not self._headers_sent:
            return self._first_write(payload)
        return self._context.write(payload)  # type: ignore[no-any-return]

    async def _first_write(self, payload: bytes) -> None:
        await self._first_headers()
        await self._context.write(payload)

    async def _first_headers(self) -> None:
        """Headers about to go out with the first message (or the status)."""
        self._headers_sent = True
        if self.compression is not None:
            # grpc.aio applies a per-call compression only to explicitly sent headers
            await self._context.send_initial_metadata(())


def generic_handlers(endpoints: Sequence[Endpoint]) -> list[grpc.GenericRpcHandler]:
    """One grpc generic handler per service, serving `endpoints`."""
    return _grouped(endpoints, method_handler)


def method_handler(ep: Endpoint) -> grpc.RpcMethodHandler[Any, Any]:
    """The grpc handler for one endpoint: parse, run, serialize, translate errors."""
    parse = parser(ep.request_type)
    method, run, enter, leave = ep.method, ep.run, ep.enter, ep.leave

    incoming = _stream_incoming(parse) if ep.client_streaming else unary_incoming(parse)

    # Both behaviours parse, run between the endpoint's enter and leave, and send a failure
    # as the call's status (re-raised for grpc), in their own body: a shared coroutine
    # would be one more frame that every suspension of a stream (each write) passes through.

    async def unary_response(raw: Any, context: Context) -> bytes:
        call = GrpcAioCall(method, context)
        try:
            request = incoming(raw, call)
            enter(request, call)
            try:
                # serialized inside the try, so a failure there is the call's status
                payload: bytes = (await run(request, call)).SerializeToString()
            finally:
                leave(call)
        except BaseException as exc:
            await _fail(exc, call, context)
            raise
        call.response_size = len(payload)
        call.code = 0
        if call.compression is not None and not call._headers_sent:
            await call._first_headers()
        if call.trailers:
            context.set_trailing_metadata(call.trailers)
        return payload

    async def stream_response(raw: Any, context: Context) -> None:
        call = GrpcAioCall(method, context)
        try:
            request = incoming(raw, call)
            enter(request, call)
            try:
                await run(request, call)
            finally:
                leave(call)
        except BaseException as exc:
            await _fail(exc, call, context)
            raise
        call.code = 0
        if call.trailers:
            context.set_trailing_metadata(call.trailers)

    behavior = stream_response if ep.server_streaming else unary_response
    left = "stream" if ep.client_streaming else "unary"
    right = "stream" if ep.server_streaming else "unary"
    factory = getattr(grpc, f"{left}_{right}_rpc_method_handler")
    handler: grpc.RpcMethodHandler[Any, Any] = factory(behavior)
    return handler


def _stream_incoming(parse: Callable[[bytes], Any]) -> Callable[[Any, GrpcAioCall], Any]:
    def incoming(requests: Any, call: GrpcAioCall) -> Any:
        return _parsed(call._context.read, parse, call)

    return incoming


async def _parsed(
    read: Callable[[], Awaitable[Any]], parse: Callable[[bytes], Any], call: CallContext
) -> AsyncIterator[Any]:
    """The request stream, read from the context: grpc's own request iterator would be
    one more async generator per message."""
    while True:
        raw = await read()
        if raw is EOF:
            return
        call.request_size += len(raw)
        yield parse(raw)


async def _fail(exc: BaseException, call: GrpcAioCall, context: Context) -> None:
    """End the call with the status `exc` stands for; return to let the caller re-raise."""
    if not isinstance(exc, Exception) or isinstance(exc, grpc.aio.AbortError):
        call.code = GrpcError.CANCELLED
        return
    status = status_of(exc, call.method)
    call.code = status.code
    trailers = pairs([*call.trailers, *status.trailers])
    await context.abort(STATUS[status.code], status.message, trailing_metadata=trailers)
