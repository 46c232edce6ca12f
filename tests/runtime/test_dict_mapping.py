"""One dict ↔ message mapping on both sides of a call (issue 9, defect 3)."""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cello import GrpcError
from cello.grpc import GrpcChannel, GrpcRequest, GrpcServer, GrpcService, grpc_method

SEEN: list[dict[str, Any]] = []


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Line:
    sku: str
    quantity: int = 0


@dataclass
class Order:
    id: int
    size: Size = Size.SMALL
    colour: Colour = Colour.RED
    created: dt.datetime | None = None
    wait: dt.timedelta | None = None
    note: str | None = None
    blob: bytes = b""
    first: Line | None = None
    lines: list[Line] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Which:
    spelling: str


WHEN = dt.datetime(2024, 5, 17, 12, 30, 15, 250000, tzinfo=dt.UTC)
FULL = {
    "id": 2**40 + 5,
    "size": "SIZE_LARGE",
    "colour": "COLOUR_BLUE",
    "created": WHEN,
    "wait": dt.timedelta(seconds=90, microseconds=5),
    "note": None,
    "blob": b"\x00\xff",
    "first": {"sku": "a", "quantity": 3},
    "lines": [{"sku": "b", "quantity": 2**35}, {"sku": "c", "quantity": 0}],
    "labels": {"x": 7},
    "extra": {"n": 1, "when": "2024-05-17T12:30:15.250Z"},
}
# the same order spelled in every other way a handler might write it
SPELLINGS = {
    "members": {**FULL, "size": Size.LARGE, "colour": Colour.BLUE, "first": Line("a", 3)},
    "values": {**FULL, "size": 2, "colour": "BLUE", "extra": {"n": 1, "when": WHEN}},
    "naive": {**FULL, "created": WHEN.replace(tzinfo=None), "first": {"sku": "a", "quantity": 3}},
}


class MappingService(GrpcService):
    package = "maptest.v1"

    @grpc_method
    async def Echo(self, request: GrpcRequest[Order]) -> Order:
        SEEN.append(request.data)
        return request.data  # type: ignore[return-value]  # the server's view, sent back as is

    @grpc_method
    async def Build(self, request: Which) -> Order:
        return SPELLINGS[request.spelling]  # type: ignore[return-value]  # a dict, on purpose

    @grpc_method
    async def Bad(self, request: Which) -> Order:
        return {"id": 1, request.spelling: "x"}  # type: ignore[return-value]


@pytest.fixture
async def client() -> AsyncIterator[GrpcChannel]:
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(MappingService())
    await server.start()
    channel = await GrpcChannel.connect(server.address)
    try:
        yield channel
    finally:
        await channel.close()
        await server.stop(0)


async def test_the_server_and_the_client_see_the_same_dict(client: GrpcChannel) -> None:
    SEEN.clear()
    response = await client.call("maptest.v1.MappingService", "Echo", FULL, raise_on_error=True)
    assert SEEN == [response.data]
    assert response.data == {**FULL, "note": None}
    assert isinstance(response.data["id"], int) and isinstance(response.data["blob"], bytes)
    assert response.data["created"].tzinfo is not None


async def test_defaults_are_present_and_absent_optionals_are_none(client: GrpcChannel) -> None:
    SEEN.clear()
    response = await client.call("maptest.v1.MappingService", "Echo", {"id": 1})
    assert SEEN == [response.data]
    assert response.data == {
        "id": 1,
        "size": "SIZE_UNSPECIFIED",  # the wire's view: no Python defaults in a dict
        "colour": "COLOUR_UNSPECIFIED",
        "created": None,
        "wait": None,
        "note": None,
        "blob": b"",
        "first": None,
        "lines": [],
        "labels": {},
        "extra": None,  # a message field not sent
    }


@pytest.mark.parametrize("case", sorted(SPELLINGS))
async def test_a_handler_returning_a_dict_matches_the_channel_sending_it(
    client: GrpcChannel, case: str
) -> None:
    built = await client.call("maptest.v1.MappingService", "Build", {"spelling": case})
    echoed = await client.call("maptest.v1.MappingService", "Echo", SPELLINGS[case])
    assert built.status_code == 0, built.message
    assert built.data == echoed.data == {**FULL, "note": None}


async def test_a_dict_that_does_not_fit_names_the_field(client: GrpcChannel) -> None:
    with pytest.raises(GrpcError) as caught:
        await client.call("maptest.v1.MappingService", "Echo", {"id": "5"}, raise_on_error=True)
    assert caught.value.code == GrpcError.INVALID_ARGUMENT
    assert "maptest.v1.Order.id: expected an int, got str '5'" in caught.value.message
    bad = await client.call("maptest.v1.MappingService", "Bad", {"spelling": "nope"})
    assert bad.status_code == GrpcError.INTERNAL  # the handler's bug, logged on the server


async def test_enum_names_without_their_prefix_are_taken_and_a_bad_one_lists_the_names(
    client: GrpcChannel,
) -> None:
    """The dict mapping takes `"LARGE"` for `SIZE_LARGE` (Connect JSON, strictly proto3,
    does not, but lists the names too: tests/web/test_connect.py)."""
    short = await client.call("maptest.v1.MappingService", "Echo", {"id": 1, "size": "LARGE"})
    assert short.data["size"] == "SIZE_LARGE"
    bad = await client.call("maptest.v1.MappingService", "Echo", {"id": 1, "size": "HUGE"})
    assert bad.status_code == GrpcError.INVALID_ARGUMENT
    assert bad.message == (
        "maptest.v1.Order.size: 'HUGE' is not a value of maptest.v1.Size; use one of "
        "SIZE_UNSPECIFIED, SIZE_SMALL, SIZE_LARGE or its number"
    )


async def test_a_refused_dict_is_logged_naming_the_field(
    client: GrpcChannel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cello.grpc"):
        bad = await client.call("maptest.v1.MappingService", "Bad", {"spelling": "nope"})
    assert bad.status_code == GrpcError.INTERNAL
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert any("maptest.v1.Order has no field 'nope'" in str(e) for e in errors), errors
