"""Service classes → schema model. All validation of user input happens here."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, get_args, get_origin

from cello._definitions.messages import GrpcRequest, GrpcResponse
from cello._definitions.service import (
    GrpcService,
    MethodOptions,
    is_async_iterator,
    is_sync_iterator,
    streaming_kind,
    to_rpc_name,
)
from cello._errors import DefinitionError

from ..model import (
    HandlerStyle,
    Kind,
    MethodDef,
    PyRef,
    PyShape,
    Schema,
    ServiceDef,
    TypeRef,
    Wkt,
)
from . import contract, naming
from .cycles import refuse_required_cycles
from .hints import is_message_class, refuse_plain_class
from .http import check_rules, to_rule
from .layout import check_acyclic, check_one_package_per_file
from .messages import Package, TypeBuilder, hints_of

if TYPE_CHECKING:
    from ..evolution.lock import Lock

_STRUCT = TypeRef(Kind.MESSAGE, Wkt.STRUCT.value)
_EMPTY = TypeRef(Kind.MESSAGE, Wkt.EMPTY.value)
_MISSING = object()


def build_schema(
    services: Iterable[type[GrpcService]],
    *,
    default_package: str | None = None,
    lock: Lock | None = None,
    file_options: Mapping[str, Any] | None = None,
    modules: Iterable[str] = (),
) -> Schema:
    """Read service classes into a `Schema`: one file per protobuf package.

    Args:
        services: `GrpcService` subclasses, in the order they should appear.
        default_package: the package for services without a `package` attribute;
            without it the package is derived from the service's module name.
        lock: the previous build's lock: fields and enum values keep the numbers it
            records, and the ones it has that are gone become `reserved`. None numbers
            by declaration order.
        file_options: `[tool.cello.options]`: file options keyed by package or by `.proto`
            path; they win over `__cello_options__` in code.
        modules: modules of types only (a contract's file without services, such as
            one `cello-gen import` writes), whose `__cello_types__` are emitted too.

    Raises:
        DefinitionError: a class, method or type hint has no valid protobuf mapping.
    """
    builder = _SchemaBuilder(default_package, lock, file_options or {})
    for cls in services:
        builder.add_service(cls)
    for module in modules:
        builder.add_module(module)
    builder.add_declared_types()
    return builder.schema()


def package_of(cls: type[GrpcService], default_package: str | None) -> str:
    """The protobuf package a service is emitted in."""
    where = f"{cls.__module__}.{cls.__qualname__}"
    explicit = cls.__dict__.get("package") or contract.module_package(cls) or default_package
    if explicit:
        return naming.check_package(explicit, where=where)
    module = cls.__module__
    if module == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None) or "main"
        module = main_file.rsplit("/", 1)[-1].removesuffix(".py")
    return naming.package_from_module(module)


class _SchemaBuilder(TypeBuilder):
    def __init__(
        self, default_package: str | None, lock: Lock | None, file_options: Mapping[str, Any]
    ) -> None:
        super().__init__(lock)
        self.default_package = default_package
        self.file_options = file_options

    def schema(self) -> Schema:
        refuse_required_cycles([m for pkg in self.packages.values() for m in pkg.messages.values()])
        check_rules(
            [s for pkg in self.packages.values() for s in pkg.services],
            {m.full_name: m for pkg in self.packages.values() for m in pkg.messages.values()},
        )
        # where every type is, so a file imports the files of other packages it refers to
        homes = {
            d.full_name: pkg.files[d.local_name]
            for pkg in self.packages.values()
            for defs in (pkg.messages, pkg.enums)
            for d in defs.values()
        }
        files = [
            f
            for pkg in self.packages.values()
            for f in pkg.files.file_defs(
                pkg.messages, pkg.enums, pkg.services, self.file_options, homes
            )
        ]
        check_one_package_per_file(files)
        check_acyclic({f.path: {i for i in f.imports if i in homes.values()} for f in files})
        return Schema(files=tuple(sorted(files, key=lambda f: f.path)))

    # -- services and methods -------------------------------------------------------------

    def add_service(self, cls: type[GrpcService]) -> None:
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not (isinstance(cls, type) and issubclass(cls, GrpcService)):
            raise DefinitionError(f"{cls!r} is not a GrpcService subclass")
        package = package_of(cls, self.default_package)
        pkg = self.package(package)
        self.modules.setdefault(cls.__module__, package)  # its `__cello_types__` go there
        self.service_file = pkg.files.place(cls, where)  # synthesized messages go beside it
        name = naming.check_identifier(cls.name, what="service name", where=where)
        if not pkg.claim(name, ("service", name), where):
            raise DefinitionError(
                f"{where}: a service named {name!r} is already in package {package!r}; "
                "set a different `name`"
            )
        rpcs = cls.rpc_methods()
        if not rpcs:
            raise DefinitionError(
                f"{where}: service has no methods; decorate an `async def` with @grpc_method"
            )
        methods: list[MethodDef] = []
        seen: dict[str, str] = {}
        for attr, func, options in rpcs:
            method = self._method(pkg, f"{where}.{attr}", attr, func, options)
            if method.name in seen:
                raise DefinitionError(
                    f"{where}.{attr}: rpc name {method.name!r} is also used by "
                    f"{seen[method.name]}; pass a distinct `name=` to @grpc_method"
                )
            seen[method.name] = attr
            methods.append(method)
        pkg.services.append(
            ServiceDef(
                name=name,
                full_name=f"{package}.{name}",
                python=PyRef(*naming.python_ref(cls, where=where, importable=False)),
                methods=tuple(methods),
                doc=contract.docstring(cls),
            )
        )
        pkg.files.service_files.append(self.service_file)

    def _method(
        self, pkg: Package, where: str, attr: str, func: Callable[..., Any], options: MethodOptions
    ) -> MethodDef:
        naming.check_python_name(attr, what="method name", where=where)
        client, server = streaming_kind(func, options, where=where)
        hints = hints_of(func, where)
        params = list(inspect.signature(func).parameters.values())[1:]
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise DefinitionError(
                    f"{where}: `*{p.name}` parameters cannot be mapped to a request"
                )
        rpc = naming.check_identifier(options.name or to_rpc_name(attr), what="rpc", where=where)
        if client:
            request, style = self._stream_request(pkg, params, hints, where)
        else:
            request, style = self._request(pkg, rpc, params, hints, where)
        response = self._response(pkg, rpc, hints.get("return", _MISSING), where, server)
        return MethodDef(
            name=rpc,
            python_name=attr,
            request=request,
            response=response,
            client_streaming=client,
            server_streaming=server,
            style=style,
            doc=contract.docstring(func),
            implemented=options.implemented,
            idempotent=options.idempotent,
            http=to_rule(options.http) if options.http is not None else None,
            options=contract.proto_options(
                options.options, "MethodOptions", where=where, block=True
            ),
        )

    def _request(
        self,
        pkg: Package,
        rpc: str,
        params: list[inspect.Parameter],
        hints: dict[str, Any],
        where: str,
    ) -> tuple[TypeRef, HandlerStyle]:
        if not params:
            return _EMPTY, HandlerStyle.NONE
        if len(params) == 1:
            hint = hints.get(params[0].name, _MISSING)
            if hint is _MISSING:
                return _STRUCT, HandlerStyle.WRAPPER
            single = self._single_request(pkg, hint, f"{where}({params[0].name})")
            if single is not None:
                return single
        for p in params:
            if p.name not in hints:
                raise DefinitionError(
                    f"{where}: parameter {p.name!r} has no type hint; annotate every parameter "
                    "or take a single untyped `request`"
                )
        name = f"{rpc}Request"
        fields = [(p.name, hints[p.name], p.default is not p.empty) for p in params]
        return self._synthesized(pkg, name, PyShape.PARAMS, fields, where), HandlerStyle.PARAMS

    def _single_request(
        self, pkg: Package, hint: Any, where: str
    ) -> tuple[TypeRef, HandlerStyle] | None:
        """A request hint naming a whole message, or None for a plain parameter."""
        if hint is GrpcRequest:
            return _STRUCT, HandlerStyle.WRAPPER
        if get_origin(hint) is GrpcRequest:
            (inner,) = get_args(hint)
            ref = self._message_ref(pkg, inner, where)
            if ref is None:
                raise DefinitionError(
                    f"{where}: GrpcRequest[{inner!r}] needs a dataclass or dict inside"
                )
            return ref, HandlerStyle.WRAPPER
        ref = self._message_ref(pkg, hint, where)
        return None if ref is None else (ref, HandlerStyle.MESSAGE)

    def _stream_request(
        self, pkg: Package, params: list[inspect.Parameter], hints: dict[str, Any], where: str
    ) -> tuple[TypeRef, HandlerStyle]:
        if len(params) != 1:
            raise DefinitionError(
                f"{where}: a client-streaming method takes exactly one parameter, "
                "`requests: AsyncIterator[Message]`"
            )
        hint = hints.get(params[0].name, _MISSING)
        if hint is _MISSING:
            return _STRUCT, HandlerStyle.WRAPPER
        args = get_args(hint)
        single = self._single_request(pkg, args[0], where) if args else None
        if single is None:
            raise DefinitionError(
                f"{where}: client-streaming parameter must be `AsyncIterator[Dataclass]` "
                f"(or of GrpcRequest[...]), got `{hint!r}`"
            )
        return single

    def _response(self, pkg: Package, rpc: str, hint: Any, where: str, streaming: bool) -> TypeRef:
        if is_async_iterator(hint) or (streaming and is_sync_iterator(hint)):
            hint = get_args(hint)[0] if get_args(hint) else _MISSING
        if get_origin(hint) is GrpcResponse:  # `-> GrpcResponse[Book]` answers a Book
            (hint,) = get_args(hint)
        if hint is _MISSING or hint is GrpcResponse or hint is Any:
            return _STRUCT
        if hint is None or hint is type(None):
            return _EMPTY
        ref = self._message_ref(pkg, hint, f"{where}(return)")
        if ref is not None:
            return ref
        refuse_plain_class(hint, f"{where}(return)")  # not a scalar wrapped in `.value`
        name = f"{rpc}Response"
        return self._synthesized(pkg, name, PyShape.VALUE, [("value", hint, False)], where)

    def _message_ref(self, pkg: Package, hint: Any, where: str) -> TypeRef | None:
        """The message a whole-message hint names (dataclass, dict → Struct), else None."""
        if is_message_class(hint):
            return TypeRef(Kind.MESSAGE, self._message(pkg, hint))
        if hint is dict or (get_origin(hint) is dict and get_args(hint)[1] is Any):
            return _STRUCT
        return None
