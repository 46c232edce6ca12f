"""Service classes → schema model. All validation of user input happens here."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, get_args, get_origin, get_type_hints

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

from . import contract, naming
from .cycles import refuse_required_cycles
from .fields import class_fields, needs_presence
from .hints import (
    Mapped,
    is_enum_class,
    is_message_class,
    map_hint,
    mentions_newtype,
    refuse_plain_class,
)
from .layout import PackageFiles, check_one_package_per_file
from .model import (
    EnumDef,
    EnumValueDef,
    FieldDef,
    HandlerStyle,
    Kind,
    Label,
    MessageDef,
    MethodDef,
    OneofDef,
    PyRef,
    PyShape,
    Reserved,
    Schema,
    ServiceDef,
    TypeRef,
    Wkt,
)
from .numbering import History, Slot, assign_numbers
from .scopes import enclosing_dataclass, local_name

if TYPE_CHECKING:
    from .lock import Lock

_STRUCT = TypeRef(Kind.MESSAGE, Wkt.STRUCT.value)
_EMPTY = TypeRef(Kind.MESSAGE, Wkt.EMPTY.value)
_MISSING = object()


def build_schema(
    services: Iterable[type[GrpcService]],
    *,
    default_package: str | None = None,
    lock: Lock | None = None,
    file_options: Mapping[str, Any] | None = None,
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

    Raises:
        DefinitionError: a class, method or type hint has no valid protobuf mapping.
    """
    builder = _SchemaBuilder(default_package, lock, file_options or {})
    for cls in services:
        builder.add_service(cls)
    return builder.schema()


def package_of(cls: type[GrpcService], default_package: str | None) -> str:
    """The protobuf package a service is emitted in."""
    where = f"{cls.__module__}.{cls.__qualname__}"
    explicit = cls.__dict__.get("package") or default_package
    if explicit:
        return naming.check_package(explicit, where=where)
    module = cls.__module__
    if module == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None) or "main"
        module = main_file.rsplit("/", 1)[-1].removesuffix(".py")
    return naming.package_from_module(module)


@dataclasses.dataclass
class _Package:
    name: str
    messages: dict[str, MessageDef] = dataclasses.field(default_factory=dict)
    enums: dict[str, EnumDef] = dataclasses.field(default_factory=dict)
    owners: dict[str, Any] = dataclasses.field(default_factory=dict)
    services: list[ServiceDef] = dataclasses.field(default_factory=list)
    files: PackageFiles = dataclasses.field(default_factory=PackageFiles)
    # scope of enum values (package or enclosing message) → value name → who has it
    enum_values: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    idents: dict[str, str] = dataclasses.field(default_factory=dict)  # stub name → local name

    def __post_init__(self) -> None:
        self.files.package = self.name

    def claim(self, name: str, owner: Any, where: str) -> bool:
        """Reserve a proto name for `owner`; False if it already has it, error if another does."""
        current = self.owners.get(name)
        if current is None:
            self.owners[name] = owner
            return True
        if current is owner or current == owner:
            return False
        raise DefinitionError(
            f"{where}: two types are named {name!r} in package {self.name!r} "
            f"({_owner_name(current)} and {_owner_name(owner)}); rename one of them"
        )


def _owner_name(owner: Any) -> str:
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}"
    return str(owner)


class _SchemaBuilder:
    def __init__(
        self, default_package: str | None, lock: Lock | None, file_options: Mapping[str, Any]
    ) -> None:
        self.default_package = default_package
        self.lock = lock
        self.file_options = file_options
        self.packages: dict[str, _Package] = {}
        self.service_file = ""

    def schema(self) -> Schema:
        refuse_required_cycles([m for pkg in self.packages.values() for m in pkg.messages.values()])
        files = [
            f
            for pkg in self.packages.values()
            for f in pkg.files.file_defs(pkg.messages, pkg.enums, pkg.services, self.file_options)
        ]
        check_one_package_per_file(files)
        return Schema(files=tuple(sorted(files, key=lambda f: f.path)))

    # -- services and methods -------------------------------------------------------------

    def add_service(self, cls: type[GrpcService]) -> None:
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not (isinstance(cls, type) and issubclass(cls, GrpcService)):
            raise DefinitionError(f"{cls!r} is not a GrpcService subclass")
        package = package_of(cls, self.default_package)
        pkg = self.packages.setdefault(package, _Package(package))
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
        self, pkg: _Package, where: str, attr: str, func: Callable[..., Any], options: MethodOptions
    ) -> MethodDef:
        naming.check_python_name(attr, what="method name", where=where)
        client, server = streaming_kind(func, options, where=where)
        hints = _hints(func, where)
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
        )

    def _request(
        self,
        pkg: _Package,
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
        self, pkg: _Package, hint: Any, where: str
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
        self, pkg: _Package, params: list[inspect.Parameter], hints: dict[str, Any], where: str
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

    def _response(self, pkg: _Package, rpc: str, hint: Any, where: str, streaming: bool) -> TypeRef:
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

    def _message_ref(self, pkg: _Package, hint: Any, where: str) -> TypeRef | None:
        """The message a whole-message hint names (dataclass, dict → Struct), else None."""
        if is_message_class(hint):
            return TypeRef(Kind.MESSAGE, self._message(pkg, hint))
        if hint is dict or (get_origin(hint) is dict and get_args(hint)[1] is Any):
            return _STRUCT
        return None

    # -- messages and enums ---------------------------------------------------------------

    def _synthesized(
        self,
        pkg: _Package,
        name: str,
        shape: PyShape,
        params: list[tuple[str, Any, bool]],
        where: str,
    ) -> TypeRef:
        naming.check_identifier(name, what="message name", where=where)
        pkg.claim(name, f"the synthesized message of {where}", where)
        _claim_ident(pkg, name, where)
        pkg.files[name] = self.service_file
        fields: list[tuple[str, Mapped]] = []
        defaults = set()
        for pname, hint, has_default in params:
            mapped = map_hint(hint, f"{where}.{pname}")
            if has_default:
                defaults.add(pname)
                if mapped.label is Label.SINGULAR and mapped.type.kind is not Kind.MESSAGE:
                    # presence on the wire, so an absent value leaves the Python default
                    mapped = dataclasses.replace(mapped, label=Label.OPTIONAL)
            fields.append((pname, mapped))
        full = f"{pkg.name}.{name}"
        field_defs, oneofs, reserved = self._fields(pkg, fields, where, full)
        field_defs = tuple(
            dataclasses.replace(f, has_default=f.python_name in defaults) for f in field_defs
        )
        pkg.messages[name] = MessageDef(name, full, shape, field_defs, oneofs, reserved=reserved)
        return TypeRef(Kind.MESSAGE, full)

    def _claim_type(self, pkg: _Package, cls: type, where: str) -> tuple[str, bool]:
        """Claim a message or enum's name: `(full name, True if new)`. A class nested in a
        dataclass is a nested type, and its enclosing message is added too."""
        scope, name = local_name(cls, where)
        local = ".".join((*scope, name))
        full = f"{pkg.name}.{local}"
        if not pkg.claim(local, cls, where):
            return full, False
        _claim_ident(pkg, local, where)
        outer = enclosing_dataclass(cls)
        if outer is None:
            pkg.files[local] = pkg.files.place(cls, where)
            return full, True
        self._message(pkg, outer)  # already claimed if it is the one referring to `cls`
        pkg.files[local] = pkg.files.place_nested(cls, scope, where)
        return full, True

    def _message(self, pkg: _Package, cls: type) -> str:
        where = f"{cls.__module__}.{cls.__qualname__}"
        python = PyRef(*naming.python_ref(cls, where=where))
        full, new = self._claim_type(pkg, cls, where)
        if not new:
            return full
        scope, name = local_name(cls, where)
        hints = _hints(cls, where)
        fields: list[tuple[str, Mapped]] = []
        docs: dict[str, str] = {}
        specs = class_fields(cls, where)
        for spec in specs:
            fwhere = f"{where}.{spec.name}"
            hint = hints[spec.name]
            mapped = map_hint(hint, fwhere)
            if spec.number is not None:
                mapped = dataclasses.replace(mapped, number=spec.number)
            if needs_presence(spec, mapped):  # absent on the wire means the Python default
                mapped = dataclasses.replace(mapped, label=Label.OPTIONAL)
            fields.append((spec.name, mapped))
            docs[spec.name] = contract.clean_doc(spec.description) or contract.field_doc(hint)
        history = self._history(full, cls, scope, "message")
        field_defs, oneofs, reserved = self._fields(pkg, fields, where, full, history=history)
        defaulted = {spec.name for spec in specs if spec.has_default}
        newtypes = {spec.name for spec in specs if mentions_newtype(hints[spec.name])}
        field_defs = tuple(
            dataclasses.replace(
                f,
                doc=docs.get(f.python_name, ""),
                has_default=f.python_name in defaulted,
                newtype=f.python_name in newtypes,
            )
            for f in field_defs
        )
        pkg.messages[full.removeprefix(pkg.name + ".")] = MessageDef(
            name,
            full,
            PyShape.DATACLASS,
            field_defs,
            oneofs,
            python,
            reserved,
            doc=contract.docstring(cls),
            scope=scope,
        )
        return full

    def _history(self, full: str, cls: type, scope: tuple[str, ...], kind: str) -> History | None:
        """The lock's numbers for a type; a nested type also finds them under the flattened
        name (`OuterInner`) that Cello gave nested classes before they were nested types."""
        if self.lock is None:
            return None
        find = self.lock.message_history if kind == "message" else self.lock.enum_history
        history = find(full)
        if history is None and scope:
            package = full[: -len(".".join((*scope, cls.__name__))) - 1]
            history = find(f"{package}.{''.join(scope)}{cls.__name__}")
        return history

    def _fields(
        self,
        pkg: _Package,
        fields: Sequence[tuple[str, Mapped]],
        where: str,
        full: str,
        *,
        history: History | None = None,
    ) -> tuple[tuple[FieldDef, ...], tuple[OneofDef, ...], Reserved]:
        """Resolve field types and numbers; oneof members become fields of their own."""
        slots: list[tuple[str, str, Mapped, str | None]] = []  # proto name, py name, type, oneof
        oneofs: list[OneofDef] = []
        seen: dict[str, str] = {}

        def add(proto: str, py: str, mapped: Mapped, oneof: str | None) -> None:
            naming.check_python_name(py, what="field name", where=f"{where}.{py}")
            naming.check_field_name(proto, what="field name", where=f"{where}.{py}")
            if proto in seen:
                raise DefinitionError(
                    f"{where}.{py}: field name {proto!r} clashes with {where}.{seen[proto]}; "
                    "rename one of them"
                )
            seen[proto] = py
            slots.append((proto, py, mapped, oneof))

        for py_name, mapped in fields:
            proto = naming.to_snake(py_name)
            if mapped.members:
                naming.check_field_name(proto, what="oneof name", where=f"{where}.{py_name}")
                oneofs.append(OneofDef(proto, py_name, mapped.optional))
                for member in mapped.members:
                    resolved = self._resolve(pkg, member)
                    suffix = naming.to_snake(resolved.type.name.rsplit(".", 1)[-1])
                    add(f"{proto}_{suffix}", py_name, resolved, proto)
                seen[proto] = py_name
            else:
                add(proto, py_name, self._resolve(pkg, mapped), None)
        numbering = assign_numbers(
            [Slot(proto, mapped.number, f"{where}.{py}") for proto, py, mapped, _ in slots],
            history=history or (self.lock.message_history(full) if self.lock else None),
        )
        defs = tuple(
            FieldDef(
                name=proto,
                python_name=py,
                number=number,
                type=mapped.type,
                label=mapped.label,
                key_type=mapped.key_type,
                oneof=oneof,
                explicit_number=mapped.number is not None,
                nullable=mapped.optional,
                as_tuple=mapped.as_tuple,
            )
            for (proto, py, mapped, oneof), number in zip(slots, numbering.numbers, strict=True)
        )
        return defs, tuple(oneofs), numbering.reserved

    def _resolve(self, pkg: _Package, mapped: Mapped) -> Mapped:
        """Fill in the full name of a message or enum type."""
        if mapped.python is None:
            return mapped
        if is_enum_class(mapped.python):
            ref = TypeRef(Kind.ENUM, self._enum(pkg, mapped.python))
        else:
            ref = TypeRef(Kind.MESSAGE, self._message(pkg, mapped.python))
        return dataclasses.replace(mapped, type=ref)

    def _enum(self, pkg: _Package, cls: type) -> str:
        where = f"{cls.__module__}.{cls.__qualname__}"
        python = PyRef(*naming.python_ref(cls, where=where))
        full, new = self._claim_type(pkg, cls, where)
        if not new:
            return full
        scope, name = local_name(cls, where)
        options = contract.enum_options_of(cls)
        prefixed = options.prefix
        prefix = naming.to_upper_snake(name)
        members: list[Any] = list(cls)  # type: ignore[call-overload]
        if not members:
            raise DefinitionError(f"{where}: enum has no members")
        # IntEnum values are explicit numbers; other enums are numbered like fields
        numbered = all(isinstance(m.value, int) and not isinstance(m.value, bool) for m in members)
        slots: list[Slot] = []
        py_names: list[str | None] = []
        by_value_name: dict[str, str] = {}
        for member in members:
            mwhere = f"{where}.{member.name}"
            naming.check_python_name(member.name, what="enum member", where=mwhere)
            if numbered and not -(2**31) <= member.value < 2**31:
                raise DefinitionError(f"{mwhere}: value {member.value} is outside int32")
            label = naming.to_upper_snake(member.name)
            value_name = naming.check_field_name(
                f"{prefix}_{label.removeprefix(prefix + '_')}" if prefixed else label,
                what="enum value",
                where=mwhere,
            )
            if value_name in by_value_name:
                raise DefinitionError(
                    f"{mwhere}: members {by_value_name[value_name]!r} and {member.name!r} both "
                    f"become the protobuf value {value_name}; rename one of them"
                )
            by_value_name[value_name] = member.name
            slots.append(Slot(value_name, member.value if numbered else None, mwhere))
            py_names.append(member.name)
        if not any(slot.number == 0 for slot in slots):
            zero = f"{prefix}_UNSPECIFIED" if prefixed else "UNSPECIFIED"
            if any(slot.name == zero for slot in slots):
                raise DefinitionError(f"{where}: {zero} must have the value 0")
            slots.insert(0, Slot(zero, 0, where))
            py_names.insert(0, None)
        numbering = assign_numbers(
            slots, history=self._history(full, cls, scope, "enum"), enum=True
        )
        values = [
            EnumValueDef(slot.name, number, py)
            for slot, number, py in zip(slots, numbering.numbers, py_names, strict=True)
        ]
        values.sort(key=lambda v: v.number != 0)  # proto3: the zero value comes first
        self._claim_values(pkg, scope, [v.name for v in values], where)
        pkg.enums[full.removeprefix(pkg.name + ".")] = EnumDef(
            name,
            full,
            tuple(values),
            python,
            numbering.reserved,
            doc=contract.docstring(cls),
            scope=scope,
            closed=options.closed,
        )
        return full

    @staticmethod
    def _claim_values(pkg: _Package, scope: tuple[str, ...], names: list[str], where: str) -> None:
        """Enum values are scoped like C++: siblings of their enum, so two enums of one
        package (or of one message) cannot share a value name."""
        taken = pkg.enum_values.setdefault(".".join(scope), {})
        for value in names:
            other = taken.setdefault(value, where)
            if other != where:
                place = f"message {'.'.join(scope)}" if scope else f"package {pkg.name!r}"
                raise DefinitionError(
                    f"{where}: enum value {value} is also a value of {other}, and protobuf "
                    f"scopes enum values to their {place}; rename one, or keep the "
                    "enum-name prefix (drop `@enum_options(prefix=False)`)"
                )


def _claim_ident(pkg: _Package, local: str, where: str) -> None:
    """Stubs name a nested type's converters `_enc_Outer_Inner`; refuse a second type that
    would get the same Python name (a top-level `Outer_Inner`)."""
    ident = local.replace(".", "_")
    other = pkg.idents.setdefault(ident, local)
    if other != local:
        raise DefinitionError(
            f"{where}: the types {other!r} and {local!r} of package {pkg.name!r} would share "
            f"the name {ident!r} in the generated Python stubs; rename one of them"
        )


def _hints(obj: Any, where: str) -> dict[str, Any]:
    try:
        return get_type_hints(obj, include_extras=True)
    except Exception as exc:
        raise DefinitionError(
            f"{where}: cannot resolve type hints ({type(exc).__name__}: {exc}); define the "
            "types at module level or import them"
        ) from exc
