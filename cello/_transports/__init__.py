"""Transports: each serves endpoints over one wire protocol and owns its (de)serialization.

`grpc_aio` adapts endpoints to grpc.aio; `asgi` serves them over HTTP (gRPC-Web, and
later Connect), one protocol per module. Transports import the call layer, never the
reverse.
"""
