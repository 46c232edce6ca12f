"""The service base class, the `@grpc_method` decorator and the `@not_rpc` marker."""

from __future__ import annotations

import inspect
import warnings
from collections import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    TypeVar,
    get_origin,
    get_type_hints,
    overload,
)

from .._errors import CelloWarning, DefinitionError

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__cello_grpc_method__"
_NOT_RPC = "__cello_not_rpc__"

if TYPE_CHECKING:
    from .http import Http


@dataclass(frozen=True, slots=True)
class MethodOptions:
    """What `@grpc_method(...)` declared; `None` means "not said, infer from annotations"."""

    name: str | None = None
    server_streaming: bool | None = None
    client_streaming: bool | None = None
    implemented: bool = True
    idempotent: bool = False
    http: Http | None = None  # the REST route (google.api.http)
    options: Any = None  # method options of descriptor.proto, checked by the generator


@overload
def grpc_method(func: F, /) -> F: ...
@overload
def grpc_method(
    *,
    stream: bool | None = None,
    client_stream: bool | None = None,
    name: str | None = None,
    implemented: bool = True,
    idempotent: bool = False,
    http: Http | None = None,
    options: Mapping[str, bool | int | float | str] | None = None,
) -> Callable[[F], F]: ...
def grpc_method(
    func: F | None = None,
    /,
    *,
    stream: bool | None = None,
    client_stream: bool | None = None,
    name: str | None = None,
    implemented: bool = True,
    idempotent: bool = False,
    http: Http | None = None,
    options: Mapping[str, bool | int | float | str] | None = None,
) -> F | Callable[[F], F]:
    """Mark a method of a `GrpcService` as an rpc.

    An `async def` runs on the event loop; a plain `def` (or a generator, for a server
    stream) runs in the server's thread pool (`GrpcConfig.handler_threads`).

    Args:
        stream: the server sends a stream of responses (server streaming).
        client_stream: the client sends a stream of requests; with `stream` it is bidirectional.
        name: the rpc's name on the wire; defaults to the method name in UpperCamel case.
        implemented: False declares the rpc for the schema only (a body of `...` is
            enough): it is emitted in the `.proto` and answers UNIMPLEMENTED.
        idempotent: the rpc has no side effects: the `.proto` says
            `option idempotency_level = NO_SIDE_EFFECTS;`, and Connect clients may call it
            with HTTP `GET` (cacheable).
        options: method options of `descriptor.proto` written in the `.proto`
            (`{"deprecated": True}` → `option deprecated = true;`); `{}` writes an empty
            body (`rpc X(A) returns (B) {}`), as some contracts have.

    Streaming may also be inferred from `AsyncIterator[...]` annotations; an explicit
    argument that contradicts them is a definition error.
    """
    proto_options = None if options is None else tuple(dict(options).items())
    declared = MethodOptions(
        name=name,
        server_streaming=stream,
        client_streaming=client_stream,
        implemented=implemented,
        idempotent=idempotent,
        http=http,
        options=proto_options,
    )
    if http is not None and not _is_http(http):
        raise DefinitionError(
            f"@grpc_method(http=...) takes an Http rule, got {http!r}; "
            'write http=Http.get("/v1/things/{id}")'
        )

    def mark(f: F) -> F:
        if not callable(f):
            raise DefinitionError(f"@grpc_method decorates a function, got {f!r}")
        if getattr(f, _NOT_RPC, False):
            raise DefinitionError(
                f"{f.__module__}.{f.__qualname__} is marked both @grpc_method and @not_rpc; "
                "keep one"
            )
        is_async = inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f)
        if not is_async and client_stream and implemented:
            raise DefinitionError(
                f"{f.__module__}.{f.__qualname__}: a client-streaming method must be "
                "`async def` (it reads requests with `async for`); add `async`"
            )
        setattr(f, _MARK, declared)
        return f

    if func is not None:
        return mark(func)
    return mark


def not_rpc(func: F, /) -> F:
    """Mark a public `async def` of a `GrpcService` as a helper, not an rpc.

    A public coroutine method without `@grpc_method` is usually a forgotten decorator, so
    registering its service warns (`CelloWarning`); this marker (or a `_private` name)
    says it is meant.

    Raises:
        DefinitionError: `func` is also marked `@grpc_method`.
    """
    if method_options(func) is not None:
        raise DefinitionError(
            f"{func.__module__}.{func.__qualname__} is marked both @grpc_method and "
            "@not_rpc; keep one"
        )
    setattr(func, _NOT_RPC, True)
    return func


def method_options(func: Any) -> MethodOptions | None:
    """The options `@grpc_method` attached to `func`, or None if it is not an rpc."""
    options = getattr(func, _MARK, None)
    return options if isinstance(options, MethodOptions) else None


def to_rpc_name(python_name: str) -> str:
    """`get_user` → `GetUser`; names already in UpperCamel case are kept."""
    if "_" not in python_name:
        return python_name[:1].upper() + python_name[1:]
    return "".join(part[:1].upper() + part[1:] for part in python_name.split("_") if part)


_CONTRACT = "__cello_contract__"


class GrpcService:
    """Base class for a gRPC service; its `@grpc_method` methods are the rpcs.

    Class attributes:
        name: the service name on the wire (defaults to the class name, or to the name of
            the contract class it subclasses).
        package: the protobuf package (defaults to the project's, else the module's name).

    Class keyword:
        contract: `class Health(GrpcService, contract=True)` declares a published
            contract (as `cello-gen import` writes it): a subclass implementing it keeps
            its name on the wire (`Health`, not the subclass's own name).
    """

    name: ClassVar[str]
    package: ClassVar[str | None] = None

    def __init_subclass__(cls, *, contract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            bases = cls.__mro__[1:]
            contracts = [k for k in bases if k.__dict__.get(_CONTRACT)]
            inherited = str(contracts[0].__dict__["name"]) if contracts else None
            cls.name = inherited or cls.__name__
        if contract:
            setattr(cls, _CONTRACT, True)

    @classmethod
    def rpc_methods(cls) -> list[tuple[str, Callable[..., Any], MethodOptions]]:
        """`(python_name, function, options)` for every rpc, in declaration order."""
        found: dict[str, tuple[str, Callable[..., Any], MethodOptions]] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                options = method_options(value)
                if options is not None:
                    found[attr] = (attr, value, options)
                elif attr in found:
                    del found[attr]
        return list(found.values())

    def get_methods(self) -> list[dict[str, Any]]:
        """The rpcs as `[{"name": ..., "stream": ..., "client_stream": ...}, ...]`."""
        result = []
        for attr, func, options in self.rpc_methods():
            client, server = streaming_kind(func, options, where=f"{type(self).__name__}.{attr}")
            name = options.name or to_rpc_name(attr)
            result.append({"name": name, "stream": server, "client_stream": client})
        return result


def unserved_methods(cls: type[GrpcService]) -> list[str]:
    """Why each public `async def` that is neither an rpc nor `@not_rpc` is not served.

    One line per method, naming `module.Class.method` and the fix. Private (`_name`)
    methods, and members of `GrpcService` itself, are never rpcs.
    """
    defined: dict[str, tuple[type, Any]] = {}
    rpc_in: dict[str, type] = {}  # the nearest class that declared `attr` an rpc
    for klass in reversed(cls.__mro__):
        if klass is object or klass is GrpcService:
            continue
        for attr, value in vars(klass).items():
            defined[attr] = (klass, value)
            if method_options(value) is not None:
                rpc_in[attr] = klass
    problems = []
    for attr, (klass, value) in defined.items():
        func = getattr(value, "__func__", value)  # a staticmethod or classmethod
        coroutine = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
        base = rpc_in.get(attr)
        # a sync helper is common; a sync method replacing an rpc hides that rpc
        suspect = coroutine or (base is not None and callable(func))
        if attr.startswith("_") or not suspect or method_options(value) is not None:
            continue
        if getattr(value, _NOT_RPC, False) or getattr(func, _NOT_RPC, False):
            continue
        where = f"{klass.__module__}.{klass.__qualname__}.{attr}"
        why = (
            f"overrides the rpc {base.__qualname__}.{attr} without @grpc_method"
            if base is not None
            else "is a public `async def` without @grpc_method"
        )
        problems.append(
            f"{where} {why}, so it is not served; add @grpc_method, or name it `_{attr}`, "
            "or mark it @not_rpc"
        )
    return problems


def warn_unserved_methods(cls: type[GrpcService], *, stacklevel: int = 2) -> None:
    """Warn (`CelloWarning`) about each public `async def` of `cls` that is not served.

    A warning rather than an error: the service works as written, and a helper method is
    legitimate; a warning (not a log line) points at the `register_service` call, is
    filtered by its category, and fails the user's test suite under `-W error`.
    """
    for problem in unserved_methods(cls):
        warnings.warn(problem, CelloWarning, stacklevel=stacklevel + 1)


def is_async_iterator(hint: Any) -> bool:
    """True for `AsyncIterator[T]`, `AsyncIterable[T]` and `AsyncGenerator[T, ...]`."""
    return get_origin(hint) in (abc.AsyncIterator, abc.AsyncIterable, abc.AsyncGenerator)


def is_sync_iterator(hint: Any) -> bool:
    """True for `Iterator[T]`, `Iterable[T]` and `Generator[T, ...]`: a sync server stream."""
    return get_origin(hint) in (abc.Iterator, abc.Iterable, abc.Generator)


def is_sync_handler(func: Callable[..., Any]) -> bool:
    """A plain `def` (or sync generator) handler, which runs in a thread."""
    return not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func))


def streaming_kind(
    func: Callable[..., Any], options: MethodOptions, *, where: str
) -> tuple[bool, bool]:
    """`(client_streaming, server_streaming)` from the decorator and the annotations.

    Raises:
        DefinitionError: the decorator and the annotations disagree.
    """
    try:
        hints = get_type_hints(func, include_extras=True)
    except Exception as exc:  # unresolvable forward references
        raise DefinitionError(f"{where}: cannot resolve type hints ({exc})") from exc
    returns = hints.get("return")
    server_hint = inspect.isasyncgenfunction(func) or is_async_iterator(returns)
    if is_sync_handler(func):
        server_hint = server_hint or inspect.isgeneratorfunction(func) or is_sync_iterator(returns)
    params = list(inspect.signature(func).parameters)[1:]
    client_hint = any(is_async_iterator(hints.get(p)) for p in params)
    if client_hint and options.implemented and is_sync_handler(func):
        raise DefinitionError(
            f"{where}: a client-streaming method must be `async def` (it reads requests "
            "with `async for`); add `async`"
        )
    server = _agree(where, "stream", options.server_streaming, server_hint, "returns")
    client = _agree(where, "client_stream", options.client_streaming, client_hint, "takes")
    return client, server


def _agree(where: str, arg: str, declared: bool | None, annotated: bool, verb: str) -> bool:
    if declared is None or declared == annotated:
        return annotated or bool(declared)
    if declared and not annotated:
        # `stream=True` on an unannotated method (the seed's style) is a declaration, not a clash.
        return True
    raise DefinitionError(
        f"{where}: @grpc_method({arg}=False) but the method {verb} an async iterator; "
        f"drop `{arg}=False` or change the annotation"
    )


def _is_http(value: object) -> bool:
    from .http import Http  # the REST rules load only for services that declare one

    return isinstance(value, Http)
