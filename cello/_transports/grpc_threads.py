"""The threads transport: endpoints as handlers of grpc's sync server, one event loop per thread.

grpc's sync server calls a handler on a pool thread with no event-loop hop per call. The call
layer is async, so each worker thread owns one event loop, made once, and runs each call's
endpoint to completion on it. A loop runs one call at a time: its thread is the call's
thread until the call ends, so blocking that loop (a grpc request iterator, a message send
that waits for flow control, a plain `def` handler) delays nothing else.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from .._call.context import CallContext, pairs
from .._call.endpoint import Endpoint, Status, status_of
from .._errors import GrpcError
from .grpc_servicer import STATUS, ServicerCall, parser, unary_incoming
from .grpc_servicer import generic_handlers as _grouped

Context = Any  # grpc.ServicerContext (the sync one)
Send = Callable[[Any], None]

# grpc reports "no deadline" as ~9.2e18 seconds left; anything past ten years is none
_NO_DEADLINE = 3e8
# health and reflection run on their own few threads, so probes answer while every
# worker thread is busy with a long call
PROBE_THREADS = 4

_local = threading.local()


class GrpcThreadsCall(ServicerCall):
    """A `CallContext` over grpc's sync `ServicerContext`, on the worker thread's loop."""

    _failure: Status | None = None  # how the endpoint failed, sent once it has returned
    _finished = False  # this side ended the call: the end callback is no cancellation
    _task: asyncio.Task[Any] | None = None
    _send: Send | None = None  # a server stream's message sender (grpc's callback)

    def time_remaining(self) -> float | None:
        remaining = float(self._context.time_remaining())
        return None if remaining > _NO_DEADLINE else remaining

    @property
    def cancelled(self) -> bool:
        return self._abandoned

    async def send_headers(
        self, metadata: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()
    ) -> None:
        if self._headers_sent:
            raise RuntimeError(f"{self.method}: send_headers() after the headers were sent")
        self._headers_sent = True
        self._context.send_initial_metadata(pairs(metadata))

    async def _write(self, message: Any) -> None:
        if self._abandoned:
            # the client left; a handler that never suspends would not see task.cancel()
            # (checked before sending: one that does suspends after this write and gets
            # the CancelledError there, as on grpc.aio)
            raise asyncio.CancelledError
        payload = message.SerializeToString()
        self.response_size += len(payload)
        self._headers_sent = True
        # grpc's sender blocks until the message is on its way (flow control): it blocks
        # this thread's loop, which serves this call only
        self._send(payload)  # type: ignore[misc]

    def _ended(self) -> None:
        """grpc's end-of-rpc callback (on a grpc thread): a client cancel, a deadline, or
        our own status; the first two cancel the handler's task on its loop."""
        if self._finished:
            return
        self._abandoned = True
        task = self._task
        if task is not None and not task.done():
            try:
                task.get_loop().call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop was closed: the server stopped
                pass


def thread_loop() -> asyncio.AbstractEventLoop:
    """This worker thread's event loop (made when the thread started)."""
    return _local.loop  # type: ignore[no-any-return]


def generic_handlers(endpoints: Sequence[Endpoint]) -> list[grpc.GenericRpcHandler]:
    """One grpc generic handler per service, serving `endpoints` on the sync server."""
    return _grouped(endpoints, method_handler)


def method_handler(ep: Endpoint) -> grpc.RpcMethodHandler[Any, Any]:
    """The sync grpc handler for one endpoint: parse, run on the thread's loop, reply."""
    parse = parser(ep.request_type)
    method, run, enter, leave = ep.method, ep.run, ep.enter, ep.leave
    incoming = _stream_incoming(parse) if ep.client_streaming else unary_incoming(parse)
    # a unary reply is serialized inside the handler's try, so a failure there is its status
    finish = _serialized if not ep.server_streaming else _discarded

    async def served(raw: Any, call: GrpcThreadsCall) -> Any:
        """Parse, run between the middleware's enter and leave, finish the reply; a failure
        is kept on the call, to be sent once the task has ended."""
        try:
            request = incoming(raw, call)
            enter(request, call)
            try:
                return finish(await run(request, call))
            finally:
                leave(call)
        except Exception as exc:
            call._failure = status_of(exc, method)
            return None

    def completed(raw: Any, call: GrpcThreadsCall, context: Context) -> Any:
        """Run the endpoint to completion on this thread's loop; a failure becomes the
        call's status (grpc's `abort` raises, as grpc expects)."""
        loop = _local.loop
        call._task = task = loop.create_task(served(raw, call))
        if not context.add_callback(call._ended):  # the rpc ended before it started
            call._ended()
        try:
            result = loop.run_until_complete(task)
        except asyncio.CancelledError:
            call._finished = True
            call.code = GrpcError.CANCELLED
            _settle(loop)
            context.abort(grpc.StatusCode.CANCELLED, "the call was cancelled")
        call._finished = True
        failure = call._failure
        if failure is not None:
            _settle(loop)
            call.code = failure.code
            context.set_trailing_metadata(pairs([*call.trailers, *failure.trailers]))
            context.abort(STATUS[failure.code], failure.message)
        call.code = 0
        if call.trailers:
            context.set_trailing_metadata(call.trailers)
        return result

    def unary_response(raw: Any, context: Context) -> bytes:
        call = GrpcThreadsCall(method, context)
        payload: bytes = completed(raw, call, context)
        call.response_size = len(payload)
        return payload

    def stream_response(raw: Any, context: Context, send: Send) -> None:
        call = GrpcThreadsCall(method, context)
        call._send = send
        completed(raw, call, context)
        send(None)  # the status, with the trailers set above

    if ep.server_streaming:
        # grpc's non-blocking style hands us its sender: each message goes out from the
        # handler's own `_write`, with no stepping of the loop per message
        stream_response.experimental_non_blocking = True  # type: ignore[attr-defined]
        behavior: Callable[..., Any] = stream_response
    else:
        behavior = unary_response
    left = "stream" if ep.client_streaming else "unary"
    right = "stream" if ep.server_streaming else "unary"
    factory = getattr(grpc, f"{left}_{right}_rpc_method_handler")
    handler: grpc.RpcMethodHandler[Any, Any] = factory(behavior)
    return handler


def _settle(loop: asyncio.AbstractEventLoop) -> None:
    """Run the closing of the async generators a call left mid-way (their finalizers were
    queued on this loop as the call unwound), before the thread serves another call."""
    for _ in range(_SETTLE_PASSES):
        loop.run_until_complete(_tick())
        # each closing generator queues its inner one's closing: run while work is queued
        # (`_ready` is asyncio's run queue; a task a handler left running does not count)
        if not getattr(loop, "_ready", None):
            return


_SETTLE_PASSES = 16


async def _tick() -> None:
    await asyncio.sleep(0)


def _serialized(reply: Any) -> bytes:
    return reply.SerializeToString()  # type: ignore[no-any-return]


def _discarded(reply: Any) -> None:
    return None


def _stream_incoming(parse: Callable[[bytes], Any]) -> Callable[[Any, CallContext], Any]:
    def incoming(requests: Iterator[bytes], call: CallContext) -> Any:
        return _Requests(requests, parse, call)

    return incoming


class _Requests:
    """grpc's blocking request iterator as an async iterator.

    `next()` blocks the thread's loop until a message arrives: that loop serves this call
    only (see the module docstring), so nothing else waits on it.
    """

    __slots__ = ("_requests", "_parse", "_call")

    def __init__(self, requests: Iterator[bytes], parse: Callable[[bytes], Any], call: Any):
        self._requests = requests
        self._parse = parse
        self._call = call

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            raw = next(self._requests)
        except StopIteration:
            raise StopAsyncIteration from None
        except grpc.RpcError:  # the client cancelled, or the deadline passed
            raise asyncio.CancelledError from None
        self._call.request_size += len(raw)
        return self._parse(raw)


class ThreadServer:
    """grpc's sync server with the face `GrpcServer` uses of grpc.aio's (async start/stop).

    Endpoints run on `threads` worker threads, each with its own event loop; services added
    through `add_generic_rpc_handlers` (health, reflection) run on a few probe threads of
    their own.
    """

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        threads: int,
        options: Sequence[tuple[str, Any]],
        compression: grpc.Compression,
        maximum_concurrent_rpcs: int,
    ) -> None:
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._workers = ThreadPoolExecutor(
            threads, thread_name_prefix="cello-grpc", initializer=self._new_loop
        )
        self._probes = ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="cello-probe")
        self._server = grpc.server(
            self._workers,
            handlers=generic_handlers(endpoints),
            options=list(options),
            maximum_concurrent_rpcs=maximum_concurrent_rpcs,
            compression=compression,
        )

    def _new_loop(self) -> None:
        """A worker thread's loop, made once when the thread starts.

        This is where the invariant holds: a loop belongs to one thread, and grpc's pool
        gives a thread one call at a time, so a loop serves one call at a time and may be
        blocked by it (request reads, message sends, plain `def` handlers).
        """
        _local.loop = loop = asyncio.new_event_loop()
        self._loops.append(loop)  # list.append is atomic: no lock among starting threads

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Serve `handlers` (sync grpc servicers) on the probe threads."""
        self._server.add_generic_rpc_handlers(tuple(_OnPool(h, self._probes) for h in handlers))

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        """Accepted for generated `add_*_to_server`; the generic handlers serve them."""

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, credentials)

    async def start(self) -> None:
        self._server.start()

    async def stop(self, grace: float | None) -> None:
        """Refuse new calls, let in-flight ones finish for `grace` seconds, then cancel
        them; the worker threads and their loops are let go of once their calls returned."""
        stopped = self._server.stop(grace)
        await asyncio.get_running_loop().run_in_executor(None, stopped.wait)
        self._probes.shutdown(wait=False, cancel_futures=True)
        self._workers.shutdown(wait=False, cancel_futures=True)
        retire = threading.Thread(target=_retire, args=(self._workers, self._loops), daemon=True)
        retire.start()
        # cancelled calls end at their next await; a plain `def` handler may run on
        await asyncio.get_running_loop().run_in_executor(None, retire.join, 1.0)

    async def wait_for_termination(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._server.wait_for_termination)


def _retire(workers: ThreadPoolExecutor, loops: list[asyncio.AbstractEventLoop]) -> None:
    """Close the worker threads' loops once every worker has returned."""
    workers.shutdown(wait=True)
    for loop in loops:
        loop.close()


class _OnPool(grpc.GenericRpcHandler):
    """A generic handler whose methods run on `pool` instead of the worker threads."""

    def __init__(self, inner: grpc.GenericRpcHandler, pool: ThreadPoolExecutor) -> None:
        self._inner = inner
        self._pool = pool

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        kind = (
            ("stream" if handler.request_streaming else "unary")
            + "_"
            + ("stream" if handler.response_streaming else "unary")
        )
        behavior = _pooled(getattr(handler, kind), self._pool)
        return handler._replace(**{kind: behavior})  # type: ignore[attr-defined,no-any-return]


def _pooled(behavior: Callable[..., Any], pool: ThreadPoolExecutor) -> Callable[..., Any]:
    def pooled(*args: Any) -> Any:
        return behavior(*args)

    pooled.experimental_thread_pool = pool  # type: ignore[attr-defined]
    pooled.experimental_non_blocking = getattr(  # type: ignore[attr-defined]
        behavior, "experimental_non_blocking", False
    )
    return pooled
