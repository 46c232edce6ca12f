"""Services of the wire-policy tests: enums without a zero member, WKTs, wrong returns."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from cello import enum_options
from cello.grpc import GrpcService, grpc_method


class Genre(enum.Enum):
    FICTION = "fiction"
    HISTORY = "history"


class Priority(enum.IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3


@enum_options(closed=True)
class Shade(enum.IntEnum):
    """Closed: a number it lacks is refused, as before enums were open."""

    LIGHT = 0
    DARK = 1


@dataclass
class Book:
    title: str
    genre: Genre
    priority: Priority = Priority.MEDIUM
    tags: list[Genre] = field(default_factory=list)
    shelf: dict[str, Genre] = field(default_factory=dict)
    mood: Genre | None = None
    kind: Genre | str | None = None
    published: dt.datetime | None = None
    loan: dt.timedelta | None = None
    shade: Shade = Shade.LIGHT


@dataclass
class Other:
    title: str


@dataclass
class Stamp:
    """Required message-typed fields: absent on the wire is refused, or takes the default."""

    at: dt.datetime
    by: Other
    took: dt.timedelta = dt.timedelta(seconds=7)
    origin: Other = field(default_factory=lambda: Other("origin"))


# what Broken returns, by the request's title
WRONG: dict[str, Any] = {"none": None, "ellipsis": ..., "other": Other("x"), "dict-ish": 3}


class Shelf(GrpcService):
    package = "cellowire.v1"

    @grpc_method
    async def Put(self, request: Book) -> Book:
        return request

    @grpc_method
    async def Find(self, genre: Genre, priority: Priority = Priority.MEDIUM) -> str:
        return f"{_name(genre)}/{_name(priority)}"

    @grpc_method
    async def Inspect(self, request: Book) -> list[str]:
        """How the handler sees each enum value: a member's name, or `unknown <number>`."""
        values = [request.genre, request.priority, *request.tags, *request.shelf.values()]
        return [_name(v) for v in [*values, request.mood]]

    @grpc_method
    async def Broken(self, request: Book) -> Book:
        return WRONG[request.title]  # type: ignore[no-any-return]

    @grpc_method
    async def Count(self, request: Book) -> int:
        return None  # type: ignore[return-value]

    @grpc_method
    async def Mark(self, request: Stamp) -> Stamp:
        return request

    @grpc_method
    async def Wait(self, at: dt.datetime, wait: dt.timedelta = dt.timedelta(seconds=5)) -> str:
        return f"{at.isoformat()}/{wait.total_seconds()}"


def _name(value: enum.Enum | int | None) -> str:
    # an enum is open: a number it lacks (a newer peer's member) is a plain int
    return value.name if isinstance(value, enum.Enum) else f"unknown {value}"
