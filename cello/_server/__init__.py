"""The server lifecycle: `GrpcServer` (start, ports, TLS reload, drain), `App`, and the
built-in health and reflection services.

The top of the runtime. Imports every package but `_cli` and `_client`; nothing imports
it but `_cli`, `cello.testing` and the public faces.
"""
