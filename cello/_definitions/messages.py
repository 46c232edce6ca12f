"""`GrpcRequest` and `GrpcResponse`: the envelopes handlers receive and may return."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from .._security.identity import PeerIdentity

T = TypeVar("T")

Metadata = dict[str, Any]


class GrpcRequest(Generic[T]):
    """One incoming call (server side) or the request to send (client side).

    `data` is the request as a dict; `message` is the typed dataclass for typed methods.
    Inside a handler, `context` is the call's `CallContext` (the same as
    `cello.current_call()`); `deadline`/`time_remaining`, `peer`, `peer_identity` and
    `cancelled` are shortcuts to it. `metadata` is a dict (a repeated key keeps its last value);
    `context.metadata` keeps them all.
    """

    __slots__ = ("service", "method", "metadata", "_data", "_to_dict", "message", "_context")

    def __init__(
        self,
        service: str = "",
        method: str = "",
        data: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        message: T | None = None,
        context: Any = None,
        to_dict: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.service = service
        self.method = method
        self._data = dict(data) if data is not None else None
        self._to_dict = to_dict
        self.metadata: Metadata = dict(metadata or {})
        # typed as T: a handler taking GrpcRequest[Book] always gets a Book; it is None
        # only for untyped requests, whose T is Any
        self.message: T = cast(T, message)
        self._context = context

    @property
    def data(self) -> dict[str, Any]:
        """The request as a plain dict (computed on first use for typed requests)."""
        if self._data is None:
            self._data = self._to_dict() if self._to_dict is not None else {}
        return self._data

    @property
    def context(self) -> Any:
        """The server-side call's `CallContext`, or None on the client side."""
        return self._context

    @property
    def time_remaining(self) -> float | None:
        """Seconds left before the client's deadline, or None if it set none."""
        if self._context is None:
            return None
        remaining: float | None = self._context.time_remaining()
        return remaining

    @property
    def deadline(self) -> float | None:
        """The deadline as a `time.monotonic()` instant, or None."""
        remaining = self.time_remaining
        return None if remaining is None else time.monotonic() + remaining

    @property
    def peer(self) -> str | None:
        """The client's address as grpc reports it (e.g. ``"ipv4:127.0.0.1:5555"``)."""
        return None if self._context is None else str(self._context.peer)

    @property
    def peer_identity(self) -> PeerIdentity | None:
        """The client's verified certificate (subject, SANs) under mTLS, else None."""
        return None if self._context is None else self._context.peer_identity

    @property
    def cancelled(self) -> bool:
        """True once the client cancelled the call or its deadline passed."""
        return bool(self._context is not None and self._context.cancelled)

    def __repr__(self) -> str:
        shown = self.message if self.message is not None else self.data
        return f"GrpcRequest(service={self.service!r}, method={self.method!r}, data={shown!r})"


class GrpcResponse(Generic[T]):
    """A handler's answer: data plus status, message and metadata.

    `metadata` goes to the client as response headers, `trailers` as trailing metadata.
    A non-zero `status_code` ends the call with that status. A handler declared
    `-> GrpcResponse[Book]` is served as returning `Book`.
    """

    __slots__ = ("data", "status_code", "message", "metadata", "trailers")

    data: T

    def __init__(
        self,
        data: T | None = None,
        status_code: int = 0,
        message: str = "OK",
        metadata: Mapping[str, Any] | None = None,
        *,
        trailers: Mapping[str, Any] | None = None,
    ) -> None:
        self.data = cast(T, data if data is not None else {})
        self.status_code = int(status_code)
        self.message = message
        self.metadata: Metadata = dict(metadata or {})
        self.trailers: Metadata = dict(trailers or {})

    @classmethod
    def ok(cls, data: T | None = None, **kwargs: Any) -> GrpcResponse[T]:
        """A successful response carrying `data` (a dict, dataclass or protobuf message)."""
        return cls(data, 0, "OK", **kwargs)

    @classmethod
    def error(cls, code: int, message: str = "", **kwargs: Any) -> GrpcResponse[Any]:
        """A response that ends the call with status `code` and `message`."""
        return cls(None, code, message, **kwargs)

    @property
    def is_ok(self) -> bool:
        """True when the status is OK."""
        return self.status_code == 0

    def __repr__(self) -> str:
        return (
            f"GrpcResponse(data={self.data!r}, status_code={self.status_code}, "
            f"message={self.message!r})"
        )
