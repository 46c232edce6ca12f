"""What a call made inside a handler inherits from the rpc being served: deadline, metadata.

A handler's outgoing call through a Cello client gets the incoming call's deadline less a
margin (the time the answer needs to travel back and be used), unless the caller gave a
nearer one. Cancellation needs nothing here: when the incoming call is cancelled, the task
running the handler is, and grpc.aio cancels the outgoing call being awaited in it.
Metadata is forwarded only for the keys a client names (`propagate=("x-request-id",)`),
so credentials never reach another service by accident.

Reads the rpc being served through `_call.context` (a context variable), the one thing the
clients take from the call layer.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._call.context import _current

if TYPE_CHECKING:
    from .calls import ClientCall

DEADLINE_MARGIN = 0.02
"""Seconds taken off the inherited deadline: 20 ms for the reply to come back and be used."""

_detached: contextvars.ContextVar[bool] = contextvars.ContextVar("cello_detached", default=False)


@dataclass(frozen=True, slots=True)
class Propagation:
    """What a client's calls made inside a handler take from the rpc being served.

    Args:
        metadata: request metadata keys forwarded as they came (`("x-request-id",)`);
            none by default.
        deadline: inherit the remaining deadline, less `margin`.
        margin: seconds taken off the inherited deadline.
    """

    metadata: tuple[str, ...] = ()
    deadline: bool = True
    margin: float = DEADLINE_MARGIN

    @classmethod
    def of(cls, where: str, propagate: Iterable[str] | str) -> Propagation:
        """The `propagate=` argument of `connect`, checked once."""
        if isinstance(propagate, str):
            raise TypeError(
                f"{where}: propagate={propagate!r} is one string; pass a tuple of metadata "
                f"keys, e.g. propagate=({propagate!r},)"
            )
        return cls(metadata=tuple(k.lower() for k in propagate))


@contextmanager
def detached() -> Iterator[None]:
    """Calls made in this block inherit nothing from the rpc being served.

    `with cello.detached(): await audit.Record(...)` gives that call its own deadline
    (or none) and no forwarded metadata, for work that should outlive the incoming call.
    """
    token = _detached.set(True)
    try:
        yield
    finally:
        _detached.reset(token)


def inherited(call: ClientCall, propagation: Propagation) -> None:
    """Give `call` what the rpc being served passes on, if there is one."""
    incoming = _current.get(None)
    if incoming is None or _detached.get():
        return
    if propagation.deadline:
        deadline = incoming.deadline
        if deadline is not None:
            deadline -= propagation.margin
            if call.deadline is None or deadline < call.deadline:
                call.deadline = deadline
                call.inherited = True
    if propagation.metadata:
        given = {k for k, _ in call.metadata}
        metadata = incoming.metadata
        for key in propagation.metadata:
            if key not in given:
                call.metadata.extend((key, v) for v in metadata.get_all(key))
