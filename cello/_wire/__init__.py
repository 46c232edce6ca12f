"""The wire: Python values ⇄ protobuf messages, and the stub loader that makes the converters.

- `stubs.py` is the stub loader, the runtime's one door to the generator (`cello.codegen`);
- `convert.py` is the generic dict ⇄ message mapping, `wellknown.py` the conversions of
  well-known types (Timestamp, Struct, Date…) that generated converters call;
- `binding.py` is what a generated stub tells the runtime about each rpc, `pool.py` loads
  `_pb2` modules into protobuf's descriptor pool.

Imports `cello._errors` and `cello._definitions`; nothing above (calls, transports, server).

Stub ABI: generated stubs do `from cello import _wire as _w` and call `_w.<name>`, so the
well-known conversions are re-exported here. Stubs written by any earlier build keep working
as long as these names do (`tests/test_architecture.py` checks them against the templates).
"""

from .wellknown import *  # noqa: F403
