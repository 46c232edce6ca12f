"""Messages for the `cello.to_bytes`/`from_bytes`/`to_json`/`from_json` tests: one used by
a service of this module, one used by no service, one pydantic model."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Annotated

import pydantic

from cello import Field, Int32
from cello.grpc import GrpcService, grpc_method


class Mood(enum.IntEnum):
    CALM = 0
    BRIGHT = 1


@dataclass
class Author:
    name: str
    born: int | None = None


@dataclass
class Note:
    """Used by `Notes` below: encoded by that service's own stubs."""

    title: str
    count: Annotated[int, Int32] = 0
    big: int = 0
    mood: Mood = Mood.CALM
    authors: list[Author] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)
    at: dt.datetime | None = None
    limit: int = 10
    pinned: Annotated[bool, Field(9)] = False


@dataclass
class Loose:
    """Used by no service: gets stubs of its own."""

    text: str = ""
    weight: float = 0.0


class Card(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=1)
    size: int = 3


class Notes(GrpcService):
    package = "cellocodec.v1"

    @grpc_method
    async def Echo(self, request: Note) -> Note:
        return request

    @grpc_method
    async def Deal(self, request: Card) -> Card:
        return request
