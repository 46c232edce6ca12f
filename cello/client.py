"""The runtime of standalone typed clients (`cello-gen build --client`): bases and converters."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

import grpc
import grpc.aio

# generated clients name the well-known types' classes through this module
from google.protobuf import duration_pb2, empty_pb2, struct_pb2, timestamp_pb2
from google.type import date_pb2, timeofday_pb2

from ._client.calls import CallPlan, ClientCall, ClientMiddleware, Metadata, SyncClientMiddleware
from ._client.closing import AsyncClosing, Closing, Connecting
from ._client.connection import ChannelOptions, open_channel, open_sync_channel
from ._client.policy import RetryOption, RpcInfo, hedging_paths, is_idempotent, policy_options
from ._client.propagation import Propagation
from ._client.typed import encoded_requests
from ._wire.wellknown import (
    UUID,
    Choices,
    Decimal,
    PyEnum,
    WireEnum,
    absent,
    date,
    dec_decimal,
    dec_uuid,
    default_of,
    duration,
    duration_fields,
    empty_in,
    empty_out,
    enc_decimal,
    enc_uuid,
    from_date,
    from_duration,
    from_struct,
    from_time_of_day,
    from_timestamp,
    from_value,
    oneof_conflict,
    redefined,
    struct,
    time_of_day,
    timestamp,
    timestamp_fields,
    unset_oneof,
    value,
    wrong_type,
)

if TYPE_CHECKING:
    from ._security.tls import ClientTls  # a client loads TLS only when it connects with it

__all__ = [
    "AsyncClient",
    "Choices",
    "Decimal",
    "Metadata",
    "PyEnum",
    "Rpc",
    "SyncClient",
    "UUID",
    "WireEnum",
    "absent",
    "date",
    "date_pb2",
    "dec_decimal",
    "dec_uuid",
    "default_of",
    "duration",
    "duration_fields",
    "duration_pb2",
    "empty_in",
    "empty_out",
    "empty_pb2",
    "enc_decimal",
    "enc_uuid",
    "from_date",
    "from_duration",
    "from_struct",
    "from_time_of_day",
    "from_timestamp",
    "from_value",
    "oneof_conflict",
    "redefined",
    "struct",
    "struct_pb2",
    "time_of_day",
    "timeofday_pb2",
    "timestamp",
    "timestamp_fields",
    "timestamp_pb2",
    "unset_oneof",
    "value",
    "wrong_type",
]

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


@dataclass(frozen=True, slots=True)
class Rpc(Generic[RequestT, ResponseT]):
    """One rpc as a generated client sees it: its path, wire classes and converters.

    Args:
        path: `/package.Service/Method`.
        kind: `unary_unary`, `unary_stream`, `stream_unary` or `stream_stream`.
        request_type: the request's `_pb2` class.
        response_type: the response's `_pb2` class.
        encode: Python value → request message.
        decode: response message → Python value.
    """

    path: str
    kind: str
    request_type: type[Any]
    response_type: type[Any]
    encode: Callable[[RequestT], Any]
    decode: Callable[[Any], ResponseT]


def _factory(channel: Any, rpc: Rpc[Any, Any]) -> Any:
    return getattr(channel, rpc.kind)(
        rpc.path,
        request_serializer=rpc.request_type.SerializeToString,
        response_deserializer=rpc.response_type.FromString,
    )


class _Base:
    rpcs: ClassVar[tuple[Rpc[Any, Any], ...]] = ()
    _sync: ClassVar[bool] = False

    def __init__(
        self,
        channel: Any,
        *,
        middleware: Sequence[Any] = (),
        propagate: Iterable[str] = (),
        compression: str | None = None,
    ) -> None:
        self.channel = channel
        # one multicallable per rpc, made once; a call only looks it up by path
        self._calls: dict[str, Any] = {rpc.path: _factory(channel, rpc) for rpc in self.rpcs}
        name = type(self).__name__
        self._plan = CallPlan(
            name,
            middleware=middleware,
            propagation=Propagation.of(name, propagate),
            compression=compression,
            sync=self._sync,
        )

    @classmethod
    def _policy_options(
        cls, options: ChannelOptions, retry: RetryOption, load_balancing: str | None
    ) -> list[Any]:
        return policy_options(
            cls.__name__, cls._rpc_infos(), options, retry=retry, load_balancing=load_balancing
        )

    @classmethod
    def _rpc_infos(cls) -> list[RpcInfo]:
        rpcs = []
        for rpc in cls.rpcs:
            service, name = rpc.path[1:].split("/", 1)
            idempotent = is_idempotent(rpc.request_type, service, name)
            rpcs.append(RpcInfo(service, name, name, idempotent))
        return rpcs

    def _start(
        self, rpc: Rpc[Any, Any], payload: Any, timeout: float | None, metadata: Metadata | None
    ) -> ClientCall:
        kind = rpc.kind
        return self._plan.start(
            rpc.path,
            kind.startswith("stream"),
            kind.endswith("stream"),
            payload,
            timeout,
            metadata,
            self._calls[rpc.path],
        )


class AsyncClient(AsyncClosing, _Base):
    """Base of generated async clients; errors come out as `GrpcError`.

    Args:
        channel: a `grpc.aio.Channel`, or use `await Client.connect(...)` (or
            `async with Client.connect(...)`) to have the client open one.
        middleware: client middleware, `async def mw(call, call_next)`, outermost first.
        propagate: request metadata keys a call made inside a handler forwards.
        compression: compress every request (`"gzip"`).
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        middleware: Sequence[ClientMiddleware] = (),
        propagate: Iterable[str] = (),
        compression: str | None = None,
    ) -> None:
        super().__init__(
            channel, middleware=middleware, propagate=propagate, compression=compression
        )

    @classmethod
    def connect(
        cls,
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
    ) -> Connecting[Self]:
        """A client on its own channel to `target`, once connected; close it when done.

        `client = await LibraryServiceClient.connect("host:443", tls=ClientTls())`, or
        `async with LibraryServiceClient.connect(...) as client:` to close it after.

        Args:
            target: "host:port".
            tls: connect over TLS (`cello.ClientTls`; mTLS with a client certificate);
                None is plaintext.
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
            retry: a `cello.RetryPolicy` or `cello.HedgingPolicy` for the idempotent rpcs,
                or a dict of them by method name (`"*"` for the rest).
            load_balancing: `"round_robin"` spreads calls over every address `target`
                resolves to (`dns:///name:port`, `ipv4:host:a,host:b`), skipping unhealthy
                ones.

        Raises:
            GrpcError: UNAVAILABLE when no connection is made within `timeout`, or at once
                when the TLS handshake fails, with the reason and the fix.
            ValueError: `retry` names an rpc that is not idempotent.
        """
        if tracing:
            from ._client.tracing import require_opentelemetry

            require_opentelemetry(f"{cls.__name__}.connect")
        all_options = cls._policy_options(options, retry, load_balancing)
        hedging = hedging_paths(cls._rpc_infos(), retry)

        async def opening() -> Self:
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
            client._plan.hedging = hedging
            return client

        return Connecting(cls.__name__, opening)

    async def close(self) -> None:
        """Close the channel."""
        await self.channel.close()

    async def _unary_unary(
        self,
        rpc: Rpc[RequestT, ResponseT],
        request: RequestT,
        timeout: float | None,
        metadata: Metadata | None,
    ) -> ResponseT:
        return await self._reply(rpc, rpc.encode(request), timeout, metadata)

    async def _stream_unary(
        self,
        rpc: Rpc[RequestT, ResponseT],
        requests: AsyncIterable[RequestT] | Iterable[RequestT],
        timeout: float | None,
        metadata: Metadata | None,
    ) -> ResponseT:
        return await self._reply(rpc, encoded_requests(requests, rpc.encode), timeout, metadata)

    def _unary_stream(
        self,
        rpc: Rpc[RequestT, ResponseT],
        request: RequestT,
        timeout: float | None,
        metadata: Metadata | None,
    ) -> AsyncIterator[ResponseT]:
        return self._replies(rpc, lambda: rpc.encode(request), timeout, metadata)

    def _stream_stream(
        self,
        rpc: Rpc[RequestT, ResponseT],
        requests: AsyncIterable[RequestT] | Iterable[RequestT],
        timeout: float | None,
        metadata: Metadata | None,
    ) -> AsyncIterator[ResponseT]:
        return self._replies(rpc, lambda: encoded_requests(requests, rpc.encode), timeout, metadata)

    async def _reply(
        self,
        rpc: Rpc[Any, ResponseT],
        payload: Any,
        timeout: float | None,
        metadata: Metadata | None,
    ) -> ResponseT:
        reply = await self._plan.send(self._start(rpc, payload, timeout, metadata))
        return rpc.decode(reply)

    async def _replies(
        self,
        rpc: Rpc[Any, ResponseT],
        payload: Callable[[], Any],
        timeout: float | None,
        metadata: Metadata | None,
    ) -> AsyncIterator[ResponseT]:
        # `payload` is made here, on first iteration, so the call starts when it is iterated
        replies = await self._plan.send(self._start(rpc, payload(), timeout, metadata))
        async for reply in replies:
            yield rpc.decode(reply)


class SyncClient(Closing, _Base):
    """Base of generated blocking clients (grpc's sync channel); errors come out as `GrpcError`.

    Args:
        channel: a `grpc.Channel`, or use `connect` to have the client own one.
        middleware: client middleware, `def mw(call, call_next)`, outermost first.
        propagate: request metadata keys a call made inside a handler forwards.
        compression: compress every request (`"gzip"`).
    """

    _sync = True

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        middleware: Sequence[SyncClientMiddleware] = (),
        propagate: Iterable[str] = (),
        compression: str | None = None,
    ) -> None:
        super().__init__(
            channel, middleware=middleware, propagate=propagate, compression=compression
        )

    @classmethod
    def connect(
        cls,
        target: str,
        *,
        tls: ClientTls | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: ChannelOptions = (),
        timeout: float = 10.0,
        max_message_size: int = 4_194_304,
        tracing: bool = False,
        middleware: Sequence[SyncClientMiddleware] = (),
        propagate: Iterable[str] = (),
        compression: str | None = None,
        retry: RetryOption = None,
        load_balancing: str | None = None,
    ) -> Self:
        """A client on its own channel to `target`, once connected; `close()` it or `with` it.

        Takes the arguments of `AsyncClient.connect`, and raises its errors; its middleware
        is the blocking form, `def mw(call, call_next)`.
        """
        if tracing:
            from ._client.tracing import require_opentelemetry

            require_opentelemetry(f"{cls.__name__}.connect")
        channel = open_sync_channel(
            target,
            tls=tls,
            credentials=credentials,
            options=cls._policy_options(options, retry, load_balancing),
            timeout=timeout,
            max_message_size=max_message_size,
            tracing=tracing,
        )
        try:
            return cls(channel, middleware=middleware, propagate=propagate, compression=compression)
        except BaseException:
            channel.close()
            raise

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def _unary_unary(
        self,
        rpc: Rpc[RequestT, ResponseT],
        request: RequestT,
        timeout: float | None,
        metadata: Metadata | None,
    ) -> ResponseT:
        return self._reply(rpc, rpc.encode(request), timeout, metadata)

    def _stream_unary(
        self,
        rpc: Rpc[RequestT, ResponseT],
        requests: Iterable[RequestT],
        timeout: float | None,
        metadata: Metadata | None,
    ) -> ResponseT:
        return self._reply(rpc, (rpc.encode(r) for r in requests), timeout, metadata)

    def _unary_stream(
        self,
        rpc: Rpc[RequestT, ResponseT],
        request: RequestT,
        timeout: float | None,
        metadata: Metadata | None,
    ) -> Iterator[ResponseT]:
        return self._replies(rpc, rpc.encode(request), timeout, metadata)

    def _stream_stream(
        self,
        rpc: Rpc[RequestT, ResponseT],
        requests: Iterable[RequestT],
        timeout: float | None,
        metadata: Metadata | None,
    ) -> Iterator[ResponseT]:
        return self._replies(rpc, (rpc.encode(r) for r in requests), timeout, metadata)

    def _reply(
        self,
        rpc: Rpc[Any, ResponseT],
        payload: Any,
        timeout: float | None,
        metadata: Metadata | None,
    ) -> ResponseT:
        return rpc.decode(self._plan.send(self._start(rpc, payload, timeout, metadata)))

    def _replies(
        self,
        rpc: Rpc[Any, ResponseT],
        payload: Any,
        timeout: float | None,
        metadata: Metadata | None,
    ) -> Iterator[ResponseT]:
        replies = self._plan.send(self._start(rpc, payload, timeout, metadata))
        return (rpc.decode(reply) for reply in replies)
