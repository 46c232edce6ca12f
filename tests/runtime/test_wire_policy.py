"""The decode policy of generated stubs: nothing on the wire is dropped or silently changed.

Requests are built with the generated `_pb2` classes (as a Go or Node peer would send them)
and sent to a real server; the typed client is tried against a raw grpc server that sends
what a newer peer could.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest

from cello import WireError
from cello.codegen.cli import main as cello_gen
from cello.grpc import GrpcConfig, GrpcServer

from .wire_services import Genre, Other, Priority, Shelf, Stamp


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wire-stubs")
    assert cello_gen(["build", "tests.runtime.wire_services", "--out", str(out)]) == 0
    sys.path.insert(0, str(out))
    return out


@pytest.fixture(scope="module")
def pb(stubs: Path) -> ModuleType:
    from cellowire.v1 import cellowire_pb2  # type: ignore[import-not-found]

    return cellowire_pb2  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def typed(stubs: Path) -> ModuleType:
    from cellowire.v1 import cellowire_cello  # type: ignore[import-not-found]

    return cellowire_cello  # type: ignore[no-any-return]


@pytest.fixture
async def channel(stubs: Path) -> AsyncIterator[grpc.aio.Channel]:
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=stubs)
    server.register_service(Shelf())
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as ch:
            yield ch
    finally:
        await server.stop(0)


async def _call(channel: grpc.aio.Channel, method: str, request: Any, reply: Any) -> Any:
    call = channel.unary_unary(
        f"/cellowire.v1.Shelf/{method}",
        request_serializer=type(request).SerializeToString,
        response_deserializer=reply.FromString,
    )
    return await call(request)


async def _refused(channel: grpc.aio.Channel, request: Any, reply: Any, method: str = "Put") -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _call(channel, method, request, reply)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    return info.value.details() or ""


async def test_required_enum_sent_as_zero_is_refused_naming_the_field(
    channel: grpc.aio.Channel, pb: Any
) -> None:
    details = await _refused(channel, pb.Book(title="t"), pb.Book)
    assert "Book.genre" in details and "(0)" in details and "cellowire.v1.Genre" in details


async def test_enum_zero_takes_the_python_default(channel: grpc.aio.Channel, pb: Any) -> None:
    sent = pb.Book(title="t", genre=pb.GENRE_FICTION)  # priority left at 0, as Go does
    got = await _call(channel, "Put", sent, pb.Book)
    assert got.priority == Priority.MEDIUM.value and got.genre == pb.GENRE_FICTION


@pytest.mark.parametrize(
    "fields",
    [{"genre": 99}, {"priority": 99}, {"tags": [1, 99]}, {"shelf": {"a": 99}}, {"mood": 99}],
    ids=["singular", "defaulted", "repeated", "map", "optional"],
)
async def test_an_unknown_enum_number_is_kept_and_sent_back_unchanged(
    channel: grpc.aio.Channel, pb: Any, fields: dict[str, Any]
) -> None:
    # proto3 enums are open: a newer peer's member survives decode and encode
    request = pb.Book(title="t", **{"genre": 1, **fields})
    got = await _call(channel, "Put", request, pb.Book)
    for name in fields:
        assert getattr(got, name) == getattr(request, name)


async def test_the_handler_sees_an_unknown_enum_number_as_a_plain_int(
    channel: grpc.aio.Channel, pb: Any
) -> None:
    request = pb.Book(title="t", genre=77, priority=99, tags=[1, 98], shelf={"a": 97}, mood=96)
    got = await _call(channel, "Inspect", request, pb.InspectResponse)
    assert list(got.value) == [
        "unknown 77",
        "unknown 99",
        "FICTION",
        "unknown 98",
        "unknown 97",
        "unknown 96",
    ]
    got = await _call(channel, "Find", pb.FindRequest(genre=2, priority=7), pb.FindResponse)
    assert got.value == "HISTORY/unknown 7"


@pytest.mark.parametrize(
    ("fields", "where"),
    [({"shade": 9}, "Book.shade"), ({"kind_genre": 99}, "Book.kind")],
    ids=["closed-enum", "oneof-member"],
)
async def test_a_closed_enum_or_a_oneof_member_refuses_an_unknown_number(
    channel: grpc.aio.Channel, pb: Any, fields: dict[str, Any], where: str
) -> None:
    request = pb.Book(title="t", **{"genre": 1, **fields})
    details = await _refused(channel, request, pb.Book)
    assert where in details and str(next(iter(fields.values()))) in details


async def test_optional_enum_present_with_zero_is_refused(
    channel: grpc.aio.Channel, pb: Any
) -> None:
    request = pb.Book(title="t", genre=1, mood=0)
    assert request.HasField("mood")
    details = await _refused(channel, request, pb.Book)
    assert "Book.mood" in details


async def test_params_enum_policy(channel: grpc.aio.Channel, pb: Any) -> None:
    details = await _refused(channel, pb.FindRequest(), pb.FindResponse, "Find")
    assert "FindRequest.genre" in details
    got = await _call(channel, "Find", pb.FindRequest(genre=2, priority=0), pb.FindResponse)
    assert got.value == "HISTORY/MEDIUM"  # 0 is "unset": the parameter's default applies


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"published": {"seconds": 1, "nanos": 1}}, "Book.published"),
        ({"published": {"seconds": 253402300800}}, "Book.published"),
        ({"loan": {"seconds": 1, "nanos": 500}}, "Book.loan"),
        ({"loan": {"seconds": 1, "nanos": -1000}}, "Book.loan"),
    ],
    ids=["sub-microsecond", "after-year-9999", "sub-microsecond-duration", "mixed-signs"],
)
async def test_timestamps_python_cannot_hold_are_refused(
    channel: grpc.aio.Channel, pb: Any, fields: dict[str, Any], where: str
) -> None:
    request = pb.Book(title="t", genre=1)
    for name, value in fields.items():
        getattr(request, name).seconds = value["seconds"]
        getattr(request, name).nanos = value.get("nanos", 0)
    details = await _refused(channel, request, pb.Book)
    assert where in details


async def test_microsecond_timestamps_round_trip_exactly(
    channel: grpc.aio.Channel, pb: Any
) -> None:
    request = pb.Book(title="t", genre=1, priority=3)
    request.published.seconds, request.published.nanos = -62135596800, 123456000
    request.loan.seconds, request.loan.nanos = -5, -250000000
    got = await _call(channel, "Put", request, pb.Book)
    assert got.SerializeToString(deterministic=True) == request.SerializeToString(
        deterministic=True
    )


@pytest.mark.parametrize("title", ["none", "ellipsis", "other", "dict-ish"])
async def test_wrong_return_value_is_internal_and_logged_never_sent(
    channel: grpc.aio.Channel, pb: Any, title: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cello.grpc"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _call(channel, "Broken", pb.Book(title=title, genre=1), pb.Book)
    assert info.value.code() is grpc.StatusCode.INTERNAL
    assert "expected cellowire.v1.Book (tests.runtime.wire_services.Book), got" in caplog.text


async def test_scalar_rpc_returning_none_does_not_send_zero(
    channel: grpc.aio.Channel, pb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cello.grpc"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _call(channel, "Count", pb.Book(title="t", genre=1), pb.CountResponse)
    assert info.value.code() is grpc.StatusCode.INTERNAL
    assert "expected int for cellowire.v1.CountResponse.value, got NoneType" in caplog.text


async def test_typed_client_keeps_an_unknown_enum_from_a_newer_server(pb: Any, typed: Any) -> None:
    async def put(request: bytes, context: Any) -> bytes:
        reply = pb.Book.FromString(request)
        reply.genre = 99  # a member this client's Python enum does not have
        return reply.SerializeToString()  # type: ignore[no-any-return]

    handler = grpc.method_handlers_generic_handler(
        "cellowire.v1.Shelf", {"Put": grpc.unary_unary_rpc_method_handler(put)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            client = typed.ShelfClient(ch)
            from .wire_services import Book

            got = await client.Put(Book("t", Genre.FICTION))
            assert got.genre == 99 and not isinstance(got.genre, Genre)
    finally:
        await server.stop(0)


async def test_typed_client_params_method_takes_keywords(
    channel: grpc.aio.Channel, typed: Any
) -> None:
    client = typed.ShelfClient(channel)
    assert await client.Find(genre=Genre.HISTORY) == "HISTORY/MEDIUM"
    assert await client.Find(genre=Genre.FICTION, priority=Priority.HIGH) == "FICTION/HIGH"


def _stamp(pb: Any, *, at: bool = True, by: bool = True) -> Any:
    request = pb.Stamp()
    if at:
        request.at.seconds = 1_700_000_000
    if by:
        request.by.title = "kept"
    return request


@pytest.mark.parametrize(
    ("at", "by", "where"), [(False, True, "Stamp.at"), (True, False, "Stamp.by")]
)
async def test_required_message_field_absent_is_refused_naming_the_field(
    channel: grpc.aio.Channel, pb: Any, at: bool, by: bool, where: str
) -> None:
    details = await _refused(channel, _stamp(pb, at=at, by=by), pb.Stamp, "Mark")
    assert f"{where}: required field is absent" in details


async def test_required_message_fields_present_round_trip(
    channel: grpc.aio.Channel, pb: Any
) -> None:
    request = _stamp(pb)
    request.took.seconds, request.origin.title = 3, "sent"
    got = await _call(channel, "Mark", request, pb.Stamp)
    assert got.SerializeToString(deterministic=True) == request.SerializeToString(
        deterministic=True
    )


async def test_absent_message_field_with_a_default_takes_the_default(
    channel: grpc.aio.Channel, pb: Any
) -> None:
    got = await _call(channel, "Mark", _stamp(pb), pb.Stamp)  # took and origin left out
    assert got.took.seconds == 7 and got.origin.title == "origin"
    assert got.at.seconds == 1_700_000_000 and got.by.title == "kept"


async def test_params_message_parameter_absent_is_refused_or_defaulted(
    channel: grpc.aio.Channel, pb: Any
) -> None:
    details = await _refused(channel, pb.WaitRequest(), pb.WaitResponse, "Wait")
    assert "WaitRequest.at: required field is absent" in details
    request = pb.WaitRequest()
    request.at.seconds = 0
    got = await _call(channel, "Wait", request, pb.WaitResponse)
    assert got.value == "1970-01-01T00:00:00+00:00/5.0"  # present epoch kept, wait defaulted


async def test_typed_client_refuses_a_reply_without_a_required_field(pb: Any, typed: Any) -> None:
    async def mark(request: bytes, context: Any) -> bytes:
        reply = pb.Stamp.FromString(request)
        reply.ClearField("at")  # a peer that never set it
        return reply.SerializeToString()  # type: ignore[no-any-return]

    handler = grpc.method_handlers_generic_handler(
        "cellowire.v1.Shelf", {"Mark": grpc.unary_unary_rpc_method_handler(mark)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            client = typed.ShelfClient(ch)
            sent = Stamp(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), Other("x"))
            with pytest.raises(WireError, match=r"Stamp\.at: required field is absent"):
                await client.Mark(sent)
    finally:
        await server.stop(0)


async def test_connect_json_keeps_an_unknown_enum_number_as_a_number(stubs: Path) -> None:
    server = GrpcServer(
        host="127.0.0.1", port=0, stubs_dir=stubs, config=GrpcConfig(enable_web=True, web_port=0)
    )
    server.register_service(Shelf())
    await server.start()
    headers = {"content-type": "application/json", "connect-protocol-version": "1"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.web_port}") as client:
            sent = {"title": "t", "genre": 99, "tags": ["GENRE_FICTION", 98]}
            put = await client.post("/cellowire.v1.Shelf/Put", json=sent, headers=headers)
            seen = await client.post("/cellowire.v1.Shelf/Inspect", json=sent, headers=headers)
    finally:
        await server.stop(0)
    assert put.status_code == 200, put.text
    assert put.json()["genre"] == 99 and put.json()["tags"] == ["GENRE_FICTION", 98]
    assert seen.json()["value"][:4] == ["unknown 99", "MEDIUM", "FICTION", "unknown 98"]
