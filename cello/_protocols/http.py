"""HTTP plumbing shared by the ASGI protocols: headers, metadata, limits, plain responses."""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import GrpcError

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Header = tuple[bytes, bytes]
Pairs = tuple[tuple[str, str | bytes], ...]

# Request headers that are HTTP, transport or browser plumbing, not gRPC metadata.
_NOT_METADATA = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "te",
        "upgrade",
        "accept",
        "accept-encoding",
        "accept-language",
        "origin",
        "referer",
        "pragma",
        "cache-control",
        "priority",
        "grpc-timeout",
        "grpc-encoding",
        "grpc-accept-encoding",
        "connect-protocol-version",
        "connect-timeout-ms",
        "connect-content-encoding",
        "connect-accept-encoding",
    }
)
_NOT_METADATA_PREFIXES = (":", "sec-", "access-control-")
# Response header names a handler must not set through metadata.
_RESERVED_KEYS = frozenset(
    {"grpc-status", "grpc-message", "content-type", "content-length", "transfer-encoding"}
)
_TIMEOUT_RE = re.compile(r"^([0-9]{1,8})([HMSmun])$")
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_KEY_RE = re.compile(r"^[0-9a-z_.\-]+$")
# grpc-message percent-encoding keeps printable ASCII except '%'.
_PLAIN_MESSAGE_BYTES = frozenset(range(0x20, 0x7F)) - {ord("%")}


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What every ASGI protocol enforces on a request.

    Attributes:
        max_message_size: the largest request or response message, in bytes.
        body_timeout: seconds a request body may take to arrive in full.
        compression: the response compression calls start with (`"gzip"` or None).
        json_ignore_unknown_fields: JSON requests may carry fields the message does not
            have (dropped); by default they are refused with INVALID_ARGUMENT.
    """

    max_message_size: int = 4_194_304
    body_timeout: float = 10.0
    compression: str | None = None
    json_ignore_unknown_fields: bool = False


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request handed to a protocol by the ASGI app."""

    scope: Scope
    receive: Receive
    send: Send
    headers: RequestHeaders
    cors: Sequence[Header]


class Finished(Exception):
    """A protocol-level problem that ends the call with `code` and `message`.

    `close` asks to close the connection (the request body was not read to its end).
    """

    def __init__(self, code: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close = close


class Disconnected(Exception):
    """The client went away before the request was read."""


def parse_grpc_timeout(value: str) -> float:
    """A `grpc-timeout` header value ("100m", "5S", ...) in seconds.

    Raises:
        ValueError: not `1-8 digits` followed by one of `HMSmun`.
    """
    match = _TIMEOUT_RE.match(value.strip())
    if not match:
        raise ValueError(f"invalid grpc-timeout {value!r}")
    return int(match.group(1)) * _TIMEOUT_UNITS[match.group(2)]


def grpc_deadline(headers: RequestHeaders) -> float | None:
    """The call's deadline (a `time.monotonic()` instant) from `grpc-timeout`, or None.

    Raises:
        Finished: INVALID_ARGUMENT, the header is malformed.
    """
    value = headers.get("grpc-timeout")
    if value is None:
        return None
    try:
        return time.monotonic() + parse_grpc_timeout(value)
    except ValueError:
        raise Finished(
            GrpcError.INVALID_ARGUMENT, f"Invalid grpc-timeout header {value!r}"
        ) from None


def gzipped_request(headers: RequestHeaders) -> bool:
    """Whether the request's messages are gzip-compressed, from `grpc-encoding`.

    Raises:
        Finished: UNIMPLEMENTED, an encoding other than identity or gzip.
    """
    encoding = headers.get("grpc-encoding")
    if encoding is None or encoding == "identity":
        return False  # the usual headers need no normalizing
    encoding = encoding.strip().lower()
    if encoding not in ("identity", "gzip"):
        raise Finished(GrpcError.UNIMPLEMENTED, f"Compression {encoding!r} is not supported")
    return encoding == "gzip"


def status_headers(code: int, message: str, trailing: Iterable[tuple[Any, Any]]) -> list[Header]:
    """`grpc-status`, `grpc-message` (percent-encoded) and the trailing metadata, as headers.

    Raises:
        ValueError: invalid trailing metadata (see `encode_metadata`).
    """
    status = [(b"grpc-status", str(code).encode("ascii"))]
    if message:
        status.append((b"grpc-message", encode_grpc_message(message).encode("ascii")))
    return status + encode_metadata(trailing)


def encode_grpc_message(details: str) -> str:
    """Percent-encode a status message as the gRPC over HTTP/2 spec requires."""
    return "".join(
        chr(byte) if byte in _PLAIN_MESSAGE_BYTES else f"%{byte:02X}"
        for byte in details.encode("utf-8")
    )


def expose_headers(
    cors: Sequence[Header], exposed: Iterable[str], names: Iterable[bytes]
) -> list[Header]:
    """`access-control-expose-headers` for a CORS response: the protocol's headers and `names`.

    Args:
        cors: the response's CORS headers; without them nothing is exposed.
        exposed: the header names the protocol always exposes.
        names: the metadata header names of this response.
    """
    if not cors:
        return []
    listed = dict.fromkeys([*exposed, *(name.decode("ascii") for name in names)])
    return [(b"access-control-expose-headers", ", ".join(listed).encode("ascii"))]


def encode_metadata(metadata: Iterable[tuple[Any, Any]] | None) -> list[Header]:
    """Outgoing metadata pairs as header bytes (`-bin` values base64-encoded).

    Raises:
        ValueError: a key that is not a valid, unreserved header name, or a text value that is
            not printable ASCII.
    """
    result = []
    for raw_key, value in metadata or ():
        key = (raw_key.decode("ascii") if isinstance(raw_key, bytes) else str(raw_key)).lower()
        if not _KEY_RE.match(key) or key in _RESERVED_KEYS:
            raise ValueError(f"invalid metadata key {key!r}")
        result.append((key.encode("ascii"), _encode_value(key, value)))
    return result


def _encode_value(key: str, value: Any) -> bytes:
    if key.endswith("-bin"):
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw)
    text = value.decode("ascii") if isinstance(value, bytes) else str(value)
    if any(not 0x20 <= ord(ch) <= 0x7E for ch in text):
        raise ValueError(f"metadata value for {key!r} must be printable ASCII, got {text!r}")
    return text.encode("ascii")


class RequestHeaders:
    """A lower-cased view of ASGI request headers."""

    __slots__ = ("_items",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self._items = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]

    def get(self, name: str) -> str | None:
        """The first value of header `name`, or None."""
        return next((value for key, value in self._items if key == name), None)

    @property
    def media_type(self) -> str:
        """The content type without parameters, lower case."""
        return (self.get("content-type") or "").split(";")[0].strip().lower()

    def metadata(self) -> Pairs:
        """The gRPC metadata the headers carry (`-bin` values decoded), in order.

        Raises:
            Finished: INVALID_ARGUMENT, a `-bin` header is not base64.
        """
        md: list[tuple[str, str | bytes]] = []
        for key, value in self._items:
            if key in _NOT_METADATA or key.startswith(_NOT_METADATA_PREFIXES):
                continue
            if key.endswith("-bin"):
                text = value.strip()
                try:
                    md.append((key, base64.b64decode(text + "=" * (-len(text) % 4), validate=True)))
                except (binascii.Error, ValueError):
                    raise Finished(
                        GrpcError.INVALID_ARGUMENT,
                        f"Invalid base64 in binary metadata header {key!r}",
                    ) from None
            else:
                md.append((key, value))
        return tuple(md)


def peer(client: Sequence[Any] | None) -> str:
    """The client address in grpc's notation, e.g. `ipv4:127.0.0.1:5555`."""
    if not client:
        return "unknown"
    host, port = client[0], client[1]
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


def method_path(scope: Scope) -> str:
    """`/package.Service/Method`, without the prefix the app is mounted at."""
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root) :]
    return path if path.startswith("/") else "/" + path


async def plain(send: Send, status: int, body: bytes, extra: Sequence[Header] = ()) -> None:
    """A complete non-gRPC response (errors of HTTP itself, CORS preflights)."""
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_bytes(send: Send, body: bytes, media: bytes, extra: Sequence[Header] = ()) -> None:
    """A complete 200 response of `body`."""
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol (nothing to set up or tear down)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def wait_disconnect(receive: Receive) -> None:
    """Return when the client goes away (the request body was already read)."""
    while (await receive())["type"] != "http.disconnect":
        pass
