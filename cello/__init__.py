"""Cello gRPC: write services as Python classes, serve real protobuf over gRPC."""

from __future__ import annotations

from ._app import App
from ._channel import GrpcChannel
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
from ._messages import GrpcRequest, GrpcResponse
from ._server import GrpcServer
from ._service import GrpcService, grpc_method
from ._stubs import SchemaSource
from ._syncchannel import SyncGrpcChannel
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
from ._web import GrpcWebApp

__all__ = [
    "App",
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
    "enum_options",
    "grpc_method",
    "peer_identity_from_auth_context",
]
