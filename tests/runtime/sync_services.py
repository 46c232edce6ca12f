"""Plain `def` handlers and sync generators (module level, so generated stubs import them)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from cello import GrpcError, GrpcService, current_call, grpc_method

# set by the tests, read by the handlers in their threads
GATES: dict[str, threading.Event] = {}


def gate(name: str) -> threading.Event:
    return GATES.setdefault(name, threading.Event())


@dataclass
class Word:
    text: str = ""
    thread: str = ""


class SyncShop(GrpcService):
    package = "synctest.v1"

    @grpc_method
    def Echo(self, word: Word) -> Word:
        if word.text == "fail":
            raise GrpcError(GrpcError.NOT_FOUND, "no such word")
        call = current_call()
        seen = call.metadata.get("x-tag", "")
        return Word(f"{word.text}:{seen}:{call.method}", threading.current_thread().name)

    @grpc_method
    def Block(self, word: Word) -> Word:
        """Holds its thread until the test opens the gate (no event loop is blocked)."""
        gate("entered").set()
        opened = gate("open").wait(30)
        return Word(f"{word.text}:{opened}", threading.current_thread().name)

    @grpc_method
    def WaitForCancel(self, word: Word) -> Word:
        call = current_call()
        gate("entered").set()
        for _ in range(3000):
            if call.cancelled:
                gate("saw-cancel").set()
                break
            gate("tick").wait(0.01)
        return word

    @grpc_method
    def Spell(self, word: Word) -> Iterator[Word]:
        name = threading.current_thread().name
        for letter in word.text:
            yield Word(letter, name)

    @grpc_method
    def Endless(self, word: Word) -> Iterator[Word]:
        try:
            n = 0
            while True:
                n += 1
                yield Word(str(n), current_call().method)
                gate("tick").wait(0.005)
        finally:
            gate("closed").set()

    @grpc_method
    async def Ping(self, word: Word) -> Word:
        await asyncio.sleep(0)
        return Word(f"pong {word.text}", threading.current_thread().name)
