"""Standalone client modules: the schema's messages as dataclasses, plus async and sync clients.

`cello-gen build --client DIR` writes, per package, `<stem>_client.py` beside protoc's
`_pb2` modules. It imports only `cello.client` and its own `_pb2`, never the server's code,
so a consumer needs nothing but `cello-grpc` and the client directory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import inspect
import json
import math
import re
import sys
import typing
import uuid
from collections.abc import Callable
from typing import Any

from cello._errors import DefinitionError

from ..model import (
    EnumDef,
    FieldDef,
    FileDef,
    MessageDef,
    MethodDef,
    PyRef,
    PyShape,
    Schema,
    TypeRef,
    Wkt,
)
from ..schema.fields import FieldSpec, class_fields
from ..schema.naming import to_upper_snake
from .converters import WKT_PY, lit
from .imports import client_imports, client_modules, relative_package
from .render import HEADER, environment, render_proto
from .stub import StubBuilder


def client_path(file: FileDef) -> str:
    """`demo/library/v1/library.proto` → `demo/library/v1/library_client.py`."""
    return file.path.removesuffix(".proto") + "_client.py"


def render_clients(schema: Schema) -> dict[str, str]:
    """`{path: text}` of each file's `.proto` and `_client.py` module.

    Raises:
        DefinitionError: a default value cannot be written as Python source.
    """
    env = environment()
    out: dict[str, str] = {}
    for file in schema.files:
        siblings = [f for f in schema.files if f.package == file.package]
        out[file.path] = render_proto(env, file, siblings)
        template, context = (
            env.get_template("client.py.j2"),
            client_context(file, list(schema.files)),
        )
        # rendered twice: the first pass shows which imports the module needs
        draft = template.render(header=HEADER, imports=[], modules=[], siblings=[], **context)
        modules = client_modules(draft, file)
        imports = client_imports(draft, pb2=any(kind == "pb2" for _, _, kind in modules))
        siblings_used = [
            f"from {relative_package(file.path, module.replace('.', '/'))} import "
            f"{module.rsplit('.', 1)[1]} as {alias}"
            for alias, module, kind in modules
            if kind == "client"
        ]
        out[client_path(file)] = template.render(
            header=HEADER, imports=imports, modules=modules, siblings=siblings_used, **context
        )
    return dict(sorted(out.items()))


class _ClientBuilder(StubBuilder):
    """The stub builder's converters, aimed at the client's own classes.

    Its enums have a member for every number of the schema (the zero value included), so
    a decoder refuses only numbers this client does not know, with `cello.WireError`.
    """

    # the well-known types' modules come through `cello.client`, so the module's only
    # absolute import is `cello`: its import block sorts the same in any project
    wkt_prefix = "_w."
    newtype_casts = False  # the client's own classes use the base types

    def py_class(self, ref: MessageDef | EnumDef) -> str:
        return self.ref(ref.full_name, self.ident(ref))

    def described(self, ref: MessageDef | EnumDef) -> str:
        return ref.full_name

    @staticmethod
    def has_zero_member(enum: EnumDef) -> bool:
        return True

    def element_py(self, ref: TypeRef) -> str:
        target = self.messages.get(ref.name)
        if target is not None and target.shape is not PyShape.DATACLASS:
            return "dict[str, Any]"
        return super().element_py(ref)

    def py_type(self, ref: TypeRef) -> str:
        if ref.wkt is not None:
            return WKT_PY[ref.wkt]
        return super().py_type(ref)

    def converter(self, m: MessageDef) -> Any:
        conv = super().converter(m)
        conv.pb2_type = "Any"  # protoc's classes are built at run time: mypy sees Any
        conv.pyi_shadowed = set()  # so no `.pyi` can name a class wrongly
        return conv


def client_context(file: FileDef, siblings: list[FileDef] | None = None) -> dict[str, object]:
    """Everything the client template needs, as finished strings."""
    b = _ClientBuilder(file, siblings)
    literal = _Literal(b)
    exports = [b.ident(e) for e in file.enums]
    exports += [b.ident(m) for m in file.messages if m.shape is PyShape.DATACLASS]
    exports += [f"{s.name}{kind}" for s in file.services for kind in ("Client", "SyncClient")]
    method_names = {m.python_name for s in file.services for m in s.methods}
    aliases = {
        name: (f"_t_{name}", name)
        for name in [b.ident(e) for e in file.enums] + [b.ident(m) for m in file.messages]
        if name in method_names
    }
    classes = [
        (b.ident(m), _class_fields(b, m, literal))
        for m in file.messages
        if m.shape is PyShape.DATACLASS
    ]
    converters = [b.converter(m) for m in file.messages]
    services = [
        {
            "name": s.name,
            "full_name": s.full_name,
            "methods": [
                _shadowed(_method(b, s.full_name, s.python, m, literal, index), aliases)
                for index, m in enumerate(s.methods)
            ],
        }
        for s in file.services
    ]
    return {
        "exports": sorted(exports),
        "file": file,
        "lit": lit,
        "class_enums": [(b.ident(e), enum_members(e)) for e in file.enums],
        "enums": [
            {
                "name": b.ident(e),
                "described": [lit(e.full_name)],
                "members": [(f"{b.ident(e)}.{name}", str(n)) for name, n in enum_members(e)],
                "py_class": b.ident(e),
                "closed": e.closed,
            }
            for e in file.enums
        ],
        "enum_tables": b.enum_tables,
        "defaults": b.defaults,
        "classes": classes,
        "converters": converters,
        "services": services,
        "aliases": sorted(set(aliases.values())),
    }


def _shadowed(method: dict[str, Any], aliases: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Inside a client class a method named like a type hides it: say `_t_Name` instead."""
    for key in ("async_params", "sync_params", "async_returns", "sync_returns"):
        value = method[key]
        for name, (alias, _) in aliases.items():
            pattern = rf"(?<![\w.]){name}\b"
            if isinstance(value, list):
                value = [re.sub(pattern, alias, v) for v in value]
            else:
                value = re.sub(pattern, alias, value)
        method[key] = value
    return method


def enum_members(e: EnumDef) -> list[tuple[str, int]]:
    """The client enum's members: the user's, plus the synthesized zero (`UNSPECIFIED`)."""
    prefix = to_upper_snake(e.name) + "_"
    return [(v.python_name or v.name.removeprefix(prefix), v.number) for v in e.values]


def _resolve(ref: PyRef) -> Any:
    """The user's class: build imported it already."""
    value: Any = sys.modules[ref.module]
    for part in ref.qualname.split("."):
        value = getattr(value, part)
    return value


def _python_fields(m: MessageDef) -> list[tuple[str, list[FieldDef]]]:
    """The message's Python fields in order: a oneof's proto fields grouped under its name."""
    # a declared oneof's members are Python fields of their own
    oneofs = {o.name: o.python_name for o in m.oneofs if not o.declared}
    groups: list[tuple[str, list[FieldDef]]] = []
    for f in m.fields:
        name = oneofs.get(f.oneof or "", f.python_name)
        if groups and f.oneof in oneofs and groups[-1][0] == name:
            groups[-1][1].append(f)
        else:
            groups.append((name, [f]))
    return groups


def _field_type(b: _ClientBuilder, m: MessageDef, fields: list[FieldDef]) -> str:
    if fields[0].oneof is None or any(o.declared for o in m.oneofs if o.name == fields[0].oneof):
        return b.field_py(fields[0])
    return b.oneof_py(m, next(o for o in m.oneofs if o.name == fields[0].oneof))


def _class_fields(
    b: _ClientBuilder, m: MessageDef, literal: _Literal
) -> list[tuple[str, str, str | None]]:
    """`(name, annotation, default source or None)` for each field of a dataclass message."""
    assert m.python is not None
    cls = _resolve(m.python)
    declared = {f.name: f for f in class_fields(cls, f"{m.python.module}.{m.python.qualname}")}
    where = f"{m.python.module}.{m.python.qualname}"
    out = []
    for name, fields in _python_fields(m):
        spec = declared[name]
        annotation = _field_type(b, m, fields)
        out.append((name, annotation, literal.default(spec, f"{where}.{name}")))
    return out


def _method(
    b: _ClientBuilder,
    service: str,
    owner: PyRef,
    m: MethodDef,
    literal: _Literal,
    index: int,
) -> dict[str, object]:
    req, resp = b.py_type(m.request), b.py_type(m.response)
    params: list[str] = []
    arg = "request"
    rpc_req = req
    request_message = b.messages.get(m.request.name)
    if m.client_streaming:
        arg = "requests"
    elif m.request.wkt is Wkt.EMPTY:
        arg, rpc_req = "None", "None"
    elif m.request.wkt is Wkt.STRUCT:
        params = ["request: dict[str, Any] | None = None"]
        arg, rpc_req = "request or {}", "dict[str, Any]"
    elif request_message is not None and request_message.shape is PyShape.PARAMS:
        func = getattr(_resolve(owner), m.python_name)
        signature = inspect.signature(func)
        where = f"{owner.module}.{owner.qualname}.{m.python_name}"
        names = []
        for name, fields in _python_fields(request_message):
            annotation = _field_type(b, request_message, fields)
            default = signature.parameters[name].default
            if default is inspect.Parameter.empty:
                params.append(f"{name}: {annotation}")
            else:
                params.append(f"{name}: {annotation} = {literal.value(default, f'{where}.{name}')}")
            names.append(name)
        arg = "{" + ", ".join(f'"{n}": {n}' for n in names) + "}"
    else:
        params = [f"request: {req}"]
    kind = (
        ("stream" if m.client_streaming else "unary")
        + "_"
        + ("stream" if m.server_streaming else "unary")
    )
    return {
        "name": m.name,
        "python_name": m.python_name,
        "rpc": f"_{service.rsplit('.', 1)[-1]}_{m.name}",
        "path": f"/{service}/{m.name}",
        "kind": kind,
        "request_type": b.pb_class(m.request),
        "response_type": b.pb_class(m.response),
        "encode": b.codec(m.request, "enc") if m.request.wkt is not Wkt.EMPTY else "_w.empty_in",
        "decode": b.codec(m.response, "dec"),
        "rpc_types": f"{rpc_req}, {resp}",
        "async_params": (
            [f"requests: AsyncIterable[{req}] | Iterable[{req}]"] if m.client_streaming else params
        ),
        "sync_params": [f"requests: Iterable[{req}]"] if m.client_streaming else params,
        "async_iterable": m.client_streaming,
        "arg": arg,
        "async_returns": f"AsyncIterator[{resp}]" if m.server_streaming else resp,
        "sync_returns": f"Iterator[{resp}]" if m.server_streaming else resp,
        "streams_out": m.server_streaming,
        "index": index,
    }


class _Literal:
    """Python source for the user's default values, in the client's own names."""

    def __init__(self, b: _ClientBuilder) -> None:
        def names(types: list[MessageDef] | list[EnumDef]) -> dict[tuple[str, str], str]:
            return {(t.python.module, t.python.qualname): b.py_class(t) for t in types if t.python}

        self.enums = names(list(b.enums.values()))
        self.messages = names(list(b.messages.values()))

    def default(self, spec: FieldSpec, where: str) -> str | None:
        if spec.default is not dataclasses.MISSING:
            return self.value(spec.default, where)
        factory: Callable[[], Any] | Any = spec.default_factory
        if factory is dataclasses.MISSING:
            return None
        if factory in (list, dict):
            return f"_field(default_factory={factory.__name__})"
        key = (getattr(factory, "__module__", ""), getattr(factory, "__qualname__", ""))
        if key in self.messages:
            return f"_field(default_factory={self.messages[key]})"
        return f"_field(default_factory=lambda: {self.value(factory(), where)})"

    def value(self, value: Any, where: str) -> str:
        """Source text that evaluates to `value`.

        Raises:
            DefinitionError: the value is not a literal the client can repeat.
        """
        source = self._source(value)
        if source is None:
            raise DefinitionError(
                f"{where}: default {value!r} cannot be written into a client module; use a "
                "literal, an enum member, a datetime/timedelta or default_factory=list/dict"
            )
        return source

    def _source(self, value: Any) -> str | None:
        if isinstance(value, str) and not isinstance(value, enum.Enum):
            return json.dumps(value)  # double quotes, as ruff format writes them
        if (
            value is None
            or isinstance(value, (bool, int, bytes))
            and not isinstance(value, enum.Enum)
        ):
            return repr(value)
        if isinstance(value, float):
            return repr(value) if math.isfinite(value) else f'float("{value}")'
        if isinstance(value, enum.Enum):
            key = (type(value).__module__, type(value).__qualname__)
            return f"{self.enums[key]}.{value.name}" if key in self.enums else None
        if isinstance(value, (dt.datetime, dt.timedelta, dt.date, dt.time)):
            return "_dt." + repr(value).removeprefix("datetime.").replace(
                "datetime.timezone", "_dt.timezone"
            )
        if isinstance(value, (uuid.UUID, decimal.Decimal)):
            return f'_w.{type(value).__name__}("{value}")'
        if isinstance(value, (list, tuple)):
            items = [self._source(v) for v in value]
            if None in items:
                return None
            text = ", ".join(typing.cast(list[str], items))
            if isinstance(value, list):
                return f"[{text}]"
            return f"({text},)" if len(items) == 1 else f"({text})"
        if isinstance(value, dict):
            pairs = [(self._source(k), self._source(v)) for k, v in value.items()]
            if any(k is None or v is None for k, v in pairs):
                return None
            return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
        return None
