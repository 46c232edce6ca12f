"""The gRPC API of Cello: services, the decorator, server, client and call envelopes."""

from __future__ import annotations

from ._call import CallContext, current_call
from ._channel import GrpcChannel
from ._config import GrpcConfig
from ._errors import GrpcError
from ._identity import PeerIdentity
from ._messages import GrpcRequest, GrpcResponse
from ._server import GrpcServer
from ._service import GrpcService, grpc_method
from ._syncchannel import SyncGrpcChannel
from ._tls import ClientTls, TlsConfig
from ._transports.asgi import GrpcWebApp

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
    "PeerIdentity",
    "SyncGrpcChannel",
    "TlsConfig",
    "current_call",
    "grpc_method",
]
