"""Transports: the servers that carry calls, each with the code that runs it.

- `grpc_aio.py` / `grpc_threads.py` (sharing `grpc_servicer.py`): grpcio's C-core server,
  async or on threads, speaking gRPC itself and calling endpoints directly;
- `h2/`: our own HTTP/2 server running the ASGI app of `cello._protocols` on one port;
- `uvicorn.py`: the ASGI app on its own web port with uvicorn (HTTP/1.1).

A new transport is one module (or package) here, started by `cello._server`.
Imports the call layer, `_wire` and `_security`; never `_protocols` (an ASGI server serves any
ASGI app) and never the server that starts them.
"""
