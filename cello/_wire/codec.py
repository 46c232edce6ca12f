"""Messages to and from protobuf bytes and JSON outside an rpc: `to_bytes`, `from_bytes`,
`to_json` and `from_json`.

They use the generated converters of the stubs a server of the class's module would load
(through the stub loader, like a server), so a message is encoded exactly as an rpc sends it,
numbered by the project's lock, and decoded under the same wire policy. A class that no
service of its module uses gets stubs of its own: a service with one rpc taking and
returning it, generated on the fly beside it in its package.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .._definitions.service import GrpcService, grpc_method
from .._errors import StaleStubsError, WireError

T = TypeVar("T")

_STUBS_PREFIX = "_cello_stubs_"  # the loader's private package names (cello._wire.stubs._import)


@dataclasses.dataclass(frozen=True, slots=True)
class _Codec:
    pb2: Any  # the generated `_pb2` message class
    encode: Callable[[Any], Any]  # the stub's `_enc_<Message>`
    decode: Callable[[Any], Any]  # the stub's `_dec_<Message>`


_codecs: dict[type, _Codec] = {}
_lock = threading.Lock()


def to_bytes(message: object) -> bytes:
    """The protobuf encoding of `message` (a dataclass or pydantic model instance), exactly
    what an rpc sends for it.

    Raises:
        TypeError: `message` is not an instance of a message class, or a field holds a value
            of the wrong type.
        DefinitionError: the class has no protobuf mapping.
    """
    codec = _codec_of(type(message), "to_bytes")
    data: bytes = codec.encode(message).SerializeToString()
    return data


def from_bytes(cls: type[T], data: bytes) -> T:
    """Decode protobuf bytes into an instance of the message class `cls`.

    Raises:
        WireError: `data` is not a valid message, or holds a value `cls` cannot represent
            exactly (the rules of docs/wire-policy.md).
        TypeError: `cls` is not a message class (a dataclass or pydantic model).
    """
    from google.protobuf.message import DecodeError

    codec = _codec_of(cls, "from_bytes")
    try:
        message = codec.pb2.FromString(data)
    except (DecodeError, TypeError) as exc:
        name = codec.pb2.DESCRIPTOR.full_name
        raise WireError(f"{_name(cls)}: not a valid {name} message ({exc})") from None
    value: T = codec.decode(message)
    return value


def to_json(message: object) -> str:
    """The canonical proto3 JSON of `message`, as Connect sends it (lowerCamel names, enums
    by name, 64-bit integers as strings, fields at their zero value left out).

    Raises:
        TypeError: as `to_bytes`.
    """
    from google.protobuf import json_format

    codec = _codec_of(type(message), "to_json")
    text: str = json_format.MessageToJson(codec.encode(message), indent=None, ensure_ascii=False)
    return text


def from_json(cls: type[T], text: str | bytes) -> T:
    """Decode proto3 JSON (either field-name spelling) into an instance of `cls`.

    Raises:
        WireError: the text is not JSON of that message (an unknown field included), or holds
            a value `cls` cannot represent exactly.
        TypeError: `cls` is not a message class.
    """
    from google.protobuf import json_format

    codec = _codec_of(cls, "from_json")
    try:
        message = json_format.Parse(text, codec.pb2())
    except (json_format.ParseError, TypeError, ValueError) as exc:
        name = codec.pb2.DESCRIPTOR.full_name
        problem = " ".join(str(exc).split())
        raise WireError(f"{_name(cls)}: invalid JSON for {name}: {problem}") from None
    value: T = codec.decode(message)
    return value


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _codec_of(cls: Any, api: str) -> _Codec:
    codec = _codecs.get(cls)
    if codec is not None:
        return codec
    if not _is_message_class(cls):
        what = cls.__qualname__ if isinstance(cls, type) else repr(cls)
        raise TypeError(
            f"cello.{api}: {what} is not a message class; pass a dataclass or a pydantic "
            "model (an instance for to_bytes/to_json, the class for from_bytes/from_json)"
        )
    with _lock:
        codec = _codecs.get(cls)
        if codec is None:
            codec = _codecs[cls] = _load(cls)
    return codec


def _is_message_class(cls: Any) -> bool:
    """A dataclass or pydantic model class (`cello.codegen.schema.hints.is_message_class`, without
    loading the generator)."""
    if not isinstance(cls, type):
        return False
    if dataclasses.is_dataclass(cls):
        return True
    pydantic = sys.modules.get("pydantic")
    return (
        pydantic is not None
        and issubclass(cls, pydantic.BaseModel)
        and cls is not (pydantic.BaseModel)
    )


def _load(cls: type) -> _Codec:
    """Load the stubs holding `cls`'s converters: its module's services', else its own."""
    from .stubs import load_bindings

    module = sys.modules.get(cls.__module__)
    services = [
        value
        for value in (vars(module).values() if module is not None else ())
        if isinstance(value, type)
        and issubclass(value, GrpcService)
        and value is not GrpcService
        and value.__module__ == cls.__module__
        and value.rpc_methods()
    ]
    if services:
        load_bindings(services)
        found = _find(cls)
        if found is not None:
            return found
    try:
        load_bindings([_codec_service(cls, services)])
    except StaleStubsError as exc:
        raise StaleStubsError(
            f"{_name(cls)}: no service of its module uses it, so it is not in the stubs "
            f"being served ({exc}); use it in a service, or unset $CELLO_STUBS_DIR"
        ) from exc
    found = _find(cls)
    if found is None:  # the generator always writes a message's converters
        raise StaleStubsError(f"{_name(cls)}: the generated stubs have no converters for it")
    return found


def _codec_service(cls: type, siblings: list[type[GrpcService]]) -> type[GrpcService]:
    """A service with one rpc taking and returning `cls`, in the package the module's
    services use (else the module's own), in a `.proto` file of its own."""

    async def Echo(self: Any, request: Any) -> Any:  # never served
        return request

    Echo.__annotations__ = {"request": cls, "return": cls}
    ident = cls.__qualname__.replace(".", "_")
    namespace: dict[str, Any] = {
        "__module__": cls.__module__,
        "__qualname__": f"CelloCodec_{ident}",
        "__cello_file__": f"cello_codec_{ident.lower()}.proto",
        "Echo": grpc_method(Echo),
    }
    package = siblings[0].__dict__.get("package") if siblings else None
    if package:
        namespace["package"] = package
    return type(f"CelloCodec_{ident}", (GrpcService,), namespace)


def _find(cls: type) -> _Codec | None:
    """The converters of `cls` in the stub modules loaded so far: a `_dec_<Message>` whose
    return annotation names `cls`, and the `_enc_<Message>` beside it."""
    for name, module in list(sys.modules.items()):
        if not (name.startswith(_STUBS_PREFIX) and name.endswith("_cello")):
            continue
        names = vars(module)
        for attr, decode in list(names.items()):
            if not attr.startswith("_dec_") or not callable(decode):
                continue
            encode = names.get("_enc_" + attr.removeprefix("_dec_"))
            returns = getattr(decode, "__annotations__", {}).get("return")
            if encode is None or not isinstance(returns, str):
                continue
            try:
                found = eval(returns, names)  # a name the stub itself imported: `_m0.Book`
                pb2 = eval(encode.__annotations__["return"], names)
            except Exception:
                continue
            if found is cls:
                return _Codec(pb2, encode, decode)
    return None
