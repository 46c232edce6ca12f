"""REST over ASGI: an rpc served at its `google.api.http` route, JSON or protobuf bodies.

The request message is assembled as HttpRule says: the path variables, then the body
(`*`: the whole message; a field name: that field), then the query string for the
fields neither binds. Bodies are `application/json` (canonical proto3 JSON; the original
field names are accepted too) or `application/x-protobuf` / `application/protobuf`
(binary), chosen by `Content-Type`; the response follows `Accept` (else the request's
type), gzip-compressed both ways. An error is a `google.rpc.Status` in JSON with the
HTTP status grpc-gateway gives its code. A server stream is newline-delimited JSON,
`{"result": ...}` per message and `{"error": ...}` if it fails (grpc-gateway's form).
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from .._call.endpoint import DETAILS_KEY
from .._errors import GrpcError
from .._wire import protojson
from .call import (
    HeldResponse,
    HttpCall,
    ResponseWriter,
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
    grpc_deadline,
    peer,
)
from .routes import Route, params

JSON = b"application/json"
PROTOBUF = b"application/x-protobuf"
BINARY_TYPES = frozenset({"application/x-protobuf", "application/protobuf", "application/proto"})
REQUEST_HEADERS = ("content-type", "content-encoding", "accept", "grpc-timeout")
"""Request headers a browser needs CORS permission to send."""
EXPOSED_HEADERS = ("content-encoding",)
"""Response headers a browser script may always read (metadata names are added per call)."""
# grpc-gateway's HTTP status for each gRPC code (runtime.HTTPStatusFromCode)
HTTP_STATUS = (200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401)


async def serve(request: Request, route: Route, values: dict[str, str], limits: Limits) -> None:
    """Serve one REST call to its end (or until the client leaves)."""
    headers = request.headers
    binary_in = headers.media_type in BINARY_TYPES
    binary_out = _wants_binary(headers, binary_in) and not route.ep.server_streaming
    writer: RestWriter = (
        StreamWriter(request.send, request.cors)
        if route.ep.server_streaming
        else UnaryWriter(request.send, PROTOBUF if binary_out else JSON, request.cors)
    )
    try:
        deadline = grpc_deadline(headers)
        metadata = headers.metadata()
        body = await within_body_timeout(_read_all(request.receive, limits), limits, deadline)
        if (headers.get("content-encoding") or "identity").strip().lower() == "gzip":
            body = gunzip(body, limits.max_message_size, _malformed)
        if len(body) > limits.max_message_size:
            raise too_large(str(len(body)), limits.max_message_size)
        query = (request.scope.get("query_string") or b"").decode("latin-1")
        message = _message(route, values, query, body, binary_in, limits)
    except Finished as fin:
        await writer.finish(fin.code, fin.message, close=fin.close)
        return
    except Disconnected:
        return
    call = HttpCall(
        route.ep.method,
        "rest",
        deadline,
        metadata,
        peer(request.scope.get("client")),
        writer,
        limits.max_message_size,
        accepts_gzip="gzip" in (headers.get("accept-encoding") or "").lower(),
        scope=request.scope,
        serialize=_serializer(route, binary_out),
    )
    call.request_size = len(body)
    call.compression = limits.compression
    status = await supervise(route.ep, message, call, request.receive, deadline)
    if status is None:  # the client left
        return
    call.code = status.code
    await writer.finish(status.code, status.message, [*call.trailers, *status.trailers])


def _wants_binary(headers: RequestHeaders, binary_in: bool) -> bool:
    accept = (headers.get("accept") or "").lower()
    if any(t in accept for t in BINARY_TYPES):
        return True
    return binary_in and ("json" not in accept)


def _message(
    route: Route, values: dict[str, str], query: str, body: bytes, binary_in: bool, limits: Limits
) -> Any:
    """The request message from the path variables, the body and the query string."""
    request_type = route.ep.request_type
    ignore = limits.json_ignore_unknown_fields
    bound = params(route, values, query, ignore_unknown=ignore)
    if route.body == "*":
        message = _parse(request_type, body, binary_in, ignore)
    elif route.body:
        message = request_type()
        target = getattr(message, route.body)
        field = request_type.DESCRIPTOR.fields_by_name[route.body]
        if field.message_type is not None and not field.is_repeated:
            target.CopyFrom(_parse(type(target), body, binary_in, ignore))
        elif binary_in:
            raise Finished(
                GrpcError.INVALID_ARGUMENT,
                f"{route.label}: the body field {route.body!r} is not a message; send it as JSON",
            )
        else:
            bound[route.body] = _json(body)
    else:
        message = request_type()
        if body.strip() and route.method not in ("GET", "DELETE"):
            raise Finished(
                GrpcError.INVALID_ARGUMENT,
                f"{route.label} takes no body (its fields come from the path and the query)",
            )
    if bound:
        text = json.dumps(bound).encode("utf-8")
        message.MergeFrom(_parse(request_type, text, False, False))
    return message


def _parse(message_type: Any, raw: bytes, binary_in: bool, ignore_unknown: bool) -> Any:
    if binary_in:
        try:
            return message_type.FromString(raw)
        except Exception:
            name = message_type.DESCRIPTOR.full_name
            raise Finished(
                GrpcError.INVALID_ARGUMENT, f"request body is not a valid {name} message"
            ) from None
    try:
        return protojson.parse(raw, message_type, ignore_unknown_fields=ignore_unknown)
    except protojson.JsonError as exc:
        raise Finished(GrpcError.INVALID_ARGUMENT, str(exc)) from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Finished(GrpcError.INVALID_ARGUMENT, f"invalid JSON body: {exc}") from None


def _serializer(route: Route, binary_out: bool) -> Any:
    """How a response message is written: the whole message or `response_body`'s field."""
    field = route.response_body
    if binary_out:
        if field:
            return lambda m: getattr(m, field).SerializeToString()
        return lambda m: m.SerializeToString()
    if route.ep.server_streaming:
        return _stream_line
    if not field:
        return protojson.dumps
    json_name = route.ep.response_type.DESCRIPTOR.fields_by_name[field].json_name

    def part(message: Any) -> bytes:
        whole = json.loads(protojson.dumps(message))
        return json.dumps(whole.get(json_name)).encode("utf-8")

    return part


def _stream_line(message: Any) -> bytes:
    return b'{"result":' + protojson.dumps(message) + b"}\n"


async def _read_all(receive: Receive, limits: Limits) -> bytes:
    """The whole body, refused as soon as it outgrows one message (plus gzip's overhead)."""
    cap = limits.max_message_size + 1024
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


def _malformed(problem: str) -> Finished:
    return Finished(GrpcError.INVALID_ARGUMENT, f"Malformed REST request: {problem}")


def status_json(code: int, message: str, trailers: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A status as `google.rpc.Status` in proto3 JSON, with its details (`@type` + fields)."""
    status: dict[str, Any] = {"code": code, "message": message, "details": []}
    raw = next((value for key, value in trailers if key == DETAILS_KEY), None)
    if raw is None:
        return status
    from google.protobuf import json_format
    from google.rpc import status_pb2

    for detail in status_pb2.Status.FromString(bytes(raw)).details:
        try:
            status["details"].append(json_format.MessageToDict(detail))
        except (TypeError, KeyError):  # a detail type this process does not know
            value = base64.b64encode(detail.value).decode("ascii")
            status["details"].append({"@type": detail.type_url, "value": value})
    return status


def _metadata(prefix: bytes, pairs: Iterable[tuple[str, Any]]) -> list[Header]:
    try:
        return [
            (prefix + k, v) for k, v in encode_metadata([p for p in pairs if p[0] != DETAILS_KEY])
        ]
    except ValueError:
        return []


class UnaryWriter(HeldResponse):
    """Writes one REST response once the status is known: the message, or the Status."""

    __slots__ = ()

    async def _end(
        self, code: int, message: str, trailing: list[tuple[str, Any]], *, close: bool
    ) -> None:
        # metadata as grpc-gateway sends it: Grpc-Metadata-* headers
        extra = [
            *((b"grpc-metadata-" + k, v) for k, v in self.initial),  # encoded already
            *_metadata(b"grpc-trailer-", trailing),
        ]
        if code == GrpcError.OK and self._payload is not None:
            status, media, body = 200, self._media, self._payload
        else:
            status = HTTP_STATUS[code if 0 < code < 17 else 2]
            media, body = JSON, json.dumps(status_json(code, message, trailing)).encode()
        if self._gzip:
            body = gzip_payload(body)
            extra.append((b"content-encoding", b"gzip"))
        await self._respond(status, media, body, extra, close=close)


class StreamWriter(ResponseWriter):
    """Writes a server stream as newline-delimited JSON, ending with an error line if any."""

    __slots__ = ("_compressor",)

    def __init__(self, send: Send, cors: Sequence[Header]) -> None:
        super().__init__(send, cors)
        self._compressor: Any = None

    async def start(self, *, gzip: bool = False) -> None:
        """Send the HTTP 200 headers with the initial metadata, once."""
        if self.headers_sent:
            return
        self.headers_sent = True
        headers = [
            (b"content-type", JSON),
            *self._cors,
            *((b"grpc-metadata-" + k, v) for k, v in self.initial),
        ]
        if gzip:
            self._compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            headers.append((b"content-encoding", b"gzip"))
        await self._send({"type": "http.response.start", "status": 200, "headers": headers})

    async def send_message(self, payload: bytes, *, gzip: bool = False) -> None:
        """Send one `{"result": ...}` line."""
        await self.start(gzip=gzip)
        await self._write(payload, more=True)

    async def _write(self, data: bytes, *, more: bool) -> None:
        if self._compressor is not None:
            data = self._compressor.compress(data) + self._compressor.flush(
                3 if more else 4  # Z_FULL_FLUSH keeps each line readable at once; Z_FINISH
            )
        await self._send({"type": "http.response.body", "body": data, "more_body": more})

    async def _end(
        self, code: int, message: str, trailing: list[tuple[str, Any]], *, close: bool
    ) -> None:
        if not self.headers_sent and code != GrpcError.OK:
            # nothing streamed yet: a plain error response with the code's HTTP status
            body = json.dumps(status_json(code, message, trailing)).encode()
            status = HTTP_STATUS[code if 0 < code < 17 else 2]
            headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode())]
            headers += self._cors
            if close:
                headers.append((b"connection", b"close"))
            await self._send({"type": "http.response.start", "status": status, "headers": headers})
            await self._send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await self.start()
        tail = b""
        if code != GrpcError.OK:
            tail = json.dumps({"error": status_json(code, message, trailing)}).encode() + b"\n"
        await self._write(tail, more=False)


RestWriter = UnaryWriter | StreamWriter
