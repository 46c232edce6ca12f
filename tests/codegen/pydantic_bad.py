"""pydantic models with no valid protobuf mapping (module level, as users define them)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WithAlias(BaseModel):
    user_name: str = Field(alias="userName")


class WithTextNumber(BaseModel):
    a: int = Field(json_schema_extra={"number": "5"})


class WithSet(BaseModel):
    tags: set[str]
