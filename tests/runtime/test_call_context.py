"""`CallContext` over the wire, the same over gRPC, gRPC-Web and Connect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2

from cello import GrpcChannel, GrpcError, GrpcServer, current_call

from .call_services import STATE, event
from .ports import PORTS, SERVICE, Port, start


@pytest.fixture(params=PORTS)
async def port(request: pytest.FixtureRequest) -> AsyncIterator[Port]:
    server = await start()
    yield Port(request.param, server)
    await server.stop(0)


def note(port: Port, method: str, text: str) -> object:
    return port.types(f"{SERVICE}/{method}")[0](text=text)


def reply(port: Port, method: str, raw: bytes) -> object:
    return port.types(f"{SERVICE}/{method}")[1].FromString(raw)


async def test_handler_sees_the_call_through_current_call(port: Port) -> None:
    result = await port.call(f"{SERVICE}/Hello", note(port, "Hello", "hi"))
    assert result.code == 0
    assert reply(port, "Hello", result.messages[0]).protocol == port.kind
    assert STATE["request"].text == "hi"  # the typed request message


async def test_grpc_request_context_is_the_call_and_keeps_repeated_keys(port: Port) -> None:
    request = note(port, "Envelope", "x")
    if port.kind == "grpc":
        async with grpc.aio.insecure_channel(port.server.address) as ch:
            mc = ch.unary_unary(
                f"{SERVICE}/Envelope", request_serializer=lambda m: m.SerializeToString()
            )
            raw = await mc(request, metadata=(("x-id", "a"), ("x-id", "b")))
    else:
        # gRPC-Web carries a repeated key as one comma-joined header, as HTTP/1.1 does
        result = await port.call(f"{SERVICE}/Envelope", request, {"x-id": "a"})
        raw = result.messages[0]
    text = reply(port, "Envelope", raw).text
    assert text == ("True:a,b:b" if port.kind == "grpc" else "True:a:a")


async def test_headers_before_the_first_message(port: Port) -> None:
    async with port.open_stream(f"{SERVICE}/Watch", note(port, "Watch", "early")) as stream:
        # the handler waits for the release, so the headers can only come ahead of it
        headers = await asyncio.wait_for(stream.headers(), 5)
        assert headers["x-early"] == "yes"
        event("release").set()
        result = await stream.rest()
    assert result.code == 0
    assert [reply(port, "Watch", m).text for m in result.messages] == ["after"]


async def test_trailers_on_a_stream_with_no_message(port: Port) -> None:
    result = await port.call(f"{SERVICE}/Watch", note(port, "Watch", "empty"))
    assert (result.code, result.messages) == (0, [])
    assert result.trailers["x-count"] == "0"


async def test_trailers_after_messages(port: Port) -> None:
    result = await port.call(f"{SERVICE}/Watch", note(port, "Watch", "n"))
    assert result.code == 0 and len(result.messages) == 3
    assert result.trailers["x-count"] == "3"


async def test_headers_together_with_an_error(port: Port) -> None:
    result = await port.call(f"{SERVICE}/Hello", note(port, "Hello", "headers-then-error"))
    assert (result.code, result.message) == (GrpcError.NOT_FOUND, "gone")
    assert result.headers["x-early"] == "yes"
    assert result.trailers["x-why"] == "deleted"


async def test_metadata_in_a_client_stream_before_any_message(port: Port) -> None:
    request_type = port.types(f"{SERVICE}/Collect")[0]
    if port.kind != "grpc":  # the web protocols have no client streaming
        result = await port.call(f"{SERVICE}/Collect", request_type(text="x"))
        assert result.code == GrpcError.UNIMPLEMENTED
        return

    async def nothing_until_read() -> AsyncIterator[object]:
        await asyncio.wait_for(event("collect-started").wait(), 5)
        return
        yield

    async with grpc.aio.insecure_channel(port.server.address) as ch:
        mc = ch.stream_unary(
            f"{SERVICE}/Collect", request_serializer=lambda m: m.SerializeToString()
        )
        raw = await mc(nothing_until_read(), metadata=(("x-id", "1"), ("x-id", "2")))
    assert STATE["collect_metadata"] == ["1", "2"]
    assert reply(port, "Collect", raw).text == ""


async def _grpc_h2_body(server: GrpcServer, method: str, payload: bytes) -> httpx.Response:
    """A raw HTTP/2 gRPC call, so the response's compressed flag can be read."""
    async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
        return await client.post(
            f"http://{server.address}{method}",
            content=b"\x00" + len(payload).to_bytes(4, "big") + payload,
            headers={
                "content-type": "application/grpc",
                "te": "trailers",
                "grpc-accept-encoding": "gzip",
            },
        )


@pytest.mark.parametrize("how", ["per-call", "config-default"])
async def test_gzip_compressed_response_on_the_wire(how: str) -> None:
    config = {"compression": "gzip"} if how == "config-default" else {}
    # grpc sends a message uncompressed when gzip would not make it smaller
    text = "gzip" if how == "per-call" else "large"
    server = await start(**config)
    try:
        for kind in ("grpc", "grpc-web"):
            port = Port(kind, server)
            request = note(port, "Hello", text)
            if kind == "grpc":
                response = await _grpc_h2_body(
                    server, f"{SERVICE}/Hello", request.SerializeToString()
                )
                assert response.headers["grpc-encoding"] == "gzip"
                assert response.content[0] == 1, "compressed flag not set"
            else:
                result = await port.call(f"{SERVICE}/Hello", request)
                assert result.headers["grpc-encoding"] == "gzip"
                assert result.compressed == [True]
                assert reply(port, "Hello", result.messages[0]).text == "z" * 2000
    finally:
        await server.stop(0)


async def test_gzip_compressed_grpc_web_request_is_accepted() -> None:
    import gzip

    from .ports import decode, frame

    server = await start()
    try:
        port = Port("grpc-web", server)
        payload = gzip.compress(note(port, "Hello", "squeezed").SerializeToString())
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(
                f"http://127.0.0.1:{server.web_port}{SERVICE}/Hello",
                content=frame(payload, flags=0x01),
                headers={"content-type": "application/grpc-web+proto", "grpc-encoding": "gzip"},
            )
        result = decode(response, response.content)
        assert result.code == 0
        assert reply(port, "Hello", result.messages[0]).text == "squeezed"
    finally:
        await server.stop(0)


async def test_rich_error_details(port: Port) -> None:
    result = await port.call(f"{SERVICE}/Hello", note(port, "Hello", "rich"))
    assert (result.code, result.message) == (GrpcError.INVALID_ARGUMENT, "bad note")
    status = status_pb2.Status.FromString(result.trailers["grpc-status-details-bin"])
    assert status.code == GrpcError.INVALID_ARGUMENT and status.message == "bad note"
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail)
    assert detail.field_violations[0].field == "text"


async def test_grpc_channel_exposes_error_details() -> None:
    server = await start()
    try:
        async with await GrpcChannel.connect(server.address, raise_on_error=True) as channel:
            with pytest.raises(GrpcError) as caught:
                await channel.call("calltest.v1.CallService", "Hello", {"text": "rich"})
        (detail,) = caught.value.details
        assert isinstance(detail, error_details_pb2.BadRequest)
        assert detail.field_violations[0].description == "too short"
    finally:
        await server.stop(0)


def test_current_call_outside_an_rpc_says_where_it_works() -> None:
    with pytest.raises(LookupError, match="handler or a middleware"):
        current_call()
