"""A package that grows in one process (a notebook, a REPL, the seed page run top to bottom)."""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator

import pytest

from cello import StaleStubsError
from cello.grpc import GrpcChannel, GrpcConfig, GrpcServer

FIRST = """
from dataclasses import dataclass
from cello.grpc import GrpcService, grpc_method

@dataclass
class Note:
    text: str

class Notes(GrpcService):
    @grpc_method
    async def Echo(self, request: Note) -> Note:
        return Note(request.text + "!")
"""

SECOND = """
@dataclass
class Tally:
    count: int

class Counter(GrpcService):
    @grpc_method
    async def Next(self, request: Tally) -> Tally:
        return Tally(request.count + 1)

    @grpc_method
    async def Untyped(self, request):
        return {"seen": request.data}
"""

CHANGED = """
@dataclass
class Note:
    text: str
    extra: int = 0

class Notes(GrpcService):
    @grpc_method
    async def Echo(self, request: Note) -> Note:
        return request
"""


@pytest.fixture
def session() -> Iterator[types.ModuleType]:
    module = types.ModuleType("nb_session_test")
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


async def _serve_and_call(*services: object) -> dict[str, object]:
    server = GrpcServer(host="127.0.0.1", port=0, config=GrpcConfig(reflection=True))
    for service in services:
        server.register_service(service)  # type: ignore[arg-type]
    async with server:
        async with await GrpcChannel.connect(server.address, local_stubs=False) as channel:
            results = {}
            for name, method, data in (
                ("Notes", "Echo", {"text": "hi"}),
                ("Counter", "Next", {"count": 1}),
                ("Counter", "Untyped", {"a": 1}),
            ):
                if name in server.get_services():
                    response = await channel.call(name, method, data, raise_on_error=True)
                    results[f"{name}.{method}"] = response.data
            return results


async def test_services_defined_later_in_the_same_module_are_served(
    session: types.ModuleType,
) -> None:
    exec(textwrap.dedent(FIRST), vars(session))
    first = await _serve_and_call(session.Notes())
    assert first == {"Notes.Echo": {"text": "hi!"}}
    exec(textwrap.dedent(SECOND), vars(session))  # the package's .proto grows
    both = await _serve_and_call(session.Notes(), session.Counter())
    assert both == {
        "Notes.Echo": {"text": "hi!"},
        "Counter.Next": {"count": 2},
        "Counter.Untyped": {"seen": {"a": 1}},
    }


async def test_a_type_changed_in_place_asks_for_a_restart(session: types.ModuleType) -> None:
    exec(textwrap.dedent(FIRST), vars(session))
    await _serve_and_call(session.Notes())
    exec(textwrap.dedent(CHANGED), vars(session))
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(session.Notes())
    with pytest.raises(StaleStubsError, match="restart the process"):
        await server.start()
