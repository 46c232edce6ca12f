"""All four call kinds over the wire, called with the generated `_pb2_grpc` stub."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf import empty_pb2, struct_pb2


async def test_unary_typed_request_and_response(echo: Any, pb: Any) -> None:
    reply = await echo.Echo(pb[0].Ping(text="hi", count=41))
    assert (reply.text, reply.count) == ("hi", 42)


async def test_enum_and_timestamp_fields_decode_into_the_dataclass(echo: Any, pb: Any) -> None:
    sent = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    ping = pb[0].Ping(text="x", mood=pb[0].MOOD_GRUMPY)
    ping.sent.FromDatetime(sent)
    reply = await echo.Echo(ping)
    assert reply.text == "x"
    assert pb[0].Ping.DESCRIPTOR.fields_by_name["mood"].enum_type.values_by_number[0].name == (
        "MOOD_UNSPECIFIED"
    )


async def test_wrapper_request_sees_message_data_metadata_peer_and_deadline(
    echo: Any, pb: Any
) -> None:
    reply = await echo.Inspect(
        pb[0].Ping(text="wrapped"), metadata=(("x-auth", "token123"),), timeout=30
    )
    assert reply.text == "wrapped"
    assert reply.seen["x-auth"] == "token123"
    assert reply.seen["data.text"] == "wrapped"
    assert reply.seen["peer"].startswith("ipv4:127.0.0.1:")
    assert 25 < reply.remaining <= 31  # grpc rounds the timeout up on the wire


async def test_no_deadline_is_reported_as_absent(echo: Any, pb: Any) -> None:
    reply = await echo.Inspect(pb[0].Ping(text="x"))
    assert not reply.HasField("remaining")


async def test_params_method_uses_python_defaults_for_absent_fields(echo: Any, pb: Any) -> None:
    assert (await echo.Add(pb[0].AddRequest(a=1))).value == 11
    assert (await echo.Add(pb[0].AddRequest(a=1, b=0))).value == 1


async def test_method_without_parameters_or_result_uses_empty(echo: Any) -> None:
    reply = await echo.Nothing(empty_pb2.Empty())
    assert isinstance(reply, empty_pb2.Empty)


async def test_server_streaming_async_generator(echo: Any, pb: Any) -> None:
    replies = [r async for r in echo.Count(pb[0].Ping(text="n", count=5))]
    assert [r.count for r in replies] == [0, 1, 2, 3, 4]


async def test_client_streaming(echo: Any, pb: Any) -> None:
    pings = [pb[0].Ping(text=t, count=i) for i, t in enumerate("abc", start=1)]
    reply = await echo.Sum(iter(pings))
    assert (reply.text, reply.count) == ("a,b,c", 6)


async def test_bidirectional_streaming(echo: Any, pb: Any) -> None:
    call = echo.Shout()
    got = []
    for word in ("one", "two"):
        await call.write(pb[0].Ping(text=word, count=len(word)))
        got.append(await call.read())
    await call.done_writing()
    assert [(r.text, r.count) for r in got] == [("ONE", 3), ("TWO", 3)]


def _struct(**values: Any) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


async def test_untyped_method_round_trips_dicts_keeping_integers(dicts: Any) -> None:
    reply = await dicts.Get(_struct(id=7))
    from cello._wire.wellknown import from_struct

    data = from_struct(reply)
    assert data == {"id": 7, "name": "Alice", "ratio": 0.5}
    assert type(data["id"]) is int


async def test_untyped_stream_returning_one_response_sends_one_message(dicts: Any) -> None:
    from cello._wire.wellknown import from_struct

    replies = [from_struct(r) async for r in dicts.List(_struct())]
    assert replies == [{"users": [{"id": 1}, {"id": 2}]}]


async def test_untyped_async_generator_stream(dicts: Any) -> None:
    from cello._wire.wellknown import from_struct

    replies = [from_struct(r) async for r in dicts.Many(_struct(n=3))]
    assert replies == [{"i": 0}, {"i": 1}, {"i": 2}]


async def test_untyped_client_stream_receives_grpc_requests(dicts: Any) -> None:
    from cello._wire.wellknown import from_struct

    reply = await dicts.Collect(iter([_struct(id=1), _struct(id=2)]))
    assert from_struct(reply) == {"ids": [1, 2]}
