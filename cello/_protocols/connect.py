"""The Connect protocol over ASGI: unary (POST and GET) and server streaming, JSON and binary.

Unary calls are one plain HTTP exchange: the body is the message (`application/json` in
the canonical proto3 JSON mapping, or `application/proto`), compressed with
`content-encoding`; the response carries the message with its metadata as headers and its
trailers as `trailer-` headers, or an error as the Connect JSON error body with the HTTP
status of its code. Side-effect-free rpcs (`idempotency_level = NO_SIDE_EFFECTS`) may also
be called with `GET ?encoding=json&message=...`. Server streams (`application/connect+json`,
`application/connect+proto`) are enveloped messages ending with an end-of-stream message
that holds the error, if any, and the trailers.

Client-streaming and bidi rpcs answer UNIMPLEMENTED, saying to call them over gRPC: the
same answer on every transport, whether the port speaks HTTP/1.1 (uvicorn's web port) or
HTTP/2 too (the `h2` transport's one port). Bidi needs the full duplex HTTP/1.1 lacks, and
request streams are not implemented here on either.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import struct
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .._call.context import Pairs
from .._call.endpoint import DETAILS_KEY, Endpoint
from .._errors import GrpcError
from .._wire import protojson
from .call import (
    HeldResponse,
    HttpCall,
    ResponseWriter,
    binary,
    gunzip,
    gzip_payload,
    supervise,
    too_large,
    within_body_timeout,
)
from .http import (
    Disconnected,
    Finished,
    Header,
    Limits,
    Receive,
    Request,
    RequestHeaders,
    Send,
    encode_metadata,
    expose_headers,
    method_path,
    peer,
)


@dataclass(frozen=True, slots=True)
class Kind:
    """What a Connect media type says about the call."""

    json: bool
    stream: bool


CONTENT_TYPES = {
    "application/json": Kind(json=True, stream=False),
    "application/proto": Kind(json=False, stream=False),
    "application/connect+json": Kind(json=True, stream=True),
    "application/connect+proto": Kind(json=False, stream=True),
}
"""The media types this protocol serves."""
REQUEST_HEADERS = (
    "content-type",
    "content-encoding",
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-content-encoding",
    "connect-accept-encoding",
    "x-user-agent",
)
"""Request headers a browser needs CORS permission to send."""
EXPOSED_HEADERS = ("content-encoding", "connect-content-encoding")
"""Response headers a browser script may always read (metadata names are added per call)."""

_CODE_NAMES = (
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
)
# The Connect spec's HTTP status for each code.
_HTTP_STATUS = (200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401)
_ENVELOPE = struct.Struct(">BI")
FLAG_COMPRESSED, FLAG_END_STREAM = 0x01, 0x02
_TYPE_PREFIX = "type.googleapis.com/"


@dataclass(frozen=True, slots=True)
class Codec:
    """How one rpc's messages are (de)serialized in one encoding; built once per endpoint."""

    name: str
    parse: Callable[[bytes], Any]
    serialize: Callable[[Any], bytes]


def codec(ep: Endpoint, json_mode: bool, ignore_unknown: bool) -> Codec:
    """The codec of `ep`'s messages: protobuf binary, or the canonical proto3 JSON mapping."""
    return _codec(ep.request_type, json_mode, ignore_unknown)


@functools.cache
def _codec(request_type: Any, json_mode: bool, ignore_unknown: bool) -> Codec:
    name = request_type.DESCRIPTOR.full_name
    if not json_mode:

        def parse_binary(raw: bytes) -> Any:
            try:
                return request_type.FromString(raw)
            except Exception:
                raise Finished(
                    GrpcError.INVALID_ARGUMENT, f"request is not a valid {name} message"
                ) from None

        return Codec("proto", parse_binary, binary)

    def parse_json(raw: bytes) -> Any:
        try:
            return protojson.parse(raw, request_type, ignore_unknown_fields=ignore_unknown)
        except protojson.JsonError as exc:
            raise Finished(GrpcError.INVALID_ARGUMENT, str(exc)) from None

    return Codec("json", parse_json, protojson.dumps)


@functools.cache
def side_effect_free(ep: Endpoint) -> bool:
    """True when the rpc's `.proto` marks it `idempotency_level = NO_SIDE_EFFECTS` (GET-able)."""
    try:
        pool = ep.request_type.DESCRIPTOR.file.pool
        method = pool.FindMethodByName(ep.method[1:].replace("/", "."))
    except (KeyError, AttributeError):
        return False
    options = method.GetOptions()
    return bool(options.idempotency_level == options.NO_SIDE_EFFECTS)


async def serve(request: Request, find: Callable[[str], Endpoint | None], limits: Limits) -> None:
    """Serve one Connect POST call to its end (or until the client leaves)."""
    headers = request.headers
    kind = CONTENT_TYPES[headers.media_type]
    encoding_header = "connect-content-encoding" if kind.stream else "content-encoding"
    accept_header = "connect-accept-encoding" if kind.stream else "accept-encoding"
    accepts_gzip = "gzip" in (headers.get(accept_header) or "").lower()
    media = headers.media_type.encode("ascii")
    writer: StreamWriter | UnaryWriter = (
        StreamWriter(request.send, media, request.cors)
        if kind.stream
        else UnaryWriter(request.send, media, request.cors)
    )
    try:
        ep, deadline, metadata = _prepare(request, find, kind)
        compressed = _compressed(headers.get(encoding_header))
        codec_ = codec(ep, kind.json, limits.json_ignore_unknown_fields)
        body = await within_body_timeout(
            _read_all(request.receive, limits, headers), limits, deadline
        )
        raw = unframe_one(body, limits.max_message_size, compressed) if kind.stream else body
        if compressed and not kind.stream:
            raw = gunzip(raw, limits.max_message_size, _malformed)
        if len(raw) > limits.max_message_size:
            raise too_large(str(len(raw)), limits.max_message_size)
        message = codec_.parse(raw)
    except Finished as fin:
        await writer.finish(fin.code, fin.message, close=fin.close)
        return
    except Disconnected:
        return
    await _call(
        request, ep, (message, len(raw)), codec_, writer, limits, deadline, metadata, accepts_gzip
    )


async def serve_get(
    request: Request, find: Callable[[str], Endpoint | None], limits: Limits
) -> bool:
    """Serve a Connect GET call of a side-effect-free rpc; False if the request is not one."""
    query = urllib.parse.parse_qs(
        (request.scope.get("query_string") or b"").decode("latin-1"), keep_blank_values=True
    )
    if "encoding" not in query and "message" not in query:
        return False
    params = {key: values[0] for key, values in query.items()}
    json_mode = params.get("encoding") == "json"
    media = b"application/json" if json_mode else b"application/proto"
    writer = UnaryWriter(request.send, media, request.cors)
    try:
        ep, deadline, metadata = _prepare(request, find, Kind(json=json_mode, stream=False))
        if not side_effect_free(ep):
            why = (
                f"{ep.method} may have side effects, so it is not served over GET; "
                "POST it, or declare it @grpc_method(idempotent=True)"
            )
            await writer.finish(GrpcError.UNIMPLEMENTED, why, http_status=405)
            return True
        if params.get("connect", "v1") != "v1":
            raise Finished(GrpcError.INVALID_ARGUMENT, f"unknown connect={params['connect']!r}")
        if params.get("encoding") not in ("json", "proto"):
            raise Finished(
                GrpcError.INVALID_ARGUMENT,
                f"encoding={params.get('encoding')!r}: use encoding=json or encoding=proto",
            )
        raw = _get_message(params)
        if _compressed(params.get("compression")):
            raw = gunzip(raw, limits.max_message_size, _malformed)
        if len(raw) > limits.max_message_size:
            raise too_large(str(len(raw)), limits.max_message_size)
        codec_ = codec(ep, json_mode, limits.json_ignore_unknown_fields)
        message = codec_.parse(raw)
    except Finished as fin:
        await writer.finish(fin.code, fin.message)
        return True
    accepts_gzip = "gzip" in (request.headers.get("accept-encoding") or "").lower()
    await _call(
        request, ep, (message, len(raw)), codec_, writer, limits, deadline, metadata, accepts_gzip
    )
    return True


def _get_message(params: dict[str, str]) -> bytes:
    text = params.get("message", "")
    if params.get("base64") != "1":
        return text.encode("utf-8")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Finished(GrpcError.INVALID_ARGUMENT, "message= is not URL-safe base64") from None


async def _call(
    request: Request,
    ep: Endpoint,
    received: tuple[Any, int],
    codec_: Codec,
    writer: StreamWriter | UnaryWriter,
    limits: Limits,
    deadline: float | None,
    metadata: Pairs,
    accepts_gzip: bool,
) -> None:
    call = HttpCall(
        ep.method,
        "connect",
        deadline,
        metadata,
        peer(request.scope.get("client")),
        writer,
        limits.max_message_size,
        accepts_gzip=accepts_gzip,
        scope=request.scope,
        serialize=codec_.serialize,
    )
    message, call.request_size = received
    call.compression = limits.compression
    status = await supervise(ep, message, call, request.receive, deadline)
    if status is None:  # the client left; nobody reads a status
        return
    call.code = status.code
    await writer.finish(status.code, status.message, [*call.trailers, *status.trailers])


def _prepare(
    request: Request, find: Callable[[str], Endpoint | None], kind: Kind
) -> tuple[Endpoint, float | None, Pairs]:
    """The endpoint, deadline and metadata, checked before the body is read."""
    headers = request.headers
    version = headers.get("connect-protocol-version")
    if version is not None and version.strip() != "1":
        raise Finished(
            GrpcError.INVALID_ARGUMENT,
            f"connect-protocol-version {version!r} is not supported; send 1",
        )
    metadata = headers.metadata()
    deadline = _deadline(headers)
    path = method_path(request.scope)
    ep = find(path)
    if ep is None:
        raise Finished(GrpcError.UNIMPLEMENTED, f"Method not found: {path}")
    if ep.client_streaming:
        raise Finished(GrpcError.UNIMPLEMENTED, _request_streams_refused(ep))
    if ep.server_streaming and not kind.stream:
        raise Finished(
            GrpcError.UNIMPLEMENTED,
            f"{ep.method} is a server-streaming rpc; call it with content type "
            "application/connect+json or application/connect+proto",
        )
    if kind.stream and not ep.server_streaming:
        raise Finished(
            GrpcError.UNIMPLEMENTED,
            f"{ep.method} is a unary rpc; call it with content type "
            "application/json or application/proto",
        )
    return ep, deadline, metadata


def _request_streams_refused(ep: Endpoint) -> str:
    """Why a client-streaming or bidi rpc is refused; it names neither the transport nor
    the HTTP version, so every port gives the same answer."""
    kind = "bidi-streaming" if ep.server_streaming else "client-streaming"
    return (
        f"{ep.method} is a {kind} rpc, and Connect is served for unary and "
        "server-streaming rpcs only; call it over gRPC (application/grpc, on the gRPC port)"
    )


def _deadline(headers: RequestHeaders) -> float | None:
    value = headers.get("connect-timeout-ms")
    if value is None:
        return None
    value = value.strip()
    if not (value.isdigit() and len(value) <= 10):
        raise Finished(
            GrpcError.INVALID_ARGUMENT,
            f"Invalid connect-timeout-ms header {value!r}: send 1 to 10 digits (milliseconds)",
        )
    return time.monotonic() + int(value) / 1000


def _compressed(encoding: str | None) -> bool:
    name = (encoding or "identity").strip().lower()
    if name not in ("identity", "gzip"):
        raise Finished(
            GrpcError.UNIMPLEMENTED, f"Compression {name!r} is not supported; use gzip or identity"
        )
    return name == "gzip"


async def _read_all(receive: Receive, limits: Limits, headers: RequestHeaders) -> bytes:
    """The whole body, refused from Content-Length or as soon as it outgrows one message
    (plus an envelope header and gzip's overhead)."""
    cap = limits.max_message_size + 1024
    declared = headers.get("content-length") or ""
    if declared.isdigit() and int(declared) > cap:
        raise too_large(f"a {declared}-byte body", limits.max_message_size, close=True)
    buffer = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected()
        buffer += message.get("body", b"")
        if len(buffer) > cap:
            raise too_large(f"more than {cap} bytes", limits.max_message_size, close=True)
        if not message.get("more_body", False):
            return bytes(buffer)


def unframe_one(body: bytes, limit: int, compressed: bool) -> bytes:
    """The one message of a streaming request body: exactly one envelope, decompressed.

    Raises:
        Finished: malformed envelopes, not exactly one message, or a message over `limit`.
    """
    if len(body) < 5:
        raise _malformed("truncated envelope")
    flags, length = _ENVELOPE.unpack_from(body)
    if flags & ~FLAG_COMPRESSED:
        raise _malformed(f"unexpected flags 0x{flags:02x}")
    if length > limit:
        raise too_large(str(length), limit)
    if len(body) != 5 + length:
        raise Finished(
            GrpcError.INVALID_ARGUMENT,
            f"Expected exactly one request envelope of {length} bytes, got {len(body) - 5}",
        )
    payload = body[5:]
    if flags & FLAG_COMPRESSED:
        if not compressed:
            raise _malformed("compressed message without connect-content-encoding")
        return gunzip(payload, limit, _malformed)
    return payload


def _malformed(problem: str) -> Finished:
    return Finished(GrpcError.INVALID_ARGUMENT, f"Malformed Connect request: {problem}")


def error_json(code: int, message: str, trailers: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The Connect error object of a status: code name, message, details."""
    error: dict[str, Any] = {"code": _CODE_NAMES[code] if 0 < code < 17 else "unknown"}
    if message:
        error["message"] = message
    details = [value for key, value in trailers if key == DETAILS_KEY]
    if details:
        error["details"] = _details(details[0])
    return error


def _details(raw: Any) -> list[dict[str, str]]:
    from google.rpc import status_pb2

    status = status_pb2.Status.FromString(bytes(raw))
    return [
        {
            "type": any_.type_url.removeprefix(_TYPE_PREFIX),
            "value": base64.b64encode(any_.value).decode("ascii").rstrip("="),
        }
        for any_ in status.details
    ]


def _metadata(trailers: Iterable[tuple[str, Any]]) -> list[Header]:
    return encode_metadata([(k, v) for k, v in trailers if k != DETAILS_KEY])


class UnaryWriter(HeldResponse):
    """Writes one unary Connect response, held until the status is known (it decides the
    HTTP status): headers and `trailer-` trailers, then the message or the error body."""

    __slots__ = ()

    async def finish(
        self,
        code: int,
        message: str,
        trailing: Iterable[tuple[str, Any]] = (),
        *,
        close: bool = False,
        http_status: int | None = None,
    ) -> None:
        """Send the whole response: the message with HTTP 200, or the error body."""
        trailing = list(trailing)
        try:
            trailers = [(b"trailer-" + k, v) for k, v in _metadata(trailing)]
        except ValueError:
            trailers = []
        metadata = [*self.initial, *trailers]
        if code == GrpcError.OK and self._payload is not None:
            status, media, body = 200, self._media, self._payload
            if self._gzip:
                body = gzip_payload(body)
                metadata.append((b"content-encoding", b"gzip"))
        else:
            status = http_status or _HTTP_STATUS[code if 0 < code < 17 else 2]
            media = b"application/json"
            body = json.dumps(error_json(code, message, trailing)).encode("utf-8")
        exposed = expose_headers(self._cors, EXPOSED_HEADERS, (k for k, _ in metadata))
        await self._respond(status, media, body, [*exposed, *metadata], close=close)


class StreamWriter(ResponseWriter):
    """Writes one Connect streaming response: headers, enveloped messages, end of stream."""

    __slots__ = ("_media",)

    def __init__(self, send: Send, media: bytes, cors: Sequence[Header]) -> None:
        super().__init__(send, cors)
        self._media = media

    async def start(self, *, gzip: bool = False) -> None:
        """Send the HTTP 200 headers with the initial metadata, once."""
        if self.headers_sent:
            return
        self.headers_sent = True
        self._gzip = gzip
        headers = [
            (b"content-type", self._media),
            *self._cors,
            *expose_headers(self._cors, EXPOSED_HEADERS, (k for k, _ in self.initial)),
            *self.initial,
        ]
        if gzip:
            headers.append((b"connect-content-encoding", b"gzip"))
        await self._send({"type": "http.response.start", "status": 200, "headers": headers})

    async def send_message(self, payload: bytes, *, gzip: bool = False) -> None:
        """Send one enveloped message (and the headers first, if still unsent)."""
        await self.start(gzip=gzip)
        await self._envelope(payload, 0, True, compress=gzip)

    async def _envelope(
        self, payload: bytes, flags: int, more: bool, *, compress: bool = True
    ) -> None:
        if self._gzip and compress:  # the call compresses, and this message too
            payload, flags = gzip_payload(payload), flags | FLAG_COMPRESSED
        body = _ENVELOPE.pack(flags, len(payload)) + payload
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    async def _end(
        self, code: int, message: str, trailing: list[tuple[str, Any]], *, close: bool
    ) -> None:
        # the end-of-stream message carries the error, if any, and the trailers
        end: dict[str, Any] = {}
        if code != GrpcError.OK:
            end["error"] = error_json(code, message, trailing)
        try:
            pairs = _metadata(trailing)
        except ValueError:
            pairs = []
        if pairs:
            grouped: dict[str, list[str]] = {}
            for key, value in pairs:
                grouped.setdefault(key.decode("ascii"), []).append(value.decode("ascii"))
            end["metadata"] = grouped
        if close and not self.headers_sent:
            self.initial.append((b"connection", b"close"))
        await self.start(gzip=self._gzip)
        await self._envelope(json.dumps(end).encode("utf-8"), FLAG_END_STREAM, False)
