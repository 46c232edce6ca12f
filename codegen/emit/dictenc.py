"""Schema model → the stub's dict encoders: a typed handler's dict result in one constructor call.

`_kwd_Book(d)` turns a plain dict into `_pb2.Book`'s keyword arguments for the spellings a
handler usually returns (proto-name keys, exact scalar types, lists, dicts, `datetime`,
`timedelta`, enum names, members and numbers). Anything else raises `_c.OffPath`, and
`_encd_Book` hands the dict to the generic mapping (`cello._wire.convert.dict_to_message`),
which gives the same message or the error naming the field (docs/dict-mapping.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import EnumDef, FieldDef, FileDef, Kind, Label, MessageDef, PyShape, TypeRef, Wkt
from .converters import ConverterBuilder, lit

# exact types the generic mapping takes for each scalar, unchanged (`{v}`: the value);
# a subclass, a bytearray or an integral float is left to the generic mapping
_SCALAR_CHECK = {
    "string": "type({v}) is str",
    "bytes": "type({v}) is bytes",
    "bool": "type({v}) is bool",
    "double": "type({v}) is float or type({v}) is int",
    "float": "type({v}) is float or type({v}) is int",
}
_INT_CHECK = "type({v}) is int"
_SCALAR_PY = {
    "string": "str",
    "bool": "bool",
}  # a map key's exact type; the others: int  # bool is not an int here, as in the generic mapping
_OFF = "_c.off_path()"
_WIDTH = 100


@dataclass
class DictEncoder:
    """The dict encoder of one message: key set, oneof guards and one entry per field."""

    name: str  # the message's stub identifier
    pb2: str  # the `_pb2` class
    keys: list[str]  # literals of the proto field names, the only keys the fast path takes
    oneofs: list[list[str]] = field(default_factory=list)  # literals: each oneof's members
    entries: list[list[str]] = field(default_factory=list)  # the lines of each field


def _check(scalar: str, value: str) -> str:
    return _SCALAR_CHECK.get(scalar, _INT_CHECK).replace("{v}", value)


class DictEncoderBuilder:
    """Builds the dict encoders of one file's dataclass messages, on a `ConverterBuilder`."""

    def __init__(self, builder: ConverterBuilder) -> None:
        self.b = builder

    def enums(self, file: FileDef) -> list[tuple[str, str, str]]:
        """`(table, _pb2 enum, Python class)` of each enum: its spellings in a dict."""
        return [
            (f"_N_{self.b.ident(e)}", self._pb2_enum(e), self.b.py_class(e)) for e in file.enums
        ]

    def _pb2_enum(self, e: EnumDef) -> str:
        return f"{self.b.pb2_module(e.full_name)}.{e.local_name}"

    def encoders(self, file: FileDef) -> list[DictEncoder]:
        return [self.encoder(m) for m in file.messages if m.shape is PyShape.DATACLASS]

    def encoder(self, m: MessageDef) -> DictEncoder:
        keys = [lit(f.name) for f in m.fields]
        enc = DictEncoder(self.b.ident(m), f"_pb2.{m.local_name}", keys)
        for oneof in m.oneofs:
            members = [lit(f.name) for f in m.fields if f.oneof == oneof.name]
            if len(members) > 1:  # a declared oneof may have one member
                enc.oneofs.append(members)
        for f in m.fields:
            enc.entries.append(self._entry(f))
        return enc

    def _element(self, ref: TypeRef, value: str) -> str:
        """One element of type `ref` held in `value`, as the constructor takes it."""
        if ref.kind is Kind.SCALAR:
            return f"{value} if {_check(ref.name, value)} else {_OFF}"
        wkt = ref.wkt
        if wkt is Wkt.TIMESTAMP:
            return f"_c.dict_timestamp({value})"
        if wkt is Wkt.DURATION:
            return f"_c.dict_duration({value})"
        if wkt is not None:
            return f"_c.dict_message({value}, {self.b.pb_class(ref)})"
        if ref.kind is Kind.ENUM:
            return f"{self.b.ref(ref.name, '_N_' + self.b.ident(self.b.enums[ref.name]))}({value})"
        target = self.b.messages[ref.name]
        return f"{self.b.ref(ref.name, '_kwd_' + self.b.ident(target))}({value})"

    def _entry(self, f: FieldDef) -> list[str]:
        """The dict display's lines for field `f`; None (or no key) leaves it unset."""
        key = lit(f.name)
        got = f"x := d.get({key})"
        comprehension: tuple[str, str, str, str] | None = None  # open, element, loop, close
        if f.label is Label.MAP:
            key_type = _SCALAR_PY.get(f.key_type or "string", "int")
            loop = f"for k, v in _c.keyed(x, {key_type})"
            # an empty map as None: the constructor fills even an empty one in Python
            comprehension = ("{", "k: " + self._element(f.type, "v"), loop, "} or None")
        elif f.label is Label.REPEATED:
            comprehension = ("[", self._element(f.type, "i"), "for i in _c.items(x)", "]")
        if comprehension is not None:
            opening, element, loop, closing = comprehension
            parts = ("None", f"({got}) is None", f"{opening}{element} {loop}{closing}")
        elif f.type.kind is Kind.SCALAR:
            check = _SCALAR_CHECK.get(f.type.name, _INT_CHECK)
            check = check.replace("{v}", got, 1).replace("{v}", "x")
            parts = ("x", f"{check} or x is None", _OFF)
        else:
            parts = ("None", f"({got}) is None", self._element(f.type, "x"))
        then, cond, other = parts
        line = f"        {key}: {then} if {cond} else {other},"
        if len(line) <= _WIDTH:
            return [line]
        lines = [f"        {key}: (", f"            {then}", f"            if {cond}"]
        if comprehension is None or len(f"            else {other}") <= _WIDTH:
            lines.append(f"            else {other}")
        else:
            opening, element, loop, closing = comprehension
            lines += [
                f"            else {opening}",
                f"                {element}",
                f"                {loop}",
                f"            {closing}",
            ]
        return [*lines, "        ),"]
