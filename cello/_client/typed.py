"""The base of generated typed clients: one multicallable per rpc, errors as `GrpcError`."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import grpc
import grpc.aio

from .._errors import GrpcError
from .._wire.binding import MethodBinding, ServiceBinding
from .closing import AsyncClosing, Connecting
from .connection import ChannelOptions, open_channel

if TYPE_CHECKING:
    from .._security.tls import ClientTls  # generated stubs load this module; TLS loads when used

Metadata = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]
Client = TypeVar("Client", bound="StubClient")


def to_grpc_metadata(metadata: Metadata | None) -> tuple[tuple[str, str | bytes], ...] | None:
    """Cello metadata (a dict or pairs) → grpc's tuple of pairs, keys lower-cased."""
    if not metadata:
        return None
    pairs = metadata.items() if isinstance(metadata, Mapping) else metadata
    return tuple((str(k).lower(), v) for k, v in pairs)


def from_rpc_error(exc: grpc.RpcError) -> GrpcError:
    """The one translation of a grpc client error (aio or blocking) into Cello's `GrpcError`."""
    call: Any = exc  # both kinds of call error carry code, details and trailers
    metadata = dict(call.trailing_metadata() or ())
    details = status_details(metadata.get("grpc-status-details-bin"))
    return GrpcError(call.code().value[0], call.details() or "", metadata=metadata, details=details)


def status_details(raw: Any) -> list[Any]:
    """The detail messages of a serialized `google.rpc.Status` (`grpc-status-details-bin`).

    Details of a type known to the protobuf default pool (all of `google.rpc`'s error
    details, and any imported `_pb2` message) are unpacked; others stay `Any`.
    """
    if not isinstance(raw, bytes):
        return []
    from google.protobuf import descriptor_pool, message_factory
    from google.protobuf.message import DecodeError
    from google.rpc import error_details_pb2, status_pb2  # noqa: F401  (registers the types)

    try:
        status = status_pb2.Status.FromString(raw)
    except DecodeError:
        return []
    pool = descriptor_pool.Default()
    details: list[Any] = []
    for packed in status.details:
        try:
            descriptor = pool.FindMessageTypeByName(packed.TypeName())
        except KeyError:
            details.append(packed)
            continue
        message = message_factory.GetMessageClass(descriptor)()
        details.append(message if packed.Unpack(message) else packed)
    return details


def multicallable(channel: grpc.aio.Channel, binding: MethodBinding) -> Any:
    """The grpc multicallable for one rpc, serializing with the generated `_pb2` classes."""
    factory = getattr(channel, binding.kind)
    return factory(
        binding.path,
        request_serializer=binding.request_type.SerializeToString,  # type: ignore[attr-defined]
        response_deserializer=binding.response_type.FromString,  # type: ignore[attr-defined]
    )


async def encoded_requests(
    requests: AsyncIterable[Any] | Iterable[Any], encode: Callable[[Any], Any]
) -> AsyncIterator[Any]:
    """Encode a client stream's requests, whether the caller gave a sync or an async iterable."""
    if isinstance(requests, AsyncIterable):
        async for item in requests:
            yield encode(item)
    else:
        for item in requests:
            yield encode(item)


class StubClient(AsyncClosing):
    """Base class of the generated `<Service>Client` classes.

    Args:
        channel: a `grpc.aio.Channel` (e.g. `grpc.aio.insecure_channel("host:port")` or a
            `grpc.aio.secure_channel`); or use `await Client.connect("host:port", tls=...)`
            (or `async with Client.connect(...)`).
    """

    service: ClassVar[ServiceBinding]

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self._owns_channel = False
        self._calls = [multicallable(channel, m) for m in self.service.methods]

    @classmethod
    def connect(
        cls: type[Client],
        target: str,
        *,
        tls: ClientTls | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: ChannelOptions = (),
        timeout: float = 10.0,
        max_message_size: int = 4_194_304,
        tracing: bool = False,
    ) -> Connecting[Client]:
        """A client on its own channel to `target`, once connected; close it when done.

        `client = await LibraryServiceClient.connect("host:443", tls=ClientTls())`, or
        `async with LibraryServiceClient.connect(...) as client:` to close it after.

        Args:
            target: "host:port".
            tls: connect over TLS (mTLS with a client certificate); None is plaintext.
            credentials: grpc channel credentials made by hand, instead of `tls`.
            options: more grpc channel arguments (`[("grpc.keepalive_time_ms", 30_000)]`).
            timeout: seconds to wait for the connection.
            max_message_size: largest message sent or received, in bytes.
            tracing: an OpenTelemetry client span per call, its trace context sent in the
                metadata (`pip install 'cello-grpc[otel]'`); inside a traced handler the
                span continues the handler's trace.

        Raises:
            GrpcError: UNAVAILABLE with the reason and the fix (see `GrpcChannel.connect`).
        """
        if tracing:
            from .tracing import require_opentelemetry

            require_opentelemetry(f"{cls.__name__}.connect")

        async def opening() -> Client:
            channel = await open_channel(
                target,
                tls=tls,
                credentials=credentials,
                options=options,
                timeout=timeout,
                max_message_size=max_message_size,
                tracing=tracing,
            )
            client = cls(channel)
            client._owns_channel = True
            return client

        return Connecting(cls.__name__, opening)

    async def close(self) -> None:
        """Close the channel if this client opened it (`connect`); a given one stays open."""
        if self._owns_channel:
            await self.channel.close()

    async def _unary_unary(
        self, index: int, request: Any, timeout: float | None, metadata: Metadata | None
    ) -> Any:
        binding = self.service.methods[index]
        return await self._reply(index, binding.encode_request(request), timeout, metadata)

    async def _unary_stream(
        self, index: int, request: Any, timeout: float | None, metadata: Metadata | None
    ) -> AsyncIterator[Any]:
        binding = self.service.methods[index]
        call = self._calls[index](
            binding.encode_request(request), timeout=timeout, metadata=to_grpc_metadata(metadata)
        )
        async for reply in self._replies(call):
            yield binding.decode_response(reply)

    async def _stream_unary(
        self, index: int, requests: Any, timeout: float | None, metadata: Metadata | None
    ) -> Any:
        binding = self.service.methods[index]
        payload = encoded_requests(requests, binding.encode_request)
        return await self._reply(index, payload, timeout, metadata)

    async def _stream_stream(
        self, index: int, requests: Any, timeout: float | None, metadata: Metadata | None
    ) -> AsyncIterator[Any]:
        binding = self.service.methods[index]
        call = self._calls[index](
            encoded_requests(requests, binding.encode_request),
            timeout=timeout,
            metadata=to_grpc_metadata(metadata),
        )
        async for reply in self._replies(call):
            yield binding.decode_response(reply)

    async def _reply(
        self, index: int, payload: Any, timeout: float | None, metadata: Metadata | None
    ) -> Any:
        try:
            reply = await self._calls[index](
                payload, timeout=timeout, metadata=to_grpc_metadata(metadata)
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc
        return self.service.methods[index].decode_response(reply)

    @staticmethod
    async def _replies(call: Any) -> AsyncIterator[Any]:
        try:
            async for reply in call:
                yield reply
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc
