"""`AnyLoopEvent`: an `asyncio.Event` that tests and handlers on other threads' loops share."""

from __future__ import annotations

import asyncio
import threading


class AnyLoopEvent:
    """Set from any thread, awaited on any event loop.

    The threads transport runs each call on its worker thread's own loop, so an
    `asyncio.Event` made by a test (bound to the test's loop) cannot wake a handler.
    """

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[asyncio.Future[bool]] = []
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        with self._lock:
            self._flag = True
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            try:
                waiter.get_loop().call_soon_threadsafe(_resolve, waiter)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass

    def clear(self) -> None:
        self._flag = False

    async def wait(self) -> bool:
        with self._lock:
            if self._flag:
                return True
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        return await waiter


def _resolve(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(True)
