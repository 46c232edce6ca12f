"""Sync handlers: plain `def` rpcs and sync generators run in a thread pool, off the loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from .context import _current

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

_DONE = object()


class HandlerThreads:
    """The pool a server's sync handlers run in: made on first use, shut down with the server.

    `inline=True` is for endpoints already called on a worker thread of their own (the
    threads transport): sync handlers run right there, with no second hop to this pool.
    """

    __slots__ = ("size", "inline", "_executor")

    def __init__(self, size: int, *, inline: bool = False) -> None:
        self.size = size
        self.inline = inline
        self._executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The pool (created now if no sync handler ran yet)."""
        if self._executor is None:
            # `concurrent.futures.thread` loads with the first sync handler, not at import
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="cello-handler")
        return self._executor

    def shutdown(self) -> None:
        """Stop taking work; running handlers finish in their threads."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def in_thread(func: Callable[..., Any], threads: HandlerThreads) -> Callable[..., Awaitable[Any]]:
    """`func` as an async function that runs it in the pool.

    The caller's contextvars (so `current_call()`) are copied into the thread. If the call
    is cancelled the await ends at once; the thread cannot be stopped, so a long handler
    should look at `current_call().cancelled`.
    """

    async def call(*args: Any, **kwargs: Any) -> Any:
        run = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        try:
            return await asyncio.get_running_loop().run_in_executor(threads.executor, run)
        except asyncio.CancelledError:
            _abandon()
            raise

    return call


def iterate_in_thread(
    func: Callable[..., Any], threads: HandlerThreads
) -> Callable[..., AsyncIterator[Any]]:
    """A sync generator function as an async one: each step runs in the pool.

    One copied context serves every step, which run one after another. When the consumer
    stops early (the client cancelled), the generator is closed in the pool after the step
    in progress, so its `finally` blocks run.
    """

    async def items(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        executor = threads.executor
        context = contextvars.copy_context()
        start = functools.partial(context.run, _iterate, func, args, kwargs)
        iterator: Iterator[Any] = await loop.run_in_executor(executor, start)
        step: Future[Any] | None = None
        try:
            while True:
                step = executor.submit(context.run, _next, iterator)
                try:
                    item = await asyncio.wrap_future(step, loop=loop)
                except asyncio.CancelledError:
                    _abandon()
                    raise
                if item is _DONE:
                    return
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                # after the step in flight: a generator cannot be closed while it runs
                def closer(_: object) -> None:
                    try:
                        executor.submit(context.run, close)
                    except RuntimeError:  # the pool is shut down: the server stopped
                        pass

                if step is None or step.done():
                    closer(None)
                else:
                    step.add_done_callback(closer)

    return items


def inline(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """`func` as an async function that runs it on the calling thread (which is the
    call's own worker thread, see `HandlerThreads.inline`)."""

    async def call(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return call


def iterate_inline(func: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
    """A sync generator function as an async one, stepped on the calling thread."""

    async def items(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        iterator = iter(func(*args, **kwargs))
        try:
            for item in iterator:
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    return items


def _abandon() -> None:
    """Tell the handler's thread, through `current_call().cancelled`, that nobody waits."""
    call = _current.get(None)
    if call is not None:
        call._abandoned = True


def _next(iterator: Iterator[Any]) -> Any:
    return next(iterator, _DONE)


def _iterate(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return iter(func(*args, **kwargs))
