"""Models and dataclasses with no valid protobuf mapping (module level, as users write them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field


class WithAlias(BaseModel):
    user_name: str = Field(alias="userName")


class WithTextNumber(BaseModel):
    a: int = Field(json_schema_extra={"number": "5"})


class WithSet(BaseModel):
    tags: set[str]


class Perm(enum.IntFlag):
    READ = 1
    WRITE = 2


@dataclass
class WithFlag:
    perm: Perm


@dataclass
class WithPair:
    pair: tuple[int, str]


@dataclass
class WithIntLiteral:
    level: Literal[1, 2]
