"""The HTTP protocols over ASGI: `GrpcWebApp` and one module per protocol.

A request goes through one protocol module in order: parse (headers, body framing,
message), run (the `Endpoint`), write (frames, status). `grpc.py` (native gRPC over HTTP/2),
`grpc_web.py` and `connect.py` are the protocols and never import one another; `app.py`
routes by content type, `call.py` runs a call under supervision, `http.py` holds the header,
metadata and limit helpers every protocol calls, `schema.py` the descriptor set for web tools.

A new protocol (REST, say) is one new module beside these plus a route in `app.py`.
Imports the call layer, `_wire` and `_security`; never grpc, a transport or the server.
"""

from .app import GrpcWebApp

__all__ = ["GrpcWebApp"]
