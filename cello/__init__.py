"""Cello gRPC: write services as Python classes, serve real protobuf over gRPC."""

from __future__ import annotations

import typing

from ._app import App
from ._call import CallContext, current_call
from ._config import GrpcConfig
from ._errors import (
    CelloError,
    DefinitionError,
    GenerationError,
    GrpcError,
    StaleStubsError,
    TlsError,
    WireError,
)
from ._identity import PeerIdentity, peer_identity_from_auth_context
from ._lazy import lazy_getattr as _lazy_getattr
from ._messages import GrpcRequest, GrpcResponse
from ._middleware import access_log, map_exceptions, token_auth
from ._server import GrpcServer
from ._service import GrpcService, grpc_method
from ._tls import ClientTls, TlsConfig
from ._types import (
    Doc,
    Double,
    EnumOptions,
    Field,
    Fixed32,
    Fixed64,
    Float,
    Int32,
    Int64,
    SFixed32,
    SFixed64,
    SInt32,
    SInt64,
    UInt32,
    UInt64,
    enum_options,
)

if typing.TYPE_CHECKING:
    from ._channel import GrpcChannel
    from ._stubs import SchemaSource
    from ._syncchannel import SyncGrpcChannel
    from ._transports.asgi import GrpcWebApp


__all__ = [
    "App",
    "CallContext",
    "CelloError",
    "ClientTls",
    "DefinitionError",
    "Doc",
    "Double",
    "EnumOptions",
    "Field",
    "Fixed32",
    "Fixed64",
    "Float",
    "GenerationError",
    "GrpcChannel",
    "GrpcConfig",
    "GrpcError",
    "GrpcRequest",
    "GrpcResponse",
    "GrpcServer",
    "GrpcService",
    "GrpcWebApp",
    "Int32",
    "Int64",
    "PeerIdentity",
    "SFixed32",
    "SFixed64",
    "SInt32",
    "SInt64",
    "SchemaSource",
    "StaleStubsError",
    "SyncGrpcChannel",
    "TlsConfig",
    "TlsError",
    "UInt32",
    "UInt64",
    "WireError",
    "access_log",
    "current_call",
    "enum_options",
    "grpc_method",
    "map_exceptions",
    "peer_identity_from_auth_context",
    "token_auth",
]

# the clients, gRPC-Web and the stub loader (and the protobuf descriptor and JSON machinery
# they pull in) are imported on first use, so `import cello` costs little more than
# `import grpc`
_LAZY = {
    "GrpcChannel": "._channel",
    "SyncGrpcChannel": "._syncchannel",
    "GrpcWebApp": "._transports.asgi",
    "SchemaSource": "._stubs",
}


__getattr__ = _lazy_getattr(__name__, _LAZY, globals())
