"""The gRPC API of Cello: services, the decorator, server, client and call envelopes."""

from __future__ import annotations

import typing

from ._call.context import CallContext, current_call
from ._definitions.config import GrpcConfig
from ._definitions.messages import GrpcRequest, GrpcResponse
from ._definitions.service import GrpcService, grpc_method, not_rpc
from ._errors import GrpcError
from ._lazy import lazy_dir as _lazy_dir
from ._lazy import lazy_getattr as _lazy_getattr
from ._server.server import GrpcServer

if typing.TYPE_CHECKING:
    from ._client.channel import GrpcChannel
    from ._client.sync_channel import SyncGrpcChannel
    from ._definitions.http import Http
    from ._protocols import GrpcWebApp
    from ._security.identity import PeerIdentity
    from ._security.tls import ClientTls, TlsConfig


__all__ = [
    "CallContext",
    "ClientTls",
    "GrpcChannel",
    "GrpcConfig",
    "GrpcError",
    "GrpcRequest",
    "GrpcResponse",
    "GrpcServer",
    "GrpcService",
    "GrpcWebApp",
    "Http",
    "PeerIdentity",
    "SyncGrpcChannel",
    "TlsConfig",
    "current_call",
    "grpc_method",
    "not_rpc",
]

# the clients, gRPC-Web and TLS (and the protobuf descriptor and JSON machinery they pull
# in) are imported on first use, so `import cello` costs little more than `import grpc`
_LAZY = {
    "Http": "._definitions.http",
    "ClientTls": "._security.tls",
    "GrpcChannel": "._client.channel",
    "GrpcWebApp": "._protocols",
    "PeerIdentity": "._security.identity",
    "SyncGrpcChannel": "._client.sync_channel",
    "TlsConfig": "._security.tls",
}


__getattr__ = _lazy_getattr(__name__, _LAZY, globals())
__dir__ = _lazy_dir(_LAZY, globals())
