"""Call a Cello server on its gRPC port, or its web port over gRPC-Web or Connect, through
one interface.

The gRPC side uses plain grpc.aio on bytes; the gRPC-Web and Connect sides speak the wire
protocol over httpx, decoded here independently of the server's code.
"""

from __future__ import annotations

import base64
import gzip
import json
import struct
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import httpx

from cello import GrpcConfig, GrpcServer

from .call_services import EVENTS, STATE, CallService

PORTS = ["grpc", "grpc-web", "connect"]
CONNECT_CODES = [
    "ok",
    "canceled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
]
SERVICE = "/calltest.v1.CallService"


def make_server(middleware: Any = (), port: int = 0, **config: Any) -> GrpcServer:
    """A server of `CallService` on 127.0.0.1, not started, with both ports on free ports
    (or on `port` and `web_port` when given)."""
    STATE.clear()
    EVENTS.clear()
    config = {"enable_web": True, "web_port": 0, **config}
    server = GrpcServer("127.0.0.1", port, GrpcConfig(**config), middleware=middleware)
    server.register_service(CallService())
    return server


async def start(middleware: Any = (), port: int = 0, **config: Any) -> GrpcServer:
    """`make_server(...)`, started."""
    server = make_server(middleware, port, **config)
    await server.start()
    return server


@dataclass
class Result:
    """How a call ended, as the client saw it."""

    code: int
    message: str
    headers: dict[str, Any] = field(default_factory=dict)
    trailers: dict[str, Any] = field(default_factory=dict)
    messages: list[bytes] = field(default_factory=list)
    compressed: list[bool] = field(default_factory=list)


class Port:
    """One port of a running server, called with `_pb2` requests."""

    def __init__(self, kind: str, server: GrpcServer) -> None:
        self.kind = kind
        self.server = server

    def types(self, method: str) -> tuple[Any, Any]:
        """The request and response `_pb2` classes of `/pkg.Svc/Method`."""
        service, name = method[1:].split("/")
        binding = next(m for m in self.server.bindings[service].methods if m.name == name)
        return binding.request_type, binding.response_type

    async def call(
        self, method: str, request: Any, metadata: dict[str, str] | None = None
    ) -> Result:
        """A unary-request call (unary or server-streaming response)."""
        if self.kind == "grpc":
            return await _grpc_call(self.server.address, method, request, metadata or {})
        if self.kind == "connect":
            return await _connect_call(self.server.web_port, method, request, metadata or {})
        return await _web_call(self.server.web_port, method, request, metadata or {})

    @asynccontextmanager
    async def open_stream(
        self, method: str, request: Any, metadata: dict[str, str] | None = None
    ) -> AsyncIterator[Any]:
        """A server stream whose response headers can be awaited before any message:
        yields an object with `async headers()` and `async rest() -> Result`."""
        if self.kind == "grpc":
            async with grpc.aio.insecure_channel(self.server.address) as channel:
                mc = channel.unary_stream(method, request_serializer=_serialize)
                stream = mc(request, metadata=tuple((metadata or {}).items()))
                yield _GrpcStream(stream)
        elif self.kind == "connect":
            url = f"http://127.0.0.1:{self.server.web_port}{method}"
            headers = _connect_headers(True, metadata)
            async with httpx.AsyncClient(timeout=10) as client:
                async with client.stream(
                    "POST", url, content=frame(request.SerializeToString()), headers=headers
                ) as response:
                    yield _ConnectStream(response)
        else:
            url = f"http://127.0.0.1:{self.server.web_port}{method}"
            async with httpx.AsyncClient(timeout=10) as client:
                async with client.stream(
                    "POST", url, content=frame(request.SerializeToString()), headers=_web_headers()
                ) as response:
                    yield _WebStream(response)


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()  # type: ignore[no-any-return]


async def _grpc_call(address: str, method: str, request: Any, metadata: dict[str, str]) -> Result:
    async with grpc.aio.insecure_channel(address) as channel:
        streaming = method.endswith("/Watch")
        factory = channel.unary_stream if streaming else channel.unary_unary
        call = factory(method, request_serializer=_serialize)(
            request, metadata=tuple(metadata.items())
        )
        messages: list[bytes] = []
        try:
            if streaming:
                async for message in call:
                    messages.append(message)
            else:
                messages.append(await call)
        except grpc.aio.AioRpcError:
            pass
        code = await call.code()
        return Result(
            code.value[0],
            await call.details() or "",
            dict(await call.initial_metadata() or ()),
            dict(await call.trailing_metadata() or ()),
            messages,
        )


class _GrpcStream:
    def __init__(self, call: Any) -> None:
        self._call = call

    async def headers(self) -> dict[str, Any]:
        return dict(await self._call.initial_metadata() or ())

    async def rest(self) -> Result:
        messages = [m async for m in self._call]
        code = await self._call.code()
        return Result(
            code.value[0],
            await self._call.details() or "",
            await self.headers(),
            dict(await self._call.trailing_metadata() or ()),
            messages,
        )


class _WebStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def headers(self) -> dict[str, Any]:
        return dict(self._response.headers)

    async def rest(self) -> Result:
        body = b"".join([chunk async for chunk in self._response.aiter_raw()])
        return decode(self._response, body)


def frame(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def _web_headers(metadata: dict[str, str] | None = None) -> dict[str, str]:
    headers = {
        "content-type": "application/grpc-web+proto",
        "x-grpc-web": "1",
        "grpc-accept-encoding": "gzip",
    }
    headers.update(metadata or {})
    return headers


async def _web_call(
    port: int | None, method: str, request: Any, metadata: dict[str, str]
) -> Result:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"http://127.0.0.1:{port}{method}",
            content=frame(request.SerializeToString()),
            headers=_web_headers(metadata),
        )
    return decode(response, response.content)


def decode(response: httpx.Response, body: bytes) -> Result:
    """A binary gRPC-Web response: headers, messages (decompressed) and trailers."""
    headers = {k.lower(): v for k, v in response.headers.items()}
    messages, compressed, trailers, pos = [], [], None, 0
    while pos < len(body):
        flags, length = struct.unpack_from(">BI", body, pos)
        chunk = body[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if flags & 0x80:
            trailers = {}
            for line in chunk.decode("ascii").split("\r\n"):
                if line:
                    key, _, value = line.partition(":")
                    trailers[key.strip().lower()] = value.strip()
        else:
            compressed.append(bool(flags & 0x01))
            messages.append(gzip.decompress(chunk) if flags & 0x01 else chunk)
    if trailers is None:  # trailers-only: the status is in the headers
        trailers = headers
    for key, value in list(trailers.items()):
        if key.endswith("-bin"):
            trailers[key] = base64.b64decode(value + "=" * (-len(value) % 4))
    return Result(
        int(trailers["grpc-status"]),
        urllib.parse.unquote(trailers.get("grpc-message", "")),
        headers,
        trailers,
        messages,
        compressed,
    )


def _connect_headers(stream: bool, metadata: dict[str, str] | None = None) -> dict[str, str]:
    headers = {
        "content-type": "application/connect+proto" if stream else "application/proto",
        "connect-protocol-version": "1",
    }
    headers.update(metadata or {})
    return headers


async def _connect_call(
    port: int | None, method: str, request: Any, metadata: dict[str, str]
) -> Result:
    url = f"http://127.0.0.1:{port}{method}"
    async with httpx.AsyncClient(timeout=10) as client:
        if method.endswith("/Watch"):
            headers = _connect_headers(True, metadata)
            response = await client.post(
                url, content=frame(request.SerializeToString()), headers=headers
            )
            return decode_connect_stream(response, response.content)
        response = await client.post(
            url, content=request.SerializeToString(), headers=_connect_headers(False, metadata)
        )
    return decode_connect_unary(response)


def _unbin(pairs: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(pairs.items()):
        if key.endswith("-bin"):
            pairs[key] = base64.b64decode(value + "=" * (-len(value) % 4))
    return pairs


def _error(error: dict[str, Any] | None, trailers: dict[str, Any]) -> tuple[int, str]:
    """Code and message of a Connect error; its details as `grpc-status-details-bin`, the
    way the other protocols deliver them, so one test reads all three."""
    if error is None:
        return 0, ""
    from google.protobuf import any_pb2
    from google.rpc import status_pb2

    code, message = CONNECT_CODES.index(error["code"]), error.get("message", "")
    if error.get("details"):
        details = [
            any_pb2.Any(
                type_url="type.googleapis.com/" + d["type"],
                value=base64.b64decode(d["value"] + "=" * (-len(d["value"]) % 4)),
            )
            for d in error["details"]
        ]
        status = status_pb2.Status(code=code, message=message, details=details)
        trailers["grpc-status-details-bin"] = status.SerializeToString()
    return code, message


def decode_connect_unary(response: httpx.Response) -> Result:
    """A unary Connect response: headers, `trailer-` trailers, the message or the error."""
    headers: dict[str, Any] = {}
    trailers: dict[str, Any] = {}
    for key, value in response.headers.items():
        key = key.lower()
        if key.startswith("trailer-"):
            trailers[key.removeprefix("trailer-")] = value
        else:
            headers[key] = value
    _unbin(trailers)
    if response.status_code == 200:
        code, message, messages = 0, "", [response.content]
    else:
        (code, message), messages = _error(response.json(), trailers), []
        assert response.headers["content-type"] == "application/json"
    return Result(code, message, _unbin(headers), trailers, messages)


def decode_connect_stream(response: httpx.Response, body: bytes) -> Result:
    """A streaming Connect response: enveloped messages, then the end-of-stream message."""
    assert response.status_code == 200
    messages, compressed, end, pos = [], [], None, 0
    while pos < len(body):
        flags, length = struct.unpack_from(">BI", body, pos)
        chunk = body[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if flags & 0x01:
            chunk = gzip.decompress(chunk)
        if flags & 0x02:
            end = json.loads(chunk)
        else:
            compressed.append(bool(flags & 0x01))
            messages.append(chunk)
    assert end is not None, "no end-of-stream message"
    trailers = _unbin({k: v[-1] for k, v in (end.get("metadata") or {}).items()})
    code, message = _error(end.get("error"), trailers)
    headers = {k.lower(): v for k, v in response.headers.items()}
    return Result(code, message, headers, trailers, messages, compressed)


class _ConnectStream(_WebStream):
    async def rest(self) -> Result:
        body = b"".join([chunk async for chunk in self._response.aiter_raw()])
        return decode_connect_stream(self._response, body)
