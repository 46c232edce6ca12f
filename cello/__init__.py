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
    WireError,
)
from ._messages import GrpcRequest, GrpcResponse
from ._server import GrpcServer
from ._service import GrpcService, grpc_method
from ._types import (
    Double,
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
)
from ._web import GrpcWebApp

__all__ = [
    "App",
    "CelloError",
    "DefinitionError",
    "Double",
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
    "SFixed32",
    "SFixed64",
    "SInt32",
    "SInt64",
    "StaleStubsError",
    "UInt32",
    "UInt64",
    "WireError",
    "grpc_method",
]
