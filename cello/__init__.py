"""Cello gRPC: write services as Python classes, serve real protobuf over gRPC."""

from __future__ import annotations

import typing

from ._call.context import CallContext, current_call
from ._call.middleware import access_log, map_exceptions, token_auth
from ._definitions.config import GrpcConfig
from ._definitions.messages import GrpcRequest, GrpcResponse
from ._definitions.service import GrpcService, grpc_method, not_rpc
from ._errors import (
    CelloError,
    CelloWarning,
    DefinitionError,
    GenerationError,
    GrpcError,
    StaleStubsError,
    TlsError,
    WireError,
)
from ._lazy import lazy_dir as _lazy_dir
from ._lazy import lazy_getattr as _lazy_getattr
from ._server.app import App
from ._server.server import GrpcServer

if typing.TYPE_CHECKING:
    from ._call.telemetry import TraceContextFilter
    from ._client.calls import ClientCall
    from ._client.channel import GrpcChannel
    from ._client.middleware import bearer_token, client_access_log, map_status
    from ._client.policy import HedgingPolicy, RetryPolicy, RetryThrottling
    from ._client.propagation import detached
    from ._client.sync_channel import SyncGrpcChannel
    from ._definitions.http import Http
    from ._definitions.markers import (
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
    from ._protocols import GrpcWebApp
    from ._security.identity import PeerIdentity, peer_identity_from_auth_context
    from ._security.tls import ClientTls, TlsConfig
    from ._wire.codec import from_bytes, from_json, to_bytes, to_json
    from ._wire.stubs import SchemaSource


__all__ = [
    "App",
    "CallContext",
    "CelloError",
    "CelloWarning",
    "ClientCall",
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
    "HedgingPolicy",
    "Http",
    "Int32",
    "Int64",
    "PeerIdentity",
    "RetryPolicy",
    "RetryThrottling",
    "SFixed32",
    "SFixed64",
    "SInt32",
    "SInt64",
    "SchemaSource",
    "StaleStubsError",
    "SyncGrpcChannel",
    "TlsConfig",
    "TlsError",
    "TraceContextFilter",
    "UInt32",
    "UInt64",
    "WireError",
    "access_log",
    "bearer_token",
    "client_access_log",
    "current_call",
    "detached",
    "enum_options",
    "from_bytes",
    "from_json",
    "grpc_method",
    "map_exceptions",
    "map_status",
    "not_rpc",
    "peer_identity_from_auth_context",
    "to_bytes",
    "to_json",
    "token_auth",
    "which_oneof",
]

# the clients, gRPC-Web, TLS, the schema markers, the message codec and the stub loader (and
# the protobuf descriptor and JSON machinery they pull in) are imported on first use, so
# `import cello` costs little more than `import grpc`: each frozen dataclass costs about
# 1 ms to define
_LAZY = {
    "Http": "._definitions.http",
    "TraceContextFilter": "._call.telemetry",
    "ClientCall": "._client.calls",
    "ClientTls": "._security.tls",
    "HedgingPolicy": "._client.policy",
    "RetryPolicy": "._client.policy",
    "RetryThrottling": "._client.policy",
    "bearer_token": "._client.middleware",
    "client_access_log": "._client.middleware",
    "detached": "._client.propagation",
    "map_status": "._client.middleware",
    "GrpcChannel": "._client.channel",
    "GrpcWebApp": "._protocols",
    "PeerIdentity": "._security.identity",
    "SchemaSource": "._wire.stubs",
    "SyncGrpcChannel": "._client.sync_channel",
    "TlsConfig": "._security.tls",
    "peer_identity_from_auth_context": "._security.identity",
    "Doc": "._definitions.markers",
    "Double": "._definitions.markers",
    "EnumOptions": "._definitions.markers",
    "Field": "._definitions.markers",
    "Fixed32": "._definitions.markers",
    "Fixed64": "._definitions.markers",
    "Float": "._definitions.markers",
    "Int32": "._definitions.markers",
    "Int64": "._definitions.markers",
    "SFixed32": "._definitions.markers",
    "SFixed64": "._definitions.markers",
    "SInt32": "._definitions.markers",
    "SInt64": "._definitions.markers",
    "UInt32": "._definitions.markers",
    "UInt64": "._definitions.markers",
    "enum_options": "._definitions.markers",
    "from_bytes": "._wire.codec",
    "from_json": "._wire.codec",
    "to_bytes": "._wire.codec",
    "to_json": "._wire.codec",
    "which_oneof": "._definitions.markers",
}


__getattr__ = _lazy_getattr(__name__, _LAZY, globals())
__dir__ = _lazy_dir(_LAZY, globals())
