"""Schema model → the context of the Python stub template: services, bindings and clients.

The converters (encode/decode expressions, type names, tables) are built by
`converters.ConverterBuilder`, which `StubBuilder` extends with the services.
"""

from __future__ import annotations

from ..model import FileDef, MessageDef, MethodDef, PyShape, TypeRef, Wkt
from .converters import ConverterBuilder, lit
from .dictenc import DictEncoderBuilder

# keyword arguments of every client method; a params rpc using one keeps a `request` dict
_CLIENT_KEYWORDS = frozenset({"self", "timeout", "metadata", "request"})


class StubBuilder(ConverterBuilder):
    """Turns one `FileDef` into the strings the stub template prints."""

    def method(self, service: str, m: MethodDef) -> dict[str, object]:
        return {
            "service": service,
            "name": m.name,
            "python_name": m.python_name,
            "client_streaming": m.client_streaming,
            "server_streaming": m.server_streaming,
            "style": m.style.value,
            "request_type": self.pb_class(m.request),
            "response_type": self.pb_class(m.response),
            "decode_request": self.codec(m.request, "dec"),
            "encode_request": self.codec(m.request, "enc"),
            "decode_response": self.codec(m.response, "dec"),
            "encode_response": self.codec(m.response, "enc"),
            "response_shape": self.shape(m.response),
            "encode_response_dict": self.dict_codec(m.response),
            **self.client_method(m),
        }

    def client_method(self, m: MethodDef) -> dict[str, object]:
        """The typed client method's parameters and body for one rpc."""
        req, resp = self.py_type(m.request), self.py_type(m.response)
        params: list[str] = []
        build: list[tuple[str, str]] = []  # the request dict built from keyword parameters
        message = self.messages.get(m.request.name)
        if m.client_streaming:
            param = f"requests: AsyncIterable[{req}] | Iterable[{req}]"
            if len(param) + 9 > 100:  # 8 spaces and a comma
                indent = " " * 12
                param = (
                    f"requests: (\n{indent}AsyncIterable[{req}]"
                    f"\n{indent}| Iterable[{req}]\n{' ' * 8})"
                )
            params.append(param)
        elif message is not None and message.shape is PyShape.PARAMS:
            build = self._keywords(message)
            if build:
                params += ["*", *(p for p, _ in build)]
            else:
                params.append("request: dict[str, Any]")
        else:
            params.append(f"request: {req}" + (" = None" if req == "None" else ""))
        if "*" not in params:
            params.append("*")
        params += ["timeout: float | None = None", "metadata: _Metadata | None = None"]
        kind = (
            ("stream" if m.client_streaming else "unary")
            + "_"
            + ("stream" if m.server_streaming else "unary")
        )
        return {
            "client_def": "def" if m.server_streaming else "async def",
            "client_params": params,
            "client_build": [name for _, name in build],
            "client_returns": f"AsyncIterator[{resp}]" if m.server_streaming else resp,
            "client_reply": resp,
            "client_kind": kind,
            "client_arg": "requests" if m.client_streaming else "request",
        }

    def _keywords(self, message: MessageDef) -> list[tuple[str, str]]:
        """`(parameter, name)` per handler parameter; empty if one clashes with the client's."""
        oneofs = {o.python_name: o for o in message.oneofs}
        out: list[tuple[str, str]] = []
        for f in message.fields:
            if f.python_name in (name for _, name in out):
                continue
            oneof = oneofs.get(f.python_name) if f.oneof else None
            py = self.oneof_py(message, oneof) if oneof else self.field_py(f)
            if f.has_default:  # None leaves the parameter out: the handler's default applies
                py = py if py.endswith("| None") or py == "Any" else f"{py} | None"
                out.append((f"{f.python_name}: {py} = None", f.python_name))
            else:
                out.append((f"{f.python_name}: {py}", f.python_name))
        if any(name in _CLIENT_KEYWORDS for _, name in out):
            return []
        return out

    def codec(self, ref: TypeRef, direction: str) -> str:
        if ref.wkt is Wkt.EMPTY:
            return "_w.empty_in" if direction == "enc" else "_w.empty_out"
        if ref.wkt is Wkt.STRUCT:
            return "_w.struct" if direction == "enc" else "_w.from_struct"
        return self.ref(ref.name, f"_{direction}_{self.ident(self.messages[ref.name])}")

    def dict_codec(self, ref: TypeRef) -> str | None:
        """The dict encoder of a response whose handler may return a dict, else None."""
        message = self.messages.get(ref.name)
        if message is None or message.shape is not PyShape.DATACLASS:
            return None
        return self.ref(ref.name, f"_encd_{self.ident(message)}")

    def shape(self, ref: TypeRef) -> str:
        if ref.wkt is Wkt.EMPTY:
            return PyShape.EMPTY.value
        if ref.wkt is Wkt.STRUCT:
            return PyShape.STRUCT.value
        return self.messages[ref.name].shape.value

    def py_type(self, ref: TypeRef) -> str:
        if ref.wkt is Wkt.EMPTY:
            return "None"
        if ref.wkt is Wkt.STRUCT:
            return "dict[str, Any]"
        message = self.messages[ref.name]
        if message.shape is PyShape.DATACLASS:
            return self.py_class(message)
        if message.shape is PyShape.VALUE:
            return self.field_py(message.fields[0])
        return "dict[str, Any]"


def stub_context(file: FileDef, siblings: list[FileDef] | None = None) -> dict[str, object]:
    """Everything the stub body template needs, as finished strings.

    `siblings` are all files of the file's package (itself included), for types it imports.
    """
    b = StubBuilder(file, siblings)
    converters = [b.converter(m) for m in file.messages]
    dicts = DictEncoderBuilder(b)
    services = [
        {
            "name": s.name,
            "full_name": s.full_name,
            "python_class": f"{s.python.module}:{s.python.qualname}",
            "methods": [b.method(s.full_name, m) for m in s.methods],
        }
        for s in file.services
    ]
    return {
        "file": file,
        "builder": b,
        "lit": lit,
        "pb2_module": f"{file.module_stem}_pb2",
        "enums": [
            {
                "name": b.ident(e),
                "described": _split_literal(b.described(e)),
                "members": [
                    (f"{b.py_class(e)}.{v.python_name}", f"_pb2.{'.'.join((*e.scope, v.name))}")
                    for v in e.values
                    if v.python_name
                ],
                "py_class": b.py_class(e),
                "closed": e.closed,
            }
            for e in file.enums
        ],
        "enum_tables": b.enum_tables,
        "defaults": b.defaults,
        "converters": converters,
        "services": services,
        "dict_enums": dicts.enums(file),
        "dict_encoders": dicts.encoders(file),
    }


def _split_literal(text: str) -> list[str]:
    """`text` as one string literal, or two adjacent ones where one would be too long."""
    if len(lit(text)) + 5 <= 100:
        return [lit(text)]
    head, sep, tail = text.partition(" (")
    return [lit(head), lit(sep + tail)]
