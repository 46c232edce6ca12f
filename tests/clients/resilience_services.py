"""Services for the client middleware, propagation and retry tests (module level for cello-gen).

`Words` answers what a client middleware needs to see: the token it sent, each call shape,
a refusal with details. `Back` reports what reached it (deadline, metadata, cancellation);
`Front` calls `Back` from inside its handlers, through whatever client the test gives it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from google.rpc import error_details_pb2

from cello import GrpcError, GrpcService, current_call, grpc_method


@dataclass
class Word:
    text: str = ""


@dataclass
class Seen:
    """What a `Back` call saw: its deadline (seconds left, -1 for none) and metadata."""

    remaining: float = -1.0
    metadata: dict[str, str] = field(default_factory=dict)


class Words(GrpcService):
    package = "resilience.v1"

    def __init__(self, *, valid_token: str = "fresh") -> None:
        self.valid_token = valid_token
        self.tokens: list[str] = []

    def _check(self) -> str:
        value = current_call().metadata.get("authorization")
        token = value.decode() if isinstance(value, bytes) else (value or "")
        self.tokens.append(token)
        if token != f"Bearer {self.valid_token}":
            raise GrpcError(GrpcError.UNAUTHENTICATED, f"token {token!r} refused")
        return token

    @grpc_method
    async def Whoami(self, request: Word) -> Word:
        return Word(self._check())

    @grpc_method
    async def Spell(self, request: Word) -> AsyncIterator[Word]:
        """Each letter; then NOT_FOUND if the word is `boom`."""
        self._check()
        for letter in request.text:
            yield Word(letter)
        if request.text == "boom":
            raise GrpcError(GrpcError.NOT_FOUND, "exploded")

    @grpc_method
    async def Join(self, requests: AsyncIterator[Word]) -> Word:
        self._check()
        return Word("".join([w.text async for w in requests]))

    @grpc_method
    async def Shout(self, requests: AsyncIterator[Word]) -> AsyncIterator[Word]:
        self._check()
        async for word in requests:
            yield Word(word.text.upper())

    @grpc_method
    async def Missing(self, request: Word) -> Word:
        info = error_details_pb2.ErrorInfo(reason="NO_WORD", domain="words.example")
        raise GrpcError(GrpcError.NOT_FOUND, f"no word {request.text!r}", details=[info])


class Back(GrpcService):
    package = "resilience.v1"

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()

    @grpc_method
    async def Look(self, request: Word) -> Seen:
        call = current_call()
        remaining = call.time_remaining()
        metadata = {k: v for k, v in call.metadata if isinstance(v, str)}
        return Seen(-1.0 if remaining is None else remaining, metadata)

    @grpc_method
    async def Hang(self, request: Word) -> Word:
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return request


class Front(GrpcService):
    """Calls `Back` from its handlers through `self.back` (a typed client the test sets)."""

    package = "resilience.v1"

    def __init__(self) -> None:
        self.back: Any = None
        self.back_sync: Any = None

    @grpc_method
    async def Relay(self, request: Word) -> Seen:
        if request.text == "detached":
            from cello import detached

            with detached():
                seen: Seen = await self.back.Look(Word())
            return seen
        seen = await self.back.Look(Word())
        return seen

    @grpc_method
    async def HangThrough(self, request: Word) -> Word:
        reply: Word = await self.back.Hang(request)
        return reply

    @grpc_method
    def RelaySync(self, request: Word) -> Seen:
        """A blocking handler calling through `self.back_sync`, a `SyncGrpcChannel`."""
        reply = self.back_sync.call("Back", "Look", {}, raise_on_error=True)
        return Seen(**reply.data)


class Flaky(GrpcService):
    """Fails the first `failures` attempts of each word with UNAVAILABLE, counting attempts."""

    package = "resilience.v1"

    def __init__(self, failures: int = 2) -> None:
        self.failures = failures
        self.attempts: Counter[str] = Counter()

    def _attempt(self, key: str) -> int:
        self.attempts[key] += 1
        if self.attempts[key] <= self.failures:
            raise GrpcError(GrpcError.UNAVAILABLE, f"attempt {self.attempts[key]} refused")
        return self.attempts[key]

    @grpc_method(idempotent=True)
    async def Read(self, request: Word) -> Word:
        return Word(f"{request.text}:{self._attempt('read ' + request.text)}")

    @grpc_method
    async def Write(self, request: Word) -> Word:
        return Word(f"{request.text}:{self._attempt('write ' + request.text)}")

    @grpc_method(idempotent=True)
    async def Slow(self, request: Word) -> Word:
        """The first attempt of each word takes 5 s; later ones answer at once."""
        self.attempts["slow " + request.text] += 1
        attempt = self.attempts["slow " + request.text]
        if attempt == 1:
            await asyncio.sleep(5)
        return Word(f"{request.text}:{attempt}")


class Replica(GrpcService):
    """Answers with its own name, so a test sees which of several servers took a call."""

    package = "resilience.v1"

    def __init__(self, name: str) -> None:
        self.name = name

    @grpc_method(idempotent=True)
    async def Name(self, request: Word) -> Word:
        return Word(self.name)
