"""Context managers for the things that are closed when done: channels and clients."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

Opened = TypeVar("Opened", bound="AsyncClosing")


class AsyncClosing:
    """`async with` support for a class with `async def close()`."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Closing:
    """`with` support for a class with `def close()`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Connecting(Generic[Opened]):
    """What a client's `connect(...)` returns: `await` it, or `async with` it.

    `client = await Client.connect(...)` leaves closing to the caller (`await client.close()`
    or a later `async with client`); `async with Client.connect(...) as client` closes it
    at the end of the block. `async with await Client.connect(...)` works too.

    Args:
        what: the class being connected, named in the error when `await` is forgotten.
        opening: makes the coroutine that connects; called only when awaited or entered,
            so a forgotten `await` leaves no never-awaited coroutine behind.
    """

    __slots__ = ("_what", "_opening", "_opened")

    def __init__(self, what: str, opening: Callable[[], Coroutine[Any, Any, Opened]]) -> None:
        self._what = what
        self._opening = opening
        self._opened: Opened | None = None

    def __await__(self) -> Generator[Any, None, Opened]:
        return self._opening().__await__()

    async def __aenter__(self) -> Opened:
        self._opened = await self._opening()
        return self._opened

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._opened is not None:
            await self._opened.close()

    if not TYPE_CHECKING:  # hidden from type checkers, which report a forgotten await

        def __getattr__(self, name: str) -> Any:
            # only reached for a name `Connecting` lacks: a client's, used without `await`
            raise AttributeError(
                f"{self._what}.connect(...) has not connected yet, so it has no {name!r}; "
                f"write `client = await {self._what}.connect(...)` or "
                f"`async with {self._what}.connect(...) as client:`"
            )
