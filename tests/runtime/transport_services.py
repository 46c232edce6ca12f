"""A service for the transport tests (module level, so generated stubs import it).

It shares thread-safe state with the tests: on transport "threads" handlers run on worker
threads with loops of their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from cello import GrpcService, current_call, grpc_method

SEEN: dict[str, Any] = {}
FLAGS: dict[str, threading.Event] = {}


def flag(name: str) -> threading.Event:
    return FLAGS.setdefault(name, threading.Event())


@dataclass
class Word:
    text: str = ""
    thread: str = ""


class Shapes(GrpcService):
    package = "transports.v1"

    @grpc_method
    async def Say(self, request: Word) -> Word:
        call = current_call()
        text = request.text
        if text == "boom":
            raise RuntimeError("secret detail: password=hunter2")
        if text == "meta":
            await call.send_headers({"x-head": str(call.metadata.get("x-in", ""))})
            call.set_trailers({"x-trail": "bye"})
        if text == "wait":
            SEEN["remaining"] = call.time_remaining()
            flag("started").set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                SEEN["cancelled"] = call.cancelled
                flag("cancelled").set()
                raise
        return Word(text=text, thread=threading.current_thread().name)

    @grpc_method
    async def Count(self, request: Word) -> AsyncIterator[Word]:
        for i in range(int(request.text)):
            yield Word(text=str(i))
        current_call().set_trailers({"x-count": request.text})

    @grpc_method
    async def Gather(self, requests: AsyncIterator[Word]) -> Word:
        texts = []
        try:
            async for word in requests:
                texts.append(word.text)
                flag("gathering").set()
        finally:
            # a cancelled stream ends the read: grpc.aio ends it, "threads" cancels the task
            flag("gather-ended").set()
        return Word(text=",".join(texts))

    @grpc_method
    async def Chat(self, requests: AsyncIterator[Word]) -> AsyncIterator[Word]:
        async for word in requests:
            yield Word(text=word.text.upper())

    @grpc_method
    def Plain(self, request: Word) -> Word:
        return Word(text=current_call().method, thread=threading.current_thread().name)

    @grpc_method
    def Steps(self, request: Word) -> Iterator[Word]:
        for ch in request.text:
            yield Word(text=ch, thread=threading.current_thread().name)
