"""Schema model → the stub's converters: type names, encode/decode expressions and tables.

Every string made here is finished Python text built from names introspection validated;
literals are quoted with `json.dumps`, which is also valid Python, as a second guard.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..model import (
    WKT_FILES,
    Convert,
    EnumDef,
    FieldDef,
    FileDef,
    Kind,
    Label,
    MessageDef,
    OneofDef,
    PyShape,
    TypeRef,
    Wkt,
)

WKT_MODULES = {
    "google/protobuf/timestamp.proto": "timestamp_pb2",
    "google/protobuf/duration.proto": "duration_pb2",
    "google/protobuf/struct.proto": "struct_pb2",
    "google/protobuf/empty.proto": "empty_pb2",
    "google/type/date.proto": "date_pb2",
    "google/type/timeofday.proto": "timeofday_pb2",
}
# Timestamp/Duration as the constructor's field dicts, computed by arithmetic: no temporary
# message for the constructor to copy, and no `FromDatetime` (`utctimetuple` + `timegm`)
_WKT_FIELDS: dict[Wkt, str] = {
    Wkt.TIMESTAMP: "_w.timestamp_fields({})",
    Wkt.DURATION: "_w.duration_fields({})",
}
# modules of `google.type` (from googleapis-common-protos); the others are `google.protobuf`'s
TYPE_MODULES = frozenset({"date_pb2", "timeofday_pb2"})
_WKT_ENC = {
    Wkt.TIMESTAMP: "_w.timestamp({})",
    Wkt.DURATION: "_w.duration({})",
    Wkt.STRUCT: "_w.struct({})",
    Wkt.VALUE: "_w.value({})",
    Wkt.DATE: "_w.date({})",
    Wkt.TIME_OF_DAY: "_w.time_of_day({})",
}
_WKT_DEC = {
    Wkt.TIMESTAMP: "_w.from_timestamp({}, {where})",
    Wkt.DURATION: "_w.from_duration({}, {where})",
    Wkt.STRUCT: "_w.from_struct({})",
    Wkt.VALUE: "_w.from_value({})",
    Wkt.DATE: "_w.from_date({}, {where})",
    Wkt.TIME_OF_DAY: "_w.from_time_of_day({}, {where})",
}
# message types whose absence is refused, or takes the field's default (None: a user's class)
_PRESENCE_WKT = {None, Wkt.TIMESTAMP, Wkt.DURATION, Wkt.DATE, Wkt.TIME_OF_DAY}
WKT_PY = {  # the Python type a well-known type decodes to
    Wkt.TIMESTAMP: "_dt.datetime",
    Wkt.DURATION: "_dt.timedelta",
    Wkt.STRUCT: "dict[str, Any]",
    Wkt.VALUE: "Any",
    Wkt.LIST_VALUE: "list[Any]",
    Wkt.EMPTY: "None",
    Wkt.DATE: "_dt.date",
    Wkt.TIME_OF_DAY: "_dt.time",
}
_SCALAR_PY = {
    "string": "str",
    "bytes": "bytes",
    "bool": "bool",
    "double": "float",
    "float": "float",
}
# scalars converted by the generated code: their Python type, through `_w`'s re-exports
# a decoded value longer than this is laid out over lines (the template puts it in
# parentheses, 12 spaces in, where the lines after the first are indented alike)
_WRAP, _INDENT = 88, " " * 12
_CONVERT_PY = {Convert.UUID: "_w.UUID", Convert.DECIMAL: "_w.Decimal", Convert.LITERAL: "str"}


def import_aliases(file: FileDef) -> dict[str, str]:
    """The alias stem of each file `file` imports (`_s_<stem>`, `_p_<stem>`): the file's
    stem, or its whole path where two imported files share a stem (two packages'
    `common.proto`)."""
    paths = [p for p in file.imports if p not in WKT_MODULES]
    stems = [p.rsplit("/", 1)[-1].removesuffix(".proto") for p in paths]
    return {
        p: stem if stems.count(stem) == 1 else p.removesuffix(".proto").replace("/", "_")
        for p, stem in zip(paths, stems, strict=True)
    }


def lit(text: str) -> str:
    """A Python string literal for `text`."""
    return json.dumps(text)


def scalar_py(name: str) -> str:
    """The Python type of a protobuf scalar."""
    return _SCALAR_PY.get(name, "int")


@dataclass
class EnumTable:
    """One enum field's decode table: wire number → member, refusing numbers it lacks."""

    name: str
    where: str
    enum: str  # full proto name
    members: str  # the enum's `_D_` table
    py_class: str
    zero: str | None  # expression of the Python default standing for 0, if any
    closed: bool = False  # refuse numbers the enum lacks (else they decode as plain ints)


@dataclass
class Converter:
    """Encoder and decoder of one message."""

    name: str  # the message's stub identifier (`Outer_Inner` for a nested one)
    shape: str
    py_class: str | None
    py_type: str  # what the encoder takes and the decoder returns
    pb2: str  # the `_pb2` class: `_pb2.Outer.Inner`
    check: str | None  # condition under which the encoder's argument has the wrong type
    expected: str  # how the TypeError names the expected type
    enc_fields: list[tuple[str, str]] = field(default_factory=list)  # (proto name, expr)
    # (source expression, [(isinstance check, constructor argument)], type error literal)
    enc_oneofs: list[tuple[str, list[tuple[str, str]], str]] = field(default_factory=list)
    # (py name, expr, condition that must hold for it to be passed, or None)
    dec_fields: list[tuple[str, str, str | None]] = field(default_factory=list)
    # (oneof name, return type, [(field, expr)], last line when none is set)
    oneof_decoders: list[tuple[str, str, list[tuple[str, str]], str]] = field(default_factory=list)
    # fields whose type protoc's `.pyi` names wrongly (a nested type of the same name
    # shadows it there), so mypy needs to be told: proto and Python names
    pyi_shadowed: set[str] = field(default_factory=set)
    # fields typed by a `NewType`: the decoder passes the base type (Python names)
    newtype: set[str] = field(default_factory=set)
    pb2_type: str = ""  # the `_pb2` class as an annotation; `pb2` when empty
    # the lines refusing an object with two members of a declared oneof set
    enc_conflicts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pb2_type = self.pb2_type or self.pb2


class ConverterBuilder:
    """Turns one `FileDef` into the converters' strings: names, expressions and tables."""

    wkt_prefix = "_"  # `_timestamp_pb2.Timestamp`: the stub imports each module it uses
    newtype_casts = True  # the user's classes may type a field by a NewType of its base

    def __init__(self, file: FileDef, siblings: list[FileDef] | None = None) -> None:
        self.file = file
        package_files = siblings or [file]
        self.messages = {m.full_name: m for f in package_files for m in f.messages}
        self.enums = {e.full_name: e for f in package_files for e in f.enums}
        # a type of another file is reached through that file's stub module
        aliases = import_aliases(file)
        self.home = {
            name: "" if f.path == file.path else f"_s_{aliases.get(f.path, f.module_stem)}."
            for f in package_files
            for name in [*(m.full_name for m in f.messages), *(e.full_name for e in f.enums)]
        }
        used: list[MessageDef | EnumDef] = [*file.messages, *file.enums]
        refs = [fd.type for m in file.messages for fd in m.fields]
        refs += [t for s in file.services for m in s.methods for t in (m.request, m.response)]
        used += [
            self.messages.get(r.name) or self.enums[r.name] for r in refs if r.name in self.home
        ]
        modules = sorted({d.python.module for d in used if d.python})
        self.module_alias = {mod: f"_m{i}" for i, mod in enumerate(modules)}
        self.enum_tables: list[EnumTable] = []
        self.defaults: list[tuple[str, str, str]] = []  # (constant name, type, expression)

    # -- names ----------------------------------------------------------------------------

    @staticmethod
    def ident(defn: MessageDef | EnumDef) -> str:
        """The name of a type in stub identifiers: `Outer_Inner` for a nested one."""
        return defn.local_name.replace(".", "_")

    @staticmethod
    def has_zero_member(enum: EnumDef) -> bool:
        """Whether the Python enum has a member for wire number 0."""
        return any(v.number == 0 and v.python_name for v in enum.values)

    def pb2_module(self, full_name: str) -> str:
        """The alias of the `_pb2` module that defines type `full_name`."""
        home = self.home[full_name]
        return "_pb2" if not home else "_p" + home.removesuffix(".")[2:]

    def ref(self, full_name: str, name: str) -> str:
        """`name` (a stub-level identifier for type `full_name`) as this module reaches it."""
        return self.home[full_name] + name

    def py_class(self, ref: MessageDef | EnumDef) -> str:
        assert ref.python is not None
        return f"{self.module_alias[ref.python.module]}.{ref.python.qualname}"

    def described(self, ref: MessageDef | EnumDef) -> str:
        """`pkg.Book (module.Book)`: the proto and the Python name, for error messages."""
        assert ref.python is not None
        return f"{ref.full_name} ({ref.python.module}.{ref.python.qualname})"

    def pb_class(self, ref: TypeRef) -> str:
        wkt = ref.wkt
        if wkt is not None:
            module = WKT_MODULES[WKT_FILES[wkt]]
            return f"{self.wkt_prefix}{module}.{wkt.value.rsplit('.', 1)[-1]}"
        return f"{self.pb2_module(ref.name)}.{self.messages[ref.name].local_name}"

    def element_py(self, ref: TypeRef) -> str:
        """The Python type of one element of `ref`."""
        if ref.kind is Kind.SCALAR:
            return _CONVERT_PY[ref.convert] if ref.convert else scalar_py(ref.name)
        wkt = ref.wkt
        if wkt is not None:
            return WKT_PY[wkt]
        target = self.messages.get(ref.name) or self.enums[ref.name]
        return self.py_class(target)

    def field_py(self, f: FieldDef) -> str:
        """The Python type of a (non-oneof) field."""
        elem = self.element_py(f.type)
        if f.label is Label.REPEATED:
            return f"tuple[{elem}, ...]" if f.as_tuple else f"list[{elem}]"
        if f.label is Label.MAP:
            return f"dict[{scalar_py(f.key_type or 'string')}, {elem}]"
        if f.nullable and elem not in ("Any", "None"):
            return f"{elem} | None"
        return elem

    def oneof_py(self, m: MessageDef, oneof: OneofDef) -> str:
        members = [self.element_py(f.type) for f in m.fields if f.oneof == oneof.name]
        return " | ".join([*members, "None"] if oneof.optional else members)

    # -- converters -------------------------------------------------------------------------

    def _enum_table(self, m: MessageDef, f: FieldDef, *, zero_default: bool) -> str:
        enum = self.enums[f.type.name]
        name = f"_D_{self.ident(m)}_{f.name}"
        zero = None
        if zero_default and not self.has_zero_member(enum) and m.python is not None:
            zero = f"_w.default_of({self.py_class(m)}, {lit(f.python_name)})"
        self.enum_tables.append(
            EnumTable(
                name,
                f"{m.local_name}.{f.python_name}",
                enum.full_name,
                self.ref(enum.full_name, f"_D_{self.ident(enum)}"),
                self.py_class(enum),
                zero,
                # a oneof member stays closed: a plain int would not say which member it is
                enum.closed or f.oneof is not None,
            )
        )
        return name

    def _enc_fn(self, ref: TypeRef) -> str:
        """Encoder of one element of a message or enum type, as a format string.

        A message nested in another is passed to the outer constructor as a dict of its
        fields (`_kw_`), so the whole tree is built in one constructor call, with no
        sub-message built and then copied.
        """
        wkt = ref.wkt
        if wkt is not None:
            return _WKT_FIELDS.get(wkt) or _WKT_ENC[wkt]
        if ref.kind is Kind.ENUM:
            return self.ref(ref.name, f"_E_{self.ident(self.enums[ref.name])}[{{}}]")
        return self.ref(ref.name, f"_kw_{self.ident(self.messages[ref.name])}({{}})")

    def _dec_fn(self, m: MessageDef, f: FieldDef, *, zero_default: bool = False) -> str:
        """Decoder of one element of field `f`, as a format string."""
        wkt = f.type.wkt
        if wkt is not None:
            return _WKT_DEC[wkt].replace("{where}", lit(f"{m.local_name}.{f.python_name}"))
        if f.type.kind is Kind.ENUM:
            return self._enum_table(m, f, zero_default=zero_default) + "[{}]"
        target = self.messages[f.type.name]
        return self.ref(target.full_name, f"_dec_{self.ident(target)}({{}})")

    def encode(self, f: FieldDef, src: str) -> str:
        if f.type.kind is Kind.SCALAR and f.type.convert:
            fn = self._convert_fn(f, "enc")
            if f.label is Label.REPEATED:
                return f"[{fn.format('x')} for x in {src}]"
            if f.label is Label.MAP:  # an empty map as None: the constructor skips its update
                return f"{{k: {fn.format('x')} for k, x in {src}.items()}} or None"
            return fn.format(src)  # the helpers pass None through
        if f.type.kind is Kind.SCALAR and f.label is Label.MAP:
            # the constructor fills a map through Python's `MutableMapping.update`, even an
            # empty one; None skips that (and a value of the wrong type still fails there)
            var = f"x_{f.name}"
            return f"None if ({var} := {src}) == {{}} else {var}"
        if f.type.kind is Kind.SCALAR:
            return src
        fn = self._enc_fn(f.type)
        if f.label is Label.REPEATED:
            return f"[{fn.format('x')} for x in {src}]"
        if f.label is Label.MAP:
            return f"{{k: {fn.format('x')} for k, x in {src}.items()}} or None"
        if f.type.wkt is not None:
            return fn.format(src)  # the helpers pass None through
        if f.type.kind is Kind.ENUM and f.label is Label.SINGULAR:
            return fn.format(src)  # None is not a member: refused, not sent as 0
        var = f"x_{f.name}"  # one name per field: a shared one would change type
        return _fit("None", f"({var} := {src}) is None", fn.format(var))

    def decode(self, m: MessageDef, f: FieldDef) -> str:
        if f.label is Label.REPEATED or f.label is Label.MAP:
            # an empty container skips reading it: `dict()` of an empty upb map alone costs
            # more than the check
            empty = "{}" if f.label is Label.MAP else "()" if f.as_tuple else "[]"
            var = f"x_{f.name}"  # one name per field: a shared one would change type
            body, test = self._decode_container(m, f, var), f"({var} := m.{f.name})"
            if len(body) + len(test) + len(empty) + 10 <= _WRAP:
                return f"{body} if {test} else {empty}"
            return f"{body}\n{_INDENT}if {test}\n{_INDENT}else {empty}"  # inside brackets
        if f.label is Label.OPTIONAL:
            return _fit(self.decode_plain(m, f), f'm.HasField("{f.name}")', "None")
        if self.presence_required(f):
            # absent is not an empty message: refused, not invented (defaults: _dec_field)
            where = lit(f"{m.local_name}.{f.python_name}")
            return _fit(self.decode_plain(m, f), f'm.HasField("{f.name}")', f"_w.absent({where})")
        return self.decode_plain(m, f, zero_default=f.has_default)

    def _decode_container(self, m: MessageDef, f: FieldDef, value: str) -> str:
        """Decode a repeated or map field held in `value`."""
        if f.label is Label.REPEATED:
            if f.type.kind is Kind.SCALAR and not f.type.convert:
                return f"{'tuple' if f.as_tuple else 'list'}({value})"
            fn = self._convert_fn(f, "dec", m) if f.type.convert else self._dec_fn(m, f)
            if f.as_tuple:
                return f"tuple({fn.format('x')} for x in {value})"
            return f"[{fn.format('x')} for x in {value}]"
        if f.type.kind is Kind.SCALAR and f.type.convert:
            fn = self._convert_fn(f, "dec", m)
            return f"{{k: {fn.format('x')} for k, x in {value}.items()}}"
        if f.type.kind is Kind.SCALAR:
            return f"dict({value})"
        return f"{{k: {self._dec_fn(m, f).format('x')} for k, x in {value}.items()}}"

    @staticmethod
    def presence_required(f: FieldDef) -> bool:
        """Whether a singular field is a message whose absence cannot be decoded as a value.

        Struct and Value are left out: an absent one is `{}` or `None`, which hold the same
        as what was sent.
        """
        return (
            f.label is Label.SINGULAR
            and f.type.kind is Kind.MESSAGE
            and f.type.wkt in _PRESENCE_WKT
        )

    def decode_plain(self, m: MessageDef, f: FieldDef, *, zero_default: bool = False) -> str:
        """Decode one present value (the caller checks presence)."""
        value = f"m.{f.name}"
        if f.type.kind is Kind.SCALAR and f.type.convert:
            return self._convert_fn(f, "dec", m).format(value)
        if f.type.kind is Kind.SCALAR:
            return value
        return self._dec_fn(m, f, zero_default=zero_default).format(value)

    def _convert_fn(self, f: FieldDef, direction: str, m: MessageDef | None = None) -> str:
        """Encoder or decoder of one value of a converted scalar (UUID, Decimal, Literal),
        as a format string."""
        ref = f.type
        if ref.convert is Convert.LITERAL:
            return f"{self._choices(f, m)}.{direction}({{}})"
        if direction == "enc":
            return f"_w.enc_{ref.convert}({{}})"
        where = _braces(lit(f"{m.local_name}.{f.python_name}" if m else f.python_name))
        return f"_w.dec_{ref.convert}({{}}, {where})"

    def _choices(self, f: FieldDef, m: MessageDef | None) -> str:
        """The `_w.Choices` constant of a Literal field, declared once per field."""
        owner = m or next(x for x in self.messages.values() if f in x.fields)
        name = f"_L_{self.ident(owner)}_{f.name}"
        if all(d[0] != name for d in self.defaults):
            where = lit(f"{owner.local_name}.{f.python_name}")
            items = [lit(c) for c in f.type.choices]
            choices = f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
            expr = f"_w.Choices({where}, {choices})"
            if len(name) + len(expr) + 15 > 100:
                lines = "".join(f"        {i},\n" for i in items)
                expr = f"_w.Choices(\n    {where},\n    (\n{lines}    ),\n)"
            self.defaults.append((name, "_w.Choices", expr))
        return _braces(name)

    def converter(self, m: MessageDef) -> Converter:
        conv = self._converter_head(m)
        src = {PyShape.DATACLASS: "o.{}", PyShape.PARAMS: "o.get({})", PyShape.VALUE: "o"}[m.shape]

        def source(f: FieldDef) -> str:
            if m.shape is not PyShape.PARAMS:
                return src.format(f.python_name)
            # the typed client always passes required parameters; left-out ones are None
            key = lit(f.python_name)
            return f"o.get({key})" if f.has_default else f"o[{key}]"

        oneofs = {o.name: o for o in m.oneofs}
        current: str | None = None
        for f in m.fields:
            if f.oneof is None or oneofs[f.oneof].declared:
                conv.enc_fields.append((f.name, self.encode(f, source(f))))
                conv.dec_fields.append(self._dec_field(m, f))
                if self._pyi_shadowed(m, f.type):
                    conv.pyi_shadowed |= {f.name, f.python_name}
                if f.newtype and m.shape is PyShape.DATACLASS and self.newtype_casts:
                    conv.newtype.add(f.python_name)
                continue
            oneof = oneofs[f.oneof]
            if f.oneof != current:
                current = f.oneof
                members = re.sub(r"\b_m\d+\.", "", self.oneof_py(m, oneof))
                error = lit(f"{m.local_name}.{oneof.python_name}: expected {members}")
                conv.enc_oneofs.append((source(f), [], error))
                conv.oneof_decoders.append((f.oneof, self.oneof_py(m, oneof), [], ""))
                decoder = f"_oneof_{self.ident(m)}_{f.oneof}(m)"
                conv.dec_fields.append((oneof.python_name, decoder, None))
            if f.newtype and m.shape is PyShape.DATACLASS and self.newtype_casts:
                conv.newtype.add(oneof.python_name)
            conv.enc_oneofs[-1][1].append((self.isinstance_check(f.type), self.oneof_assign(f)))
            conv.oneof_decoders[-1][2].append((f.name, self.decode_plain(m, f)))
        conv.oneof_decoders = [
            (name, py, members, self._oneof_unset(m, oneofs[name]))
            for name, py, members, _ in conv.oneof_decoders
        ]
        for oneof in m.oneofs:
            names = [f.python_name for f in m.fields if f.oneof == oneof.name]
            if oneof.declared and len(names) > 1:
                conv.enc_conflicts += self._conflict_check(m, oneof, names)
        return conv

    @staticmethod
    def _conflict_check(m: MessageDef, oneof: OneofDef, members: list[str]) -> list[str]:
        """The encoder's lines refusing an object with two members of `oneof` set: protobuf
        would keep the last, so the peer would see another value than the one sent."""
        terms = [f"(o.{name} is not None)" for name in members]
        where = lit(f"{m.local_name}.{oneof.name}")
        names = "(" + ", ".join(lit(n) for n in members) + ")"
        test = f"    if {' + '.join(terms)} > 1:"
        lines = (
            [test]
            if len(test) <= _WRAP
            else [
                "    if (",
                *(f"        {'+ ' if i else ''}{term}" for i, term in enumerate(terms)),
                "    ) > 1:",
            ]
        )
        call = f"        raise _w.oneof_conflict(o, {where}, {names})"
        if len(call) <= 100:
            return [*lines, call]
        listed = [f"            {names},"]
        if len(listed[0]) > 100:
            listed = [
                "            (",
                *(f"                {lit(n)}," for n in members),
                "            ),",
            ]
        return [
            *lines,
            "        raise _w.oneof_conflict(",
            "            o,",
            f"            {where},",
            *listed,
            "        )",
        ]

    def _pyi_shadowed(self, m: MessageDef, ref: TypeRef) -> bool:
        """Whether a nested type of `m`'s scope hides message `ref` from an unqualified name."""
        target = self.messages.get(ref.name)
        package = m.full_name.removesuffix("." + m.local_name)
        if target is None or target.full_name != f"{package}.{target.local_name}":
            return False  # another package's type: protoc's `.pyi` reaches it by its module
        path = target.local_name.split(".")
        here = [*m.scope, m.name]
        same: list[MessageDef | EnumDef] = [*self.messages.values(), *self.enums.values()]
        local = {t.local_name for t in same if t.full_name == f"{package}.{t.local_name}"}
        for depth in range(len(here), -1, -1):
            found = [*here[:depth], path[0]]
            if ".".join(found) in local:  # the innermost type the unqualified name reaches
                return found != path[: depth + 1]
        return False

    def _converter_head(self, m: MessageDef) -> Converter:
        pb2 = f"_pb2.{m.local_name}"
        if m.shape is PyShape.DATACLASS:
            py = self.py_class(m)
            return Converter(
                self.ident(m),
                m.shape.value,
                py,
                py,
                pb2,
                f"not isinstance(o, {py})",
                self.described(m),
            )
        if m.shape is PyShape.PARAMS:
            return Converter(
                self.ident(m),
                m.shape.value,
                None,
                "dict[str, Any]",
                pb2,
                "not isinstance(o, dict)",
                f"a dict of the parameters of {m.full_name}",
            )
        (value,) = m.fields
        py = self.field_py(value)
        check = self.value_check(value)
        return Converter(
            self.ident(m),
            m.shape.value,
            None,
            py,
            pb2,
            check,
            f"{py.replace('_w.', '')} for {m.full_name}.{value.name}",
        )

    def _dec_field(self, m: MessageDef, f: FieldDef) -> tuple[str, str, str | None]:
        """A decoded field; a field or parameter with a default is left out when absent."""
        if f.has_default and m.shape is not PyShape.VALUE and self.presence_required(f):
            return (f.python_name, self.decode_plain(m, f), f'm.HasField("{f.name}")')
        if (
            m.shape is PyShape.DATACLASS
            and f.has_default
            and f.label is Label.OPTIONAL
            and not f.nullable
        ):
            # a non-zero scalar default carries presence: absent leaves the default
            return (f.python_name, self.decode_plain(m, f), f'm.HasField("{f.name}")')
        if m.shape is not PyShape.PARAMS or not f.has_default:
            return (f.python_name, self.decode(m, f), None)
        if f.type.kind is Kind.ENUM and f.label is not Label.REPEATED and not f.nullable:
            enum = self.enums[f.type.name]
            if not self.has_zero_member(enum):
                # 0 means unset for a Go/Node peer: the Python default applies
                return (f.python_name, self.decode_plain(m, f), f"m.{f.name} != 0")
        if f.label is Label.OPTIONAL or (f.label is Label.SINGULAR and f.type.kind is Kind.MESSAGE):
            return (f.python_name, self.decode_plain(m, f), f'm.HasField("{f.name}")')
        return (f.python_name, self.decode(m, f), None)

    def _oneof_unset(self, m: MessageDef, oneof: OneofDef) -> str:
        """The decoder's last line, when no member of the oneof is on the wire."""
        if oneof.optional:
            return "return None"
        if m.shape is PyShape.DATACLASS and m.python is not None:
            name = f"_DF_{self.ident(m)}_{oneof.name}"
            expr = f"_w.default_of({self.py_class(m)}, {lit(oneof.python_name)})"
            if self._has_default(m, oneof.python_name):
                self.defaults.append((name, self.oneof_py(m, oneof), expr))
                return f"return {name}"
        return f"raise _w.unset_oneof({lit(f'{m.local_name}.{oneof.python_name}')})"

    @staticmethod
    def _has_default(m: MessageDef, python_name: str) -> bool:
        return any(f.has_default for f in m.fields if f.python_name == python_name)

    def value_check(self, f: FieldDef) -> str | None:
        """The condition under which `o` cannot be the value of field `f`, or None."""
        if f.label is Label.REPEATED:
            return "not isinstance(o, (list, tuple))" if f.as_tuple else "not isinstance(o, list)"
        if f.label is Label.MAP:
            return "not isinstance(o, dict)"
        check = self.isinstance_check(f.type).replace("(v", "(o")
        if check == "True":
            return None
        if f.nullable:
            return f"o is not None and not ({check})"
        return f"not ({check})" if " and " in check else f"not {check}"

    def isinstance_check(self, ref: TypeRef) -> str:
        if ref.convert is not None and ref.convert is not Convert.LITERAL:
            return f"isinstance(v, {_CONVERT_PY[ref.convert]})"
        if ref.kind is Kind.SCALAR:
            py = {"string": "str", "bytes": "bytes", "bool": "bool"}.get(ref.name)
            if py is not None:
                return f"isinstance(v, {py})"
            numbers = "(int, float)" if ref.name in ("double", "float") else "int"
            return f"isinstance(v, {numbers}) and not isinstance(v, bool)"
        wkt = ref.wkt
        if wkt is Wkt.TIMESTAMP:
            return "isinstance(v, _dt.datetime)"
        if wkt is Wkt.DURATION:
            return "isinstance(v, _dt.timedelta)"
        if wkt is Wkt.DATE:  # a datetime is a date too, but is sent as a Timestamp
            return "isinstance(v, _dt.date) and not isinstance(v, _dt.datetime)"
        if wkt is Wkt.TIME_OF_DAY:
            return "isinstance(v, _dt.time)"
        if wkt is Wkt.STRUCT:
            return "isinstance(v, dict)"
        if wkt is not None:
            return "True"
        target = self.messages.get(ref.name) or self.enums[ref.name]
        return f"isinstance(v, {self.py_class(target)})"

    def oneof_assign(self, f: FieldDef) -> str:
        """The constructor argument of the oneof member `f` set from `v`."""
        if f.type.kind is Kind.SCALAR and f.type.convert:
            return f"kw[{lit(f.name)}] = {self._convert_fn(f, 'enc').format('v')}"
        if f.type.kind is Kind.SCALAR:
            return f"kw[{lit(f.name)}] = v"
        return f"kw[{lit(f.name)}] = {self._enc_fn(f.type).format('v')}"


def _fit(then: str, test: str, other: str) -> str:
    """`then if test else other`, laid out over lines where one would be too long (the
    template puts a long value in parentheses, 12 spaces in)."""
    line = f"{then} if {test} else {other}"
    if len(line) <= _WRAP:
        return line
    return f"{then}\n{_INDENT}if {test}\n{_INDENT}else {other}"


def _braces(text: str) -> str:
    """`text` escaped for `str.format`."""
    return text.replace("{", "{{").replace("}", "}}")
