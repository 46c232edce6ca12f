"""`cello.to_bytes`, `from_bytes`, `to_json` and `from_json`: a message outside an rpc."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pydantic
import pytest
from google.protobuf import json_format

import cello
from cello import WireError
from cello.grpc import GrpcServer

from .codec_services import Author, Card, Loose, Mood, Note, Notes

NOTE = Note(
    "n",
    count=-3,
    big=2**60,
    mood=Mood.BRIGHT,
    authors=[Author("ann", 1950), Author("bo")],
    tags={"a": 1},
    at=dt.datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=dt.UTC),
    limit=0,
    pinned=True,
)


@pytest.fixture
async def server() -> AsyncIterator[GrpcServer]:
    srv = GrpcServer(host="127.0.0.1", port=0)
    srv.register_service(Notes())
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop(0)


def _binding(server: GrpcServer, name: str) -> object:
    (found,) = [m for m in server.bindings["cellocodec.v1.Notes"].methods if m.name == name]
    return found


@pytest.mark.parametrize("value", [NOTE, Note("t"), Loose("x", 0.25), Card(name="c", size=0)])
def test_bytes_and_json_round_trip(value: object) -> None:
    assert cello.from_bytes(type(value), cello.to_bytes(value)) == value
    assert cello.from_json(type(value), cello.to_json(value)) == value


async def test_the_bytes_are_what_an_rpc_sends_and_receives(server: GrpcServer) -> None:
    binding = _binding(server, "Echo")
    pb2 = binding.request_type  # type: ignore[attr-defined]
    async with grpc.aio.insecure_channel(server.address) as channel:
        echo = channel.unary_unary(
            "/cellocodec.v1.Notes/Echo",
            request_serializer=lambda data: data,  # the bytes as they are
            response_deserializer=lambda data: data,
        )
        sent = cello.to_bytes(NOTE)
        received = await echo(sent)
    assert sent == binding.encode_request(NOTE).SerializeToString()  # type: ignore[attr-defined]
    assert pb2.FromString(received) == pb2.FromString(sent)
    assert cello.from_bytes(Note, received) == NOTE


def test_json_is_protobufs_json_format_of_the_same_message(server: GrpcServer) -> None:
    pb2 = _binding(server, "Echo").request_type  # type: ignore[attr-defined]
    expected = json_format.MessageToJson(pb2.FromString(cello.to_bytes(NOTE)))
    assert json.loads(cello.to_json(NOTE)) == json.loads(expected)
    assert json.loads(cello.to_json(NOTE))["big"] == str(2**60)  # int64 as a string
    assert json.loads(cello.to_json(NOTE))["mood"] == "MOOD_BRIGHT"
    # either spelling of the names, as Connect accepts them
    assert cello.from_json(Note, '{"title": "t", "pinned": true, "limit": 4}') == Note(
        "t", pinned=True, limit=4
    )


def test_the_same_wire_policy_as_an_rpc() -> None:
    # an absent field with a non-zero default takes it; an unknown enum number is kept
    assert cello.from_bytes(Note, b"\n\x01t") == Note("t")
    assert cello.from_json(Note, '{"title": "t", "mood": 7}').mood == 7
    with pytest.raises(WireError, match=r"Note.at: .*microsecond"):
        cello.from_json(Note, '{"title": "t", "at": "2024-01-01T00:00:00.000000001Z"}')
    with pytest.raises(WireError, match=r"Note: not a valid cellocodec.v1.Note message"):
        cello.from_bytes(Note, b"\xff\xff")
    with pytest.raises(WireError, match=r"invalid JSON for cellocodec.v1.Note: .*nope"):
        cello.from_json(Note, '{"nope": 1}')
    with pytest.raises(pydantic.ValidationError):
        cello.from_json(Card, '{"name": ""}')
    with pytest.raises(TypeError):  # as an rpc's encoder refuses it
        cello.to_bytes(Note("t", count="3"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda: cello.to_bytes({"title": "t"}), "dict"),
        (lambda: cello.to_json(3), "int"),
        (lambda: cello.from_bytes(int, b""), "int"),
        (lambda: cello.from_json(Notes, "{}"), "Notes"),
        (lambda: cello.to_bytes(Note), "type"),
    ],
    ids=["dict", "int", "scalar-class", "service-class", "a-class-to-encode"],
)
def test_a_non_message_class_is_a_type_error_naming_it(call: object, what: str) -> None:
    with pytest.raises(TypeError, match=rf"cello\.\w+: {what} is not a message class"):
        call()  # type: ignore[operator]


def test_import_cello_does_not_load_the_codec() -> None:
    code = "import cello, sys; print('cello._wire.codec' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
