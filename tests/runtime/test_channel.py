"""`GrpcChannel`: dict-style calls resolved by local stubs or by server reflection."""

from __future__ import annotations

import pytest

from cello.grpc import GrpcChannel, GrpcError, GrpcRequest, GrpcServer


@pytest.fixture(params=[True, False], ids=["local-stubs", "reflection"])
async def client(request: pytest.FixtureRequest, server: GrpcServer):  # type: ignore[no-untyped-def]
    channel = await GrpcChannel.connect(server.address, local_stubs=request.param)
    yield channel
    await channel.close()


async def test_seed_style_call_returns_dict_data(client: GrpcChannel) -> None:
    response = await client.call(
        service="DictService", method="Get", request=GrpcRequest(data={"id": 1})
    )
    assert response.status_code == 0
    assert response.data == {"id": 1, "name": "Alice", "ratio": 0.5}


async def test_typed_method_with_dict_request(client: GrpcChannel) -> None:
    response = await client.call("rt.v1.EchoService", "Echo", {"text": "hi", "count": 1})
    assert response.data == {"text": "hi", "count": 2, "seen": {}, "remaining": None}


async def test_metadata_and_timeout_are_sent(client: GrpcChannel) -> None:
    response = await client.call(
        "EchoService", "Inspect", {"text": "m"}, metadata={"x-auth": "token123"}, timeout=20
    )
    assert response.data["seen"]["x-auth"] == "token123"
    assert 0 < response.data["remaining"] <= 21


async def test_status_is_returned_or_raised(client: GrpcChannel) -> None:
    response = await client.call("EchoService", "Fail", {"text": "not-found"})
    assert (response.status_code, response.message) == (GrpcError.NOT_FOUND, "no such thing")
    with pytest.raises(GrpcError) as info:
        await client.call("EchoService", "Fail", {"text": "not-found"}, raise_on_error=True)
    assert info.value.code == GrpcError.NOT_FOUND


async def test_streaming_calls(client: GrpcChannel) -> None:
    counted = await client.call("EchoService", "Count", {"text": "c", "count": 3})
    assert [d["count"] for d in counted.data] == [0, 1, 2]
    summed = await client.call(
        "EchoService", "Sum", requests=[{"text": "a", "count": 2}, {"text": "b", "count": 3}]
    )
    assert summed.data["count"] == 5
    shouted = [
        d["text"]
        async for d in client.stream(
            "EchoService", "Shout", requests=[{"text": "x"}, {"text": "y"}]
        )
    ]
    assert shouted == ["X", "Y"]


async def test_bad_request_dict_is_a_clear_error_and_nothing_is_sent(client: GrpcChannel) -> None:
    response = await client.call("EchoService", "Echo", {"no_such_field": 1})
    assert response.status_code == GrpcError.INVALID_ARGUMENT
    assert "no_such_field" in response.message


async def test_unknown_service_and_method(client: GrpcChannel) -> None:
    assert (await client.call("NoService", "X", {})).status_code == GrpcError.UNIMPLEMENTED
    assert (await client.call("EchoService", "Nope", {})).status_code == GrpcError.UNIMPLEMENTED


async def test_connect_to_nothing_is_unavailable() -> None:
    with pytest.raises(GrpcError) as info:
        await GrpcChannel.connect("127.0.0.1:1", timeout=0.5)
    assert info.value.code == GrpcError.UNAVAILABLE
