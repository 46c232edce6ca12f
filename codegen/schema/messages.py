"""Dataclasses and Enums → message and enum models: packages, fields, oneofs, numbers.

`introspect` reads services and methods and hands every type it meets to `TypeBuilder`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, get_type_hints

from cello._errors import DefinitionError

from ..model import (
    EnumDef,
    EnumValueDef,
    FieldDef,
    Kind,
    Label,
    MessageDef,
    OneofDef,
    PyRef,
    PyShape,
    Reserved,
    ServiceDef,
    TypeRef,
)
from . import contract, naming
from .declared import (
    FieldSlot,
    check_declared_member,
    check_json_names,
    grouped,
    refuse_declared_reserved,
)
from .fields import class_fields, needs_presence
from .hints import Mapped, is_enum_class, map_hint, mentions_newtype
from .layout import PackageFiles
from .numbering import History, Slot, assign_numbers
from .scopes import enclosing_dataclass, local_name

if TYPE_CHECKING:
    from ..evolution.lock import Lock


@dataclasses.dataclass
class Package:
    """One protobuf package as introspection fills it: its types, services and files."""

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


class TypeBuilder:
    """Turns dataclasses (and pydantic models) and Enums into `MessageDef`s and `EnumDef`s,
    each in the package its module declares (`__cello_package__`) or, without one, the
    package of the service that first uses it."""

    def __init__(self, lock: Lock | None) -> None:
        self.lock = lock
        self.packages: dict[str, Package] = {}
        self.service_file = ""
        self.modules: dict[str, str] = {}  # module seen → its fallback package

    def package(self, name: str) -> Package:
        """The package named `name`, made on first use."""
        return self.packages.setdefault(name, Package(name))

    def home(self, cls: type, pkg: Package) -> Package:
        """The package a type belongs to: its module's `__cello_package__`, else `pkg`."""
        outer = cls
        while (enclosing := enclosing_dataclass(outer)) is not None:
            outer = enclosing
        declared = contract.type_package(outer)
        self.modules.setdefault(outer.__module__, pkg.name if declared is None else declared)
        return pkg if declared is None else self.package(declared)

    def add_module(self, module: str) -> None:
        """Read a module of types only: its `__cello_types__` in its `__cello_package__`.

        Raises:
            DefinitionError: the module declares no package.
        """
        package = vars(sys.modules[module]).get(contract.PACKAGE_ATTR)
        if package is None:
            raise DefinitionError(
                f"{module}: a module of types only needs its package: "
                f'`{contract.PACKAGE_ATTR} = "acme.v1"`'
            )
        where = f"{module}.{contract.PACKAGE_ATTR}"
        self.modules.setdefault(module, naming.check_package(package, where=where))

    def add_declared_types(self) -> None:
        """Add the types every module met so far lists in `__cello_types__` (and theirs)."""
        done: set[str] = set()
        while pending := [m for m in self.modules if m not in done]:
            for module in pending:
                done.add(module)
                for cls in contract.declared_types(sys.modules.get(module), where=module):
                    pkg = self.package(self.modules[module])
                    if is_enum_class(cls):
                        self._enum(pkg, cls)
                    else:
                        self._message(pkg, cls)

    # -- messages ---------------------------------------------------------------------------

    def _synthesized(
        self,
        pkg: Package,
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
            if mapped.oneof is not None:
                raise DefinitionError(
                    f"{where}.{pname}: a declared oneof member (`Field(oneof=...)`) is a field "
                    "of a dataclass; take the dataclass as the request instead"
                )
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

    def _claim_type(self, pkg: Package, cls: type, where: str) -> tuple[str, bool]:
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

    def _message(self, pkg: Package, cls: type) -> str:
        where = f"{cls.__module__}.{cls.__qualname__}"
        pkg = self.home(cls, pkg)
        python = PyRef(*naming.python_ref(cls, where=where))
        full, new = self._claim_type(pkg, cls, where)
        if not new:
            return full
        scope, name = local_name(cls, where)
        hints = hints_of(cls, where)
        fields: list[tuple[str, Mapped]] = []
        docs: dict[str, str] = {}
        specs = class_fields(cls, where)
        for spec in specs:
            fwhere = f"{where}.{spec.name}"
            hint = hints[spec.name]
            mapped = map_hint(hint, fwhere)
            if spec.number is not None and mapped.members:
                raise DefinitionError(
                    f"{fwhere}: number {spec.number} is on the whole union, but a oneof has no "
                    "number of its own; number each member: "
                    "`Annotated[str, Field(7)] | Annotated[int, Field(8)]`"
                )
            if spec.number is not None:
                mapped = dataclasses.replace(mapped, number=spec.number)
            if needs_presence(spec, mapped):  # absent on the wire means the Python default
                mapped = dataclasses.replace(mapped, label=Label.OPTIONAL)
            if mapped.oneof is not None:
                check_declared_member(mapped, spec, hint, fwhere)
            fields.append((spec.name, mapped))
            docs[spec.name] = contract.clean_doc(spec.description) or contract.field_doc(hint)
        history = self._history(full, cls, scope, "message")
        declared = contract.declared_reserved(cls, where=where, enum=False)
        field_defs, oneofs, reserved = self._fields(
            pkg, fields, where, full, history=history, declared=declared
        )
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
        pkg: Package,
        fields: Sequence[tuple[str, Mapped]],
        where: str,
        full: str,
        *,
        history: History | None = None,
        declared: Reserved | None = None,
    ) -> tuple[tuple[FieldDef, ...], tuple[OneofDef, ...], Reserved]:
        """Resolve field types and numbers; oneof members become fields of their own.

        The members of a declared oneof are printed together, where its first member is.
        """
        slots: list[FieldSlot] = []
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
            slots.append(FieldSlot(proto, py, mapped, oneof))

        groups: dict[str, str] = {}  # declared oneof → its first member's Python name
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
            elif mapped.oneof is not None:
                group = mapped.oneof
                if group not in groups:
                    naming.check_field_name(group, what="oneof name", where=f"{where}.{py_name}")
                    groups[group] = py_name
                    oneofs.append(OneofDef(group, group, True, declared=True))
                add(proto, py_name, self._resolve(pkg, mapped), group)
            else:
                add(proto, py_name, self._resolve(pkg, mapped), None)
        for group, first in groups.items():  # protoc: one name per field or oneof
            clash = [o.python_name for o in oneofs if not o.declared and o.name == group]
            clash += [s.python for s in slots if s.proto == group]
            if clash:
                raise DefinitionError(
                    f"{where}.{first}: oneof name {group!r} clashes with {where}.{clash[0]}; "
                    "rename the oneof or the field"
                )
        slots = grouped(slots, set(groups))
        check_json_names(slots, where)
        declared = declared or Reserved()
        refuse_declared_reserved(
            [(s.proto, s.mapped.number, s.python) for s in slots], declared, where
        )
        numbering = assign_numbers(
            [Slot(s.proto, s.mapped.number, f"{where}.{s.python}") for s in slots],
            history=history or (self.lock.message_history(full) if self.lock else None),
            declared=declared,
        )
        refuse_declared_reserved(
            [(s.proto, n, s.python) for s, n in zip(slots, numbering.numbers, strict=True)],
            declared,
            where,
        )
        defs = tuple(
            FieldDef(
                name=s.proto,
                python_name=s.python,
                number=number,
                type=s.mapped.type,
                label=s.mapped.label,
                key_type=s.mapped.key_type,
                oneof=s.oneof,
                explicit_number=s.mapped.number is not None,
                nullable=s.mapped.optional,
                as_tuple=s.mapped.as_tuple,
                json_name=s.mapped.json_name,
                options=contract.proto_options(
                    s.mapped.options, "FieldOptions", where=f"{where}.{s.python}"
                )
                or (),
            )
            for s, number in zip(slots, numbering.numbers, strict=True)
        )
        return defs, tuple(oneofs), numbering.reserved.with_declared(declared)

    def _resolve(self, pkg: Package, mapped: Mapped) -> Mapped:
        """Fill in the full name of a message or enum type."""
        if mapped.python is None:
            return mapped
        if is_enum_class(mapped.python):
            ref = TypeRef(Kind.ENUM, self._enum(pkg, mapped.python))
        else:
            ref = TypeRef(Kind.MESSAGE, self._message(pkg, mapped.python))
        return dataclasses.replace(mapped, type=ref)

    # -- enums ----------------------------------------------------------------------------

    def _enum(self, pkg: Package, cls: type) -> str:
        where = f"{cls.__module__}.{cls.__qualname__}"
        pkg = self.home(cls, pkg)
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
        declared = contract.declared_reserved(cls, where=where, enum=True)
        numbering = assign_numbers(
            slots, history=self._history(full, cls, scope, "enum"), enum=True, declared=declared
        )
        refuse_declared_reserved(
            [
                (s.name, n, s.where.rsplit(".", 1)[-1])
                for s, n in zip(slots, numbering.numbers, strict=True)
            ],
            declared,
            where,
            what="value",
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
            numbering.reserved.with_declared(declared),
            doc=contract.docstring(cls),
            scope=scope,
            closed=options.closed,
        )
        return full

    @staticmethod
    def _claim_values(pkg: Package, scope: tuple[str, ...], names: list[str], where: str) -> None:
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


def _claim_ident(pkg: Package, local: str, where: str) -> None:
    """Stubs name a nested type's converters `_enc_Outer_Inner`; refuse a second type that
    would get the same Python name (a top-level `Outer_Inner`)."""
    ident = local.replace(".", "_")
    other = pkg.idents.setdefault(ident, local)
    if other != local:
        raise DefinitionError(
            f"{where}: the types {other!r} and {local!r} of package {pkg.name!r} would share "
            f"the name {ident!r} in the generated Python stubs; rename one of them"
        )


def hints_of(obj: Any, where: str) -> dict[str, Any]:
    """The resolved type hints of a class or function, `Annotated` kept."""
    try:
        return get_type_hints(obj, include_extras=True)
    except Exception as exc:
        raise DefinitionError(
            f"{where}: cannot resolve type hints ({type(exc).__name__}: {exc}); define the "
            "types at module level or import them"
        ) from exc
