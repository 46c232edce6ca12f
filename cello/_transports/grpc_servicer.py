"""What the two grpcio transports (`grpc_aio`, `grpc_threads`) share: a `CallContext` over
grpc's `ServicerContext`, the request parser, and grouping handlers per service.

Both contexts (asyncio and sync) answer metadata, peer, auth context and compression the
same way; they differ in deadlines, cancellation, and whether sending blocks or awaits,
which each transport's subclass says.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError

from .._call.context import CallContext, Metadata
from .._call.endpoint import Endpoint
from .._errors import GrpcError

if TYPE_CHECKING:
    from .._security.identity import PeerIdentity

Context = Any  # grpc.aio.ServicerContext or grpc.ServicerContext

COMPRESSION = {
    None: grpc.Compression.NoCompression,
    "gzip": grpc.Compression.Gzip,
}
STATUS = {code.value[0]: code for code in grpc.StatusCode}


class ServicerCall(CallContext):
    """A `CallContext` over a grpc `ServicerContext`; properties read it lazily."""

    protocol = "grpc"
    _headers_sent = False
    _metadata: Metadata | None = None

    def __init__(self, method: str, context: Context) -> None:
        self.method = method
        self._context = context

    @property
    def metadata(self) -> Metadata:
        if self._metadata is None:
            self._metadata = Metadata(self._context.invocation_metadata() or ())
        return self._metadata

    @property
    def peer(self) -> str:
        return str(self._context.peer())

    @property
    def deadline(self) -> float | None:
        remaining = self.time_remaining()
        return None if remaining is None else time.monotonic() + remaining

    @property
    def peer_identity(self) -> PeerIdentity | None:
        # loaded on first use: most servers never ask, and it is not on the call path
        from .._security.identity import peer_identity_from_auth_context

        return peer_identity_from_auth_context(self._context.auth_context() or {})

    @property
    def headers_sent(self) -> bool:
        return self._headers_sent

    def set_compression(self, algorithm: str | None) -> None:
        CallContext.set_compression(self, algorithm)
        self._context.set_compression(COMPRESSION[self.compression])

    def disable_next_message_compression(self) -> None:
        self._context.disable_next_message_compression()


def generic_handlers(
    endpoints: Sequence[Endpoint],
    method_handler: Callable[[Endpoint], grpc.RpcMethodHandler[Any, Any]],
) -> list[grpc.GenericRpcHandler]:
    """One grpc generic handler per service, each rpc's handler made by `method_handler`."""
    by_service: dict[str, dict[str, grpc.RpcMethodHandler[Any, Any]]] = {}
    for ep in endpoints:
        service, name = ep.method[1:].split("/", 1)
        by_service.setdefault(service, {})[name] = method_handler(ep)
    return [grpc.method_handlers_generic_handler(s, h) for s, h in by_service.items()]


def parser(request_type: Any) -> Callable[[bytes], Any]:
    """bytes → `_pb2` message; malformed input is the client's fault: INVALID_ARGUMENT
    (grpc's own deserializer would make it INTERNAL)."""
    from_string = request_type.FromString
    type_name = request_type.DESCRIPTOR.full_name

    def parse(raw: bytes) -> Any:
        try:
            return from_string(raw)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise GrpcError(
                GrpcError.INVALID_ARGUMENT, f"request is not a valid {type_name} message"
            ) from exc

    return parse


def unary_incoming(parse: Callable[[bytes], Any]) -> Callable[[Any, CallContext], Any]:
    """The request of a unary-request rpc, parsed and counted."""

    def incoming(raw: bytes, call: CallContext) -> Any:
        call.request_size = len(raw)
        return parse(raw)

    return incoming
