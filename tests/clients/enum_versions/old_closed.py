"""The paint service, old version, with its enum closed."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cello import enum_options
from cello.grpc import GrpcService, grpc_method


@enum_options(closed=True)
class Color(enum.IntEnum):
    UNSET = 0
    RED = 1


@dataclass
class Paint:
    color: Color


class PaintService(GrpcService):
    package = "paint.v1"

    @grpc_method
    async def Mix(self, request: Paint) -> Paint:
        return Paint(color=Color(max(Color)))
