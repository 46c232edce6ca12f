"""The case mirrors the `grpc_health/v1/health.proto` that grpcio-health-checking publishes."""

from __future__ import annotations

from importlib import metadata

import pytest
from packaging.version import Version

# 1.85 is the first release whose health.proto has the List rpc, as the case does. An older
# one publishes another file under the same name, and protobuf's pool refuses the second
# definition: the tests that load both need a release the case mirrors (scripts/deps-check.sh
# oldest installs an older one).
MIRRORED = Version(metadata.version("grpcio-health-checking")) >= Version("1.85")
mirrors_the_published_health = pytest.mark.skipif(
    not MIRRORED,
    reason="the case mirrors grpcio-health-checking >= 1.85's health.proto (with List)",
)
