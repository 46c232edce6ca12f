"""Turn a user's service instance plus generated bindings into grpc method handlers.

Everything that depends on the method (handler style, converters, response shape) is
decided once here, at registration; the per-call closures only call what was chosen.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeAlias

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

from ._binding import MethodBinding, ServiceBinding
from ._client import to_grpc_metadata
from ._convert import dict_to_message, message_to_dict
from ._errors import GrpcError
from ._messages import GrpcRequest, GrpcResponse
from ._service import method_options

logger = logging.getLogger("cello.grpc")

INTERNAL_MESSAGE = "Internal server error"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


def request_metadata(context: Any) -> dict[str, Any]:
    """The call's metadata as a dict (a repeated key keeps its last value)."""
    return {key: value for key, value in (context.invocation_metadata() or ())}


def service_handler(binding: ServiceBinding, instance: object) -> grpc.GenericRpcHandler:
    """A grpc generic handler serving every rpc of `binding` with `instance`'s methods."""
    handlers = {m.name: method_handler(m, instance) for m in binding.methods}
    return grpc.method_handlers_generic_handler(binding.full_name, handlers)


def method_handler(binding: MethodBinding, instance: object) -> grpc.RpcMethodHandler[Any, Any]:
    """The grpc handler for one rpc, with request parsing and error translation around it."""
    func = getattr(instance, binding.python_name)
    invoke = _invoker(binding, func)
    emit = _emitter(binding)
    parse = _parser(binding)
    where = f"{binding.service}/{binding.name}"
    serializer = _serialize

    def source(incoming: Any) -> Any:
        """The parsed request, or an async iterator of them for a client stream."""
        return _parsed(incoming, parse) if binding.client_streaming else parse(incoming)

    async def unary_response(incoming: Any, context: Context) -> bytes:
        try:
            result = await invoke(source(incoming), context)
            return serializer(await emit(result, context, True))
        except BaseException as exc:
            await _fail(exc, context, where)
            raise

    async def stream_response(incoming: Any, context: Context) -> AsyncIterator[bytes]:
        try:
            first = True
            async for item in _results(invoke(source(incoming), context)):
                yield serializer(await emit(item, context, first))
                first = False
        except BaseException as exc:
            await _fail(exc, context, where)
            raise

    behavior = stream_response if binding.server_streaming else unary_response
    factory = getattr(grpc, f"{binding.kind}_rpc_method_handler")
    handler: grpc.RpcMethodHandler[Any, Any] = factory(behavior)
    return handler


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()  # type: ignore[no-any-return]


async def _parsed(
    requests: AsyncIterator[bytes], parse: Callable[[bytes], Any]
) -> AsyncIterator[Any]:
    async for raw in requests:
        yield parse(raw)


def _parser(binding: MethodBinding) -> Callable[[bytes], Any]:
    """bytes → `_pb2` message; malformed input is the client's fault: INVALID_ARGUMENT."""
    from_string = binding.request_type.FromString  # type: ignore[attr-defined]
    type_name = binding.request_type.DESCRIPTOR.full_name  # type: ignore[attr-defined]

    def parse(raw: bytes) -> Any:
        try:
            return from_string(raw)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise GrpcError(
                GrpcError.INVALID_ARGUMENT, f"request is not a valid {type_name} message"
            ) from exc

    return parse


def _invoker(binding: MethodBinding, func: Callable[..., Any]) -> Callable[[Any, Context], Any]:
    """How to call the user's method with one parsed request (or a stream of them)."""
    options = method_options(func)
    if options is not None and not options.implemented:
        message = (
            f"{binding.service}/{binding.name} is declared in the schema but not implemented "
            "by this server"
        )

        def unimplemented(request: Any, context: Context) -> Any:
            raise GrpcError(GrpcError.UNIMPLEMENTED, message)

        return unimplemented
    convert = _request_converter(binding)
    style = binding.style
    if binding.client_streaming:

        async def stream_of(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            async for message in requests:
                yield convert(message, context)

        return lambda requests, context: func(stream_of(requests, context))

    if style == "none":
        return lambda message, context: func()
    if style == "params":
        return lambda message, context: func(**convert(message, context))
    return lambda message, context: func(convert(message, context))


def _request_converter(binding: MethodBinding) -> Callable[[Any, Context], Any]:
    """`_pb2` request → what the handler takes: a dataclass, kwargs, or a `GrpcRequest`."""
    decode = binding.decode_request
    if binding.style != "wrapper":
        return lambda message, context: _decoded(decode, message)
    service, method = binding.service.rsplit(".", 1)[-1], binding.name
    if binding.request_is_struct:
        return lambda message, context: GrpcRequest(
            service, method, decode(message), request_metadata(context), context=context
        )

    def wrap(message: Any, context: Context) -> GrpcRequest[Any]:
        return GrpcRequest(
            service,
            method,
            None,
            request_metadata(context),
            message=_decoded(decode, message),
            context=context,
            to_dict=lambda: message_to_dict(message),
        )

    return wrap


def _decoded(decode: Callable[[Any], Any], message: Any) -> Any:
    try:
        return decode(message)
    except ValueError as exc:  # raised by the user's dataclass validation (__post_init__)
        raise GrpcError(GrpcError.INVALID_ARGUMENT, str(exc)) from exc


async def _results(outcome: Any) -> AsyncIterator[Any]:
    """Items of a server stream: an async generator, or an awaited value (one item or many)."""
    if inspect.isawaitable(outcome):
        outcome = await outcome
    if hasattr(outcome, "__aiter__"):
        async for item in outcome:
            yield item
    elif isinstance(outcome, (list, tuple)):
        for item in outcome:
            yield item
    else:
        yield outcome


def _emitter(binding: MethodBinding) -> Callable[[Any, Context, bool], Awaitable[Any]]:
    """A handler's result → the `_pb2` response, applying `GrpcResponse` status and metadata."""
    encode = binding.encode_response
    response_type = binding.response_type
    accepts_dict = binding.response_shape == "dataclass"

    async def emit(result: Any, context: Context, first: bool) -> Any:
        if isinstance(result, GrpcResponse):
            if result.metadata and first:
                await context.send_initial_metadata(to_grpc_metadata(result.metadata) or ())
            if result.trailers:
                context.set_trailing_metadata(to_grpc_metadata(result.trailers) or ())
            if result.status_code != 0:
                raise GrpcError(result.status_code, result.message)
            result = result.data
        if type(result) is response_type:
            return result
        if accepts_dict and isinstance(result, Mapping):
            return dict_to_message(result, response_type)
        return encode(result)

    return emit


async def _fail(exc: BaseException, context: Context, where: str) -> None:
    """Translate an exception into the call's status; return to let the caller re-raise."""
    if isinstance(exc, GrpcError):
        if exc.metadata:
            context.set_trailing_metadata(to_grpc_metadata(exc.metadata) or ())
        await context.abort(_STATUS.get(exc.code, grpc.StatusCode.UNKNOWN), exc.message)
    if isinstance(exc, Exception) and not isinstance(exc, grpc.aio.AbortError):
        logger.exception("unhandled exception in %s", where)
        await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


_STATUS = {code.value[0]: code for code in grpc.StatusCode if code is not grpc.StatusCode.OK}
