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
from ._lazy import lazy_dir as _lazy_dir
from ._lazy import lazy_getattr as _lazy_getattr
from ._messages import GrpcRequest, GrpcResponse
from ._middleware import access_log, map_exceptions, token_auth
from ._server import GrpcServer
from ._service import GrpcService, grpc_method

if typing.TYPE_CHECKING:
    from ._channel import GrpcChannel
    from ._identity import PeerIdentity, peer_identity_from_auth_context
    from ._stubs import SchemaSource
    from ._syncchannel import SyncGrpcChannel
    from ._tls import ClientTls, TlsConfig
    from ._transports.asgi import GrpcWebApp
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
        which_oneof,
    )


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
    "which_oneof",
]

# the clients, gRPC-Web, TLS, the schema markers and the stub loader (and the protobuf
# descriptor and JSON machinery they pull in) are imported on first use, so `import cello`
# costs little more than `import grpc`: each frozen dataclass costs about 1 ms to define
_LAZY = {
    "ClientTls": "._tls",
    "GrpcChannel": "._channel",
    "GrpcWebApp": "._transports.asgi",
    "PeerIdentity": "._identity",
    "SchemaSource": "._stubs",
    "SyncGrpcChannel": "._syncchannel",
    "TlsConfig": "._tls",
    "peer_identity_from_auth_context": "._identity",
    "Doc": "._types",
    "Double": "._types",
    "EnumOptions": "._types",
    "Field": "._types",
    "Fixed32": "._types",
    "Fixed64": "._types",
    "Float": "._types",
    "Int32": "._types",
    "Int64": "._types",
    "SFixed32": "._types",
    "SFixed64": "._types",
    "SInt32": "._types",
    "SInt64": "._types",
    "UInt32": "._types",
    "UInt64": "._types",
    "enum_options": "._types",
    "which_oneof": "._types",
}


__getattr__ = _lazy_getattr(__name__, _LAZY, globals())
__dir__ = _lazy_dir(_LAZY, globals())
