"""A shared package of a multi-package contract: values every other package uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from cello import Field, Int64

__cello_package__ = "telemetry.common.v1"
__cello_file__ = "common.proto"


@dataclass
class AnyValue:
    """A value of one of several types: a declared oneof, with the contract's names."""

    string_value: Annotated[str | None, Field(1, oneof="value")] = None
    bool_value: Annotated[bool | None, Field(2, oneof="value")] = None
    int_value: Annotated[int | None, Int64, Field(3, oneof="value")] = None
    double_value: Annotated[float | None, Field(4, oneof="value")] = None
    kvlist_value: Annotated[KeyValueList | None, Field(6, oneof="value")] = None
    bytes_value: Annotated[bytes | None, Field(7, oneof="value")] = None


@dataclass
class KeyValueList:
    values: Annotated[list[KeyValue], Field(1)] = field(default_factory=list)


@dataclass
class KeyValue:
    key: Annotated[str, Field(1)] = ""
    value: Annotated[AnyValue | None, Field(2)] = None


@dataclass
class InstrumentationScope:
    __cello_reserved__ = (5, range(8, 10), "old_name")

    name: Annotated[str, Field(1)] = ""
    version: Annotated[str, Field(2)] = ""
    attributes: Annotated[list[KeyValue], Field(3)] = field(default_factory=list)
    dropped_attributes_count: Annotated[int, Field(4, json_name="droppedCount")] = 0
