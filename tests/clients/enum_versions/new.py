"""The paint service, new version."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cello.grpc import GrpcService, grpc_method


class Color(enum.IntEnum):
    UNSET = 0
    RED = 1
    BLUE = 2


@dataclass
class Paint:
    color: Color


class PaintService(GrpcService):
    package = "paint.v1"

    @grpc_method
    async def Mix(self, request: Paint) -> Paint:
        return Paint(color=Color(max(Color)))
