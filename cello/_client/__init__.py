"""The clients: `GrpcChannel` and `SyncGrpcChannel`, the typed-client base, connections.

- `channel.py` / `sync_channel.py`: the dict-style channel, async and blocking;
- `typed.py`: the base of generated in-process typed clients (`StubClient`);
- `connection.py`: opening a grpc.aio channel, plaintext or TLS; `closing.py`: the
  context-manager mixins.
The public runtime of standalone clients is `cello.client`, which builds on these.

Imports `_definitions`, `_wire` and `_security`; never the call layer, transports or server.

Stub ABI: generated stubs do `from cello._client import Metadata, StubClient`.
"""

from .calls import Metadata
from .typed import StubClient

__all__ = ["Metadata", "StubClient"]
