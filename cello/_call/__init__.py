"""The protocol-neutral call unit: `CallContext`, `Endpoint`, dispatch and middleware.

Every transport and protocol calls an `Endpoint`; nothing here knows grpc, HTTP or ASGI.
Imports `_definitions`, `_wire` and `_security` only.
"""
