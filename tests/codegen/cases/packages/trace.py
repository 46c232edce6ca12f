"""The trace package: spans, and a top-level `TracesData` and a flags enum no rpc uses."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated

from cello import Field, Fixed32, Fixed64, enum_options

from .common import InstrumentationScope, KeyValue
from .resource import Resource

__cello_package__ = "telemetry.trace.v1"
__cello_file__ = "trace.proto"


@dataclass
class TracesData:
    """Spans for files and queues; no rpc uses it, so `__cello_types__` lists it."""

    resource_spans: Annotated[list[ResourceSpans], Field(1)] = field(default_factory=list)


@dataclass
class ResourceSpans:
    __cello_reserved__ = (1000,)

    resource: Annotated[Resource | None, Field(1)] = None
    scope_spans: Annotated[list[ScopeSpans], Field(2)] = field(default_factory=list)
    schema_url: Annotated[str, Field(3)] = ""


@dataclass
class ScopeSpans:
    scope: Annotated[InstrumentationScope | None, Field(1)] = None
    spans: Annotated[list[Span], Field(2)] = field(default_factory=list)
    schema_url: Annotated[str, Field(3)] = ""


@enum_options(prefix=False)
class SpanFlags(enum.IntEnum):
    __cello_reserved__ = (range(4, 8),)

    SPAN_FLAGS_DO_NOT_USE = 0
    SPAN_FLAGS_TRACE_FLAGS_MASK = 0x000000FF
    SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK = 0x00000100


@dataclass
class Span:
    @enum_options(prefix=False)
    class SpanKind(enum.IntEnum):
        SPAN_KIND_UNSPECIFIED = 0
        SPAN_KIND_INTERNAL = 1
        SPAN_KIND_SERVER = 2
        SPAN_KIND_CLIENT = 3

    trace_id: Annotated[bytes, Field(1)] = b""
    span_id: Annotated[bytes, Field(2)] = b""
    name: Annotated[str, Field(5)] = ""
    kind: Annotated[SpanKind, Field(6)] = SpanKind.SPAN_KIND_UNSPECIFIED
    start_time_unix_nano: Annotated[int, Fixed64, Field(7)] = 0
    attributes: Annotated[list[KeyValue], Field(9)] = field(default_factory=list)
    flags: Annotated[int, Fixed32, Field(16)] = 0


__cello_types__ = (TracesData, SpanFlags)
