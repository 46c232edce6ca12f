"""Turn a user's service instance plus generated bindings into protocol-neutral endpoints.

Everything that depends on the method (handler style, converters, response shape) is
decided once here, at registration; the per-call closures only call what was chosen.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._definitions.messages import GrpcRequest, GrpcResponse
from .._definitions.service import method_options
from .._errors import GrpcError
from .context import CallContext
from .endpoint import INTERNAL_MESSAGE, Endpoint, Limiter, Middleware, endpoint, results
from .sync_handlers import HandlerThreads, in_thread, inline, iterate_in_thread, iterate_inline
from .validation import invalid_argument

if TYPE_CHECKING:
    from .._wire.binding import MethodBinding, ServiceBinding
    from .telemetry import Telemetry

logger = logging.getLogger("cello.grpc")


def service_endpoints(
    binding: ServiceBinding,
    instance: object,
    *,
    middleware: Sequence[Middleware] = (),
    limiter: Limiter | None = None,
    threads: HandlerThreads | None = None,
    telemetry: Telemetry | None = None,
) -> list[Endpoint]:
    """One endpoint per rpc of `binding`, served by `instance`'s methods; plain `def`
    methods run in `threads`."""
    threads = threads or HandlerThreads(8)
    return [
        method_endpoint(
            m,
            instance,
            middleware=middleware,
            limiter=limiter,
            threads=threads,
            telemetry=telemetry,
        )
        for m in binding.methods
    ]


def method_endpoint(
    binding: MethodBinding,
    instance: object,
    *,
    middleware: Sequence[Middleware] = (),
    limiter: Limiter | None = None,
    threads: HandlerThreads | None = None,
    telemetry: Telemetry | None = None,
) -> Endpoint:
    """The endpoint of one rpc: the user's method wrapped in request/response conversion."""
    func = getattr(instance, binding.python_name)
    invoke = _invoker(binding, func, threads or HandlerThreads(8))
    convert = _converter(binding, func)

    if binding.server_streaming:
        # One loop from the handler's iterator to the transport's write, with no async
        # generator in between: every message (and every suspension in a write) passes
        # through each layer's frame.

        async def handler(request: Any, call: CallContext) -> None:
            write = call._write  # type: ignore[attr-defined]
            first = True
            # the handler's iterator is in no local variable: a traceback keeps this frame's
            # locals alive, and the iterator must be freed (so closed, its `finally` run) as
            # soon as a cancelled call unwinds
            async for item in _items(invoke(request, call)):
                if isinstance(item, GrpcResponse):
                    item = await _unwrap(item, call, first)
                await write(convert(item))
                first = False

    else:

        async def handler(request: Any, call: CallContext) -> Any:  # type: ignore[misc]
            result = await invoke(request, call)
            if isinstance(result, GrpcResponse):
                result = await _unwrap(result, call, True)
            return convert(result)

    return endpoint(
        binding.path,
        binding.request_type,
        binding.response_type,
        handler,
        client_streaming=binding.client_streaming,
        server_streaming=binding.server_streaming,
        writes=True,
        middleware=middleware,
        limiter=limiter,
        telemetry=telemetry,
    )


def _items(outcome: Any) -> AsyncIterator[Any]:
    """What a stream handler returned, as an async iterator: an async generator (the usual
    case) as is, anything else through `results`."""
    if hasattr(outcome, "__anext__") and not hasattr(outcome, "__await__"):
        return outcome  # type: ignore[no-any-return]
    return results(outcome)  # type: ignore[return-value]


def _off_the_loop(func: Callable[..., Any], threads: HandlerThreads) -> Callable[..., Any]:
    """A sync handler made async: it runs in the pool, so it cannot block the event loop
    (or on the call's own thread, when `threads.inline`)."""
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        return func
    if inspect.isgeneratorfunction(func):
        return iterate_inline(func) if threads.inline else iterate_in_thread(func, threads)
    return inline(func) if threads.inline else in_thread(func, threads)


def _invoker(
    binding: MethodBinding, func: Callable[..., Any], threads: HandlerThreads
) -> Callable[[Any, CallContext], Any]:
    """How to call the user's method with one request message (or a stream of them)."""
    options = method_options(func)
    if options is not None and not options.implemented:
        message = (
            f"{binding.service}/{binding.name} is declared in the schema but not implemented "
            "by this server"
        )

        def unimplemented(request: Any, call: CallContext) -> Any:
            raise GrpcError(GrpcError.UNIMPLEMENTED, message)

        return unimplemented
    func = _off_the_loop(func, threads)
    convert = _request_converter(binding)
    style = binding.style
    if binding.client_streaming:

        async def stream_of(requests: AsyncIterator[Any], call: CallContext) -> AsyncIterator[Any]:
            async for message in requests:
                yield convert(message, call)

        return lambda requests, call: func(stream_of(requests, call))

    if style == "none":
        return lambda message, call: func()
    if style == "params":
        return lambda message, call: func(**convert(message, call))
    return lambda message, call: func(convert(message, call))


def _request_converter(binding: MethodBinding) -> Callable[[Any, CallContext], Any]:
    """`_pb2` request → what the handler takes: a dataclass, kwargs, or a `GrpcRequest`."""
    decode = binding.decode_request
    if binding.style != "wrapper":
        return lambda message, call: _decoded(decode, message)
    service, method = binding.service.rsplit(".", 1)[-1], binding.name
    if binding.request_is_struct:
        return lambda message, call: GrpcRequest(
            service, method, decode(message), call.metadata.to_dict(), context=call
        )

    # protobuf's descriptor machinery loads when a service is bound, not at `import cello`
    from .._wire.convert import message_to_dict

    def wrap(message: Any, call: CallContext) -> GrpcRequest[Any]:
        return GrpcRequest(
            service,
            method,
            None,
            call.metadata.to_dict(),
            message=_decoded(decode, message),
            context=call,
            to_dict=lambda: message_to_dict(message),
        )

    return wrap


def _decoded(decode: Callable[[Any], Any], message: Any) -> Any:
    try:
        return decode(message)
    except ValueError as exc:  # the user's validation: pydantic, or a `__post_init__`
        raise invalid_argument(exc) from exc


def _misfit(result: Any, handler: Callable[..., Any]) -> str | None:
    from .._wire.misfit import misfit  # the error path only: never imported by a healthy server

    try:
        return misfit(result, handler)
    except Exception:  # the located message is a courtesy; the original error still logs
        logger.debug("could not locate the misfit in %r", result, exc_info=True)
        return None


async def _unwrap(result: GrpcResponse[Any], call: CallContext, first: bool) -> Any:
    """A `GrpcResponse`'s data, after applying its headers, trailers and status."""
    if result.metadata and first and not call.headers_sent:
        await call.send_headers(result.metadata)
    if result.trailers:
        call.set_trailers(result.trailers)
    if result.status_code != 0:
        raise GrpcError(result.status_code, result.message)
    return result.data


def _converter(binding: MethodBinding, handler: Callable[..., Any]) -> Callable[[Any], Any]:
    """A handler's result → the `_pb2` response (a message passes through as is).

    A plain dict goes to the stub's generated dict encoder where there is one (stubs of
    older generators have none), else to the generic mapping; both give the same message.
    When the generated encoder fails, the result is walked again against `handler`'s
    return type, to log which field is wrong; the fast path pays nothing for it.
    """
    encode = binding.encode_response
    response_type = binding.response_type
    accepts_dict = binding.response_shape == "dataclass"
    where = f"{binding.service}/{binding.name}"
    expected = getattr(response_type, "DESCRIPTOR", None)
    expected_name = expected.full_name if expected is not None else response_type.__name__
    from .._wire.convert import dict_to_message  # loaded when a service is bound, not at import

    encode_dict = binding.encode_response_dict or (
        lambda data: dict_to_message(data, response_type)
    )

    def convert(result: Any) -> Any:
        kind = type(result)
        if kind is response_type:
            return result
        try:
            if kind is dict and accepts_dict:
                return encode_dict(result)
            # a dataclass or pydantic result skips the (slow, ABC) Mapping check
            dataclass_result = hasattr(kind, "__dataclass_fields__") or hasattr(
                kind, "__pydantic_fields__"
            )
            if accepts_dict and not dataclass_result and isinstance(result, Mapping):
                return encode_dict(result)
            return encode(result)
        except Exception as exc:
            shown = repr(result)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            # a refused dict already names its field
            mapping = accepts_dict and isinstance(result, Mapping)
            problem = None if mapping else _misfit(result, handler)
            if problem is not None:
                logger.error("%s returned %s: %s", where, shown, problem)
            else:
                logger.error(
                    "%s returned %s, expected %s", where, shown, expected_name, exc_info=exc
                )
            raise GrpcError(GrpcError.INTERNAL, INTERNAL_MESSAGE) from exc

    return convert
