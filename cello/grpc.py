"""The gRPC API of Cello: services, the decorator, server, client and call envelopes."""

from __future__ import annotations

import typing

from ._call import CallContext, current_call
from ._config import GrpcConfig
from ._errors import GrpcError
from ._lazy import lazy_dir as _lazy_dir
from ._lazy import lazy_getattr as _lazy_getattr
from ._messages import GrpcRequest, GrpcResponse
from ._server import GrpcServer
from ._service import GrpcService, grpc_method, not_rpc

if typing.TYPE_CHECKING:
    from ._channel import GrpcChannel
    from ._identity import PeerIdentity
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
    "not_rpc",
]

# the clients, gRPC-Web and TLS (and the protobuf descriptor and JSON machinery they pull
# in) are imported on first use, so `import cello` costs little more than `import grpc`
_LAZY = {
    "ClientTls": "._tls",
    "GrpcChannel": "._channel",
    "GrpcWebApp": "._transports.asgi",
    "PeerIdentity": "._identity",
    "SyncGrpcChannel": "._syncchannel",
    "TlsConfig": "._tls",
}


__getattr__ = _lazy_getattr(__name__, _LAZY, globals())
__dir__ = _lazy_dir(_LAZY, globals())
