"""The resource package: what produced the telemetry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from cello import Field, UInt32

from .common import KeyValue

__cello_package__ = "telemetry.resource.v1"
__cello_file__ = "resource.proto"


@dataclass
class Resource:
    attributes: Annotated[list[KeyValue], Field(1)] = field(default_factory=list)
    dropped_attributes_count: Annotated[int, UInt32, Field(2)] = 0
