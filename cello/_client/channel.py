"""`GrpcChannel`: a dict-style client for any gRPC server, typed by stubs or reflection."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from .._definitions.messages import GrpcRequest, GrpcResponse
from .._errors import GrpcError
from .._security.tls import ClientTls
from .._wire.convert import dict_to_message, message_to_dict
from .._wire.stubs import loaded_bindings
from .calls import (
    CallPlan,
    ClientCall,
    ClientMiddleware,
    Metadata,
    check_compression,
    from_rpc_error,
    to_grpc_metadata,
)
from .closing import AsyncClosing
from .connection import ChannelOptions, open_channel
from .propagation import Propagation

_REFLECTION = (
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
)


@dataclass(frozen=True, slots=True)
class _Route:
    """How to call one method: its path, kind and message classes."""

    path: str
    client_streaming: bool
    server_streaming: bool
    request_type: Any
    response_type: Any


class GrpcChannel(AsyncClosing):
    """A connection to a gRPC server, called with dicts.

    Message types come from stubs loaded in this process (e.g. by a `GrpcServer`) or,
    failing that, from the server's reflection service, so any reflection-enabled
    server can be called without stubs.
    """

    def __init__(
        self,
        target: str,
        channel: grpc.aio.Channel,
        *,
        raise_on_error: bool = False,
        local_stubs: bool = True,
        middleware: Sequence[ClientMiddleware] = (),
        propagate: Iterable[str] = (),
        compression: str | None = None,
    ) -> None:
        where = f"GrpcChannel({target!r})"
        self._plan = CallPlan(
            where,
            middleware=middleware,
            propagation=Propagation.of(where, propagate),
            compression=compression,
        )
        self.target = target
        self.channel = channel
        self.raise_on_error = raise_on_error
        self.local_stubs = local_stubs
        self._routes: dict[tuple[str, str], _Route] = {}
        self._pool: descriptor_pool.DescriptorPool | None = None
        self._remote_services: list[str] | None = None

    @classmethod
    async def connect(
        cls,
        target: str,
        *,
        timeout: float = 10.0,
        raise_on_error: bool = False,
        max_message_size: int = 4_194_304,
        local_stubs: bool = True,
        tls: ClientTls | None = None,
        tracing: bool = False,
        credentials: grpc.ChannelCredentials | None = None,
        options: ChannelOptions = (),
        middleware: Sequence[ClientMiddleware] = (),
        propagate: Iterable[str] = (),
        compression: str | None = None,
    ) -> GrpcChannel:
        """Open a channel to `target` ("host:port") and wait until it is ready.

        Args:
            tls: connect over TLS: `ClientTls()` trusts the system's CAs, `ClientTls(ca=...)`
                a given one, and a client certificate gives mTLS. None is plaintext.
            timeout: seconds to wait for the connection.
            raise_on_error: raise `GrpcError` on a non-OK status instead of returning it.
            max_message_size: largest message sent or received, in bytes.
            local_stubs: resolve types from stubs loaded in this process before asking
                the server's reflection service; False always asks the server.
            tracing: an OpenTelemetry client span per call, its trace context sent in the
                metadata (`pip install 'cello-grpc[otel]'`); inside a traced handler the
                span continues the handler's trace.
            credentials: grpc channel credentials made by hand, instead of `tls`.
            options: more grpc channel arguments (`[("grpc.keepalive_time_ms", 30_000)]`).
            middleware: client middleware, `async def mw(call, call_next)`, outermost first
                (see docs/clients.md); reflection lookups do not pass through it.
            propagate: request metadata keys that a call made inside a handler forwards
                from the rpc being served; none by default.
            compression: compress every request (`"gzip"`).

        Raises:
            GrpcError: UNAVAILABLE if no connection is made within `timeout` seconds, or at
                once when the TLS handshake fails (untrusted server certificate, a client
                certificate required), with the reason and the fix.
        """
        if tracing:
            from .tracing import require_opentelemetry

            require_opentelemetry(f"{cls.__name__}.connect")
        channel = await open_channel(
            target,
            tls=tls,
            credentials=credentials,
            options=options,
            timeout=timeout,
            max_message_size=max_message_size,
            tracing=tracing,
        )
        try:
            return cls(
                target,
                channel,
                raise_on_error=raise_on_error,
                local_stubs=local_stubs,
                middleware=middleware,
                propagate=propagate,
                compression=compression,
            )
        except BaseException:
            await channel.close()
            raise

    async def close(self) -> None:
        """Close the connection."""
        await self.channel.close()

    async def call(
        self,
        service: str,
        method: str,
        request: GrpcRequest[Any] | dict[str, Any] | None = None,
        *,
        requests: Iterable[Any] | AsyncIterable[Any] | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        raise_on_error: bool | None = None,
        compression: str | None = None,
    ) -> GrpcResponse[Any]:
        """Call a method and return its `GrpcResponse` (`.data` is a dict).

        A server-streaming method's `.data` is the list of all messages received; use
        `stream()` to take them one by one. A client-streaming method sends `requests`.
        A non-OK status comes back as `status_code`/`message`, or raises `GrpcError`
        when `raise_on_error` (here or on the channel) is true. `compression="gzip"`
        compresses this call's request messages (`"identity"`: not, whatever the channel's
        `compression`).
        """
        raising = self.raise_on_error if raise_on_error is None else raise_on_error
        try:
            call = await self._start(
                service, method, request, requests, timeout, metadata, compression
            )
            sent = await self._plan.send(call)
            if call.server_streaming:
                replies = [message_to_dict(m) async for m in sent]
            else:
                replies = message_to_dict(sent)
            headers = trailers = None
            if call._grpc_call is not None:  # None if a middleware answered without sending
                headers = await call._grpc_call.initial_metadata()
                trailers = await call._grpc_call.trailing_metadata()
        except GrpcError as error:
            if raising:
                raise
            return GrpcResponse.error(error.code, error.message, trailers=error.metadata)
        return GrpcResponse(replies, 0, "OK", dict(headers or ()), trailers=dict(trailers or ()))

    async def stream(
        self,
        service: str,
        method: str,
        request: GrpcRequest[Any] | dict[str, Any] | None = None,
        *,
        requests: Iterable[Any] | AsyncIterable[Any] | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        compression: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield each message of a server-streaming (or bidirectional) method as a dict.

        Raises:
            GrpcError: the call ended with a non-OK status.
        """
        call = await self._start(service, method, request, requests, timeout, metadata, compression)
        sent = await self._plan.send(call)
        if not call.server_streaming:
            yield message_to_dict(sent)
            return
        async for message in sent:
            yield message_to_dict(message)

    async def _start(
        self,
        service: str,
        method: str,
        request: GrpcRequest[Any] | dict[str, Any] | None,
        requests: Iterable[Any] | AsyncIterable[Any] | None,
        timeout: float | None,
        metadata: Metadata | None,
        compression: str | None = None,
    ) -> ClientCall:
        route = await self._route(service, method)
        data, md = _request_parts(request, metadata)
        call = self._plan.start(
            route.path,
            route.client_streaming,
            route.server_streaming,
            _source(route, data, requests),
            timeout,
            md,
            self._multicallable(route),
        )
        if compression is not None:
            call.compression = check_compression(f"{service}.{method}", compression)
        return call

    def _multicallable(self, route: _Route) -> Any:
        left = "stream" if route.client_streaming else "unary"
        right = "stream" if route.server_streaming else "unary"
        return getattr(self.channel, f"{left}_{right}")(
            route.path,
            request_serializer=route.request_type.SerializeToString,
            response_deserializer=route.response_type.FromString,
        )

    # -- resolution -------------------------------------------------------------------------

    async def _route(self, service: str, method: str) -> _Route:
        key = (service, method)
        route = self._routes.get(key)
        if route is None:
            local = _local_route(service, method) if self.local_stubs else None
            route = local or await self._remote_route(service, method)
            self._routes[key] = route
        return route

    async def _remote_route(self, service: str, method: str) -> _Route:
        names = await self._list_services()
        full = _pick(service, names, where=f"server {self.target}")
        pool = self._pool = self._pool or descriptor_pool.DescriptorPool()
        try:
            descriptor = pool.FindServiceByName(full)
        except KeyError:
            await self._load_file_containing(full)
            descriptor = pool.FindServiceByName(full)
        m = descriptor.methods_by_name.get(method)
        if m is None:
            raise GrpcError(
                GrpcError.UNIMPLEMENTED,
                f"{full} has no method {method!r}; it has {sorted(descriptor.methods_by_name)}",
            )
        return _Route(
            f"/{full}/{method}",
            m.client_streaming,
            m.server_streaming,
            message_factory.GetMessageClass(m.input_type),
            message_factory.GetMessageClass(m.output_type),
        )

    async def _reflect(self, requests: list[dict[str, Any]]) -> list[Any]:
        from grpc_reflection.v1alpha import reflection_pb2 as rpb

        last: grpc.aio.AioRpcError | None = None
        for path in _REFLECTION:
            call = self.channel.stream_stream(
                path,
                request_serializer=rpb.ServerReflectionRequest.SerializeToString,
                response_deserializer=rpb.ServerReflectionResponse.FromString,
            )
            try:
                return [
                    r
                    async for r in call(iter([rpb.ServerReflectionRequest(**q) for q in requests]))
                ]
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise from_rpc_error(exc) from exc
                last = exc
        raise GrpcError(
            GrpcError.UNIMPLEMENTED,
            f"{self.target} has no local stubs for this service and does not serve reflection; "
            "enable GrpcConfig(reflection=True) on the server or load its stubs",
        ) from last

    async def _list_services(self) -> list[str]:
        if self._remote_services is None:
            (reply,) = await self._reflect([{"list_services": ""}])
            self._remote_services = [s.name for s in reply.list_services_response.service]
        return self._remote_services

    async def _load_file_containing(self, symbol: str) -> None:
        assert self._pool is not None
        (reply,) = await self._reflect([{"file_containing_symbol": symbol}])
        protos = {}
        for blob in reply.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(blob)
            protos[fd.name] = fd
        missing = {d for fd in protos.values() for d in fd.dependency} - set(protos)
        for name in sorted(missing):
            (more,) = await self._reflect([{"file_by_filename": name}])
            for blob in more.file_descriptor_response.file_descriptor_proto:
                fd = descriptor_pb2.FileDescriptorProto.FromString(blob)
                protos.setdefault(fd.name, fd)
        added: set[str] = set()

        def add(name: str) -> None:
            if name in added or name not in protos:
                return
            for dep in protos[name].dependency:
                add(dep)
            try:
                self._pool.FindFileByName(name)  # type: ignore[union-attr]
            except KeyError:
                self._pool.Add(protos[name])  # type: ignore[union-attr]
            added.add(name)

        for name in sorted(protos):
            add(name)


def _pick(service: str, names: Iterable[str], *, where: str) -> str:
    """Resolve a short or full service name among `names`."""
    names = list(names)
    if service in names:
        return service
    matches = sorted(n for n in names if n.rsplit(".", 1)[-1] == service)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise GrpcError(
            GrpcError.INVALID_ARGUMENT,
            f"service name {service!r} is ambiguous on {where}: {', '.join(matches)}; "
            "use the full name",
        )
    raise GrpcError(GrpcError.UNIMPLEMENTED, f"no service {service!r} on {where}")


def _local_route(service: str, method: str) -> _Route | None:
    bindings = loaded_bindings()
    try:
        full = _pick(service, bindings, where="the locally loaded stubs")
    except GrpcError as exc:
        if exc.code == GrpcError.INVALID_ARGUMENT:
            raise
        return None
    for m in bindings[full].methods:
        if m.name == method or m.python_name == method:
            return _Route(
                m.path, m.client_streaming, m.server_streaming, m.request_type, m.response_type
            )
    return None


def _request_parts(
    request: GrpcRequest[Any] | dict[str, Any] | None, metadata: Metadata | None
) -> tuple[Any, Any]:
    if isinstance(request, GrpcRequest):
        merged = {**request.metadata, **dict(metadata or {})}
        return request.data, to_grpc_metadata(merged)
    return request or {}, to_grpc_metadata(metadata)


def _message(data: Any, message_type: Any) -> Any:
    """Convert before the call, so a bad dict is a clear error and nothing is sent."""
    if isinstance(data, GrpcRequest):
        data = data.data
    try:
        return dict_to_message(data, message_type)
    except (ValueError, TypeError) as exc:
        raise GrpcError(GrpcError.INVALID_ARGUMENT, str(exc)) from exc


def _source(route: _Route, data: Any, requests: Iterable[Any] | AsyncIterable[Any] | None) -> Any:
    if not route.client_streaming:
        return _message(data, route.request_type)
    if requests is None:
        return iter([_message(data, route.request_type)])
    if isinstance(requests, AsyncIterable):
        return _converted(requests, route.request_type)
    return iter([_message(r, route.request_type) for r in requests])


async def _converted(requests: AsyncIterable[Any], message_type: Any) -> AsyncIterator[Any]:
    async for r in requests:
        yield _message(r, message_type)
