"""The ASGI transport: `GrpcWebApp` and one module per HTTP protocol (`grpc_web`)."""

from .app import GrpcWebApp

__all__ = ["GrpcWebApp"]
