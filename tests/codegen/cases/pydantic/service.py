"""Golden case: pydantic models and pydantic dataclasses as messages."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import AsyncIterator
from typing import Annotated

import pydantic
from pydantic import BaseModel, Field

import cello
from cello import GrpcService, grpc_method


class Status(enum.Enum):
    DRAFT = 0
    PUBLISHED = 1


class Note(BaseModel):
    """A note pinned to a record.

    Models nested in a model are nested messages.
    """

    class Color(enum.Enum):
        RED = 1
        BLUE = 2

    text: str = Field(description="What the note says.\nSecond line.")
    color: Color = Color.RED


@pydantic.dataclasses.dataclass
class Stamp:
    """A pydantic dataclass works like any dataclass."""

    at: dt.datetime
    by: str = "system"


class Record(BaseModel):
    id: Annotated[int, cello.Field(7)]
    name: str = Field(min_length=1, json_schema_extra={"number": 2})
    status: Status = Status.DRAFT
    notes: list[Note] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    score: float | None = None
    owner: int | str | None = None
    stamp: Stamp | None = None
    took: dt.timedelta = dt.timedelta(0)


class Records(GrpcService):
    """Records kept as pydantic models."""

    package = "golden.pyd.v1"

    @grpc_method
    async def Put(self, record: Record) -> Record:
        """Store a record and return it."""
        return record

    @grpc_method
    async def Watch(self, name: str, limit: int = 10) -> AsyncIterator[Record]:
        yield Record(id=1, name=name)
