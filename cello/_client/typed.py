"""The base of generated typed clients: one multicallable per rpc, errors as `GrpcError`."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import grpc
import grpc.aio

from .._wire.binding import MethodBinding, ServiceBinding
from .calls import (
    CallPlan,
    ClientCall,
    ClientMiddleware,
    Metadata,
)
from .closing import AsyncClosing, Connecting
from .connection import ChannelOptions, open_channel
from .policy import RetryOption, RpcInfo, hedging_paths, is_idempotent, policy_options
from .propagation import Propagation

if TYPE_CHECKING:
    from .._security.tls import ClientTls  # generated stubs load this module; TLS loads when used

Client = TypeVar("Client", bound="StubClient")


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
        middleware: client middleware, `async def mw(call, call_next)`, outermost first.
        propagate: request metadata keys a call made inside a handler forwards.
        compression: compress every request (`"gzip"`).
    """

    service: ClassVar[ServiceBinding]

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        middleware: Sequence[ClientMiddleware] = (),
        propagate: Iterable[str] = (),
        compression: str | None = None,
    ) -> None:
        self.channel = channel
        self._owns_channel = False
        self._calls = [multicallable(channel, m) for m in self.service.methods]
        name = type(self).__name__
        self._plan = CallPlan(
            name,
            middleware=middleware,
            propagation=Propagation.of(name, propagate),
            compression=compression,
        )

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
        middleware: Sequence[ClientMiddleware] = (),
        propagate: Iterable[str] = (),
        compression: str | None = None,
        retry: RetryOption = None,
        load_balancing: str | None = None,
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
            middleware: client middleware, `async def mw(call, call_next)`, outermost first.
            propagate: request metadata keys that a call made inside a handler forwards
                from the rpc being served (`("x-request-id",)`); none by default.
            compression: compress every request (`"gzip"`).
            retry: a `RetryPolicy` or `HedgingPolicy` for the idempotent rpcs, or a dict of
                them by method name (`"*"` for the rest); see docs/clients.md.
            load_balancing: `"round_robin"` spreads calls over every address `target`
                resolves to (`dns:///name:port`, `ipv4:host:a,host:b`), skipping unhealthy
                ones.

        Raises:
            GrpcError: UNAVAILABLE with the reason and the fix (see `GrpcChannel.connect`).
            ValueError: `retry` names an rpc that is not idempotent.
        """
        if tracing:
            from .tracing import require_opentelemetry

            require_opentelemetry(f"{cls.__name__}.connect")
        rpcs = [
            RpcInfo(
                m.service,
                m.name,
                m.python_name,
                is_idempotent(m.request_type, m.service, m.name),
            )
            for m in cls.service.methods
        ]
        all_options = policy_options(
            cls.__name__, rpcs, options, retry=retry, load_balancing=load_balancing
        )
        hedging = hedging_paths(rpcs, retry)

        async def opening() -> Client:
            channel = await open_channel(
                target,
                tls=tls,
                credentials=credentials,
                options=all_options,
                timeout=timeout,
                max_message_size=max_message_size,
                tracing=tracing,
            )
            try:
                client = cls(
                    channel, middleware=middleware, propagate=propagate, compression=compression
                )
            except BaseException:
                await channel.close()
                raise
            client._owns_channel = True
            client._plan.hedging = hedging
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
        async for reply in self._replies(index, binding.encode_request(request), timeout, metadata):
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
        payload = encoded_requests(requests, binding.encode_request)
        async for reply in self._replies(index, payload, timeout, metadata):
            yield binding.decode_response(reply)

    def _start(
        self, index: int, payload: Any, timeout: float | None, metadata: Metadata | None
    ) -> ClientCall:
        binding = self.service.methods[index]
        return self._plan.start(
            binding.path,
            binding.client_streaming,
            binding.server_streaming,
            payload,
            timeout,
            metadata,
            self._calls[index],
        )

    async def _reply(
        self, index: int, payload: Any, timeout: float | None, metadata: Metadata | None
    ) -> Any:
        reply = await self._plan.send(self._start(index, payload, timeout, metadata))
        return self.service.methods[index].decode_response(reply)

    async def _replies(
        self, index: int, payload: Any, timeout: float | None, metadata: Metadata | None
    ) -> AsyncIterator[Any]:
        replies = await self._plan.send(self._start(index, payload, timeout, metadata))
        async for reply in replies:
            yield reply
