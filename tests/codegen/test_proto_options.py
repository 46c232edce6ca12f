"""Field and method options of descriptor.proto, declared in code: `Field(n, options=...)`
and `@grpc_method(options=...)`."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Annotated

import pytest

from cello import DefinitionError, Field
from cello.codegen.build import generate
from cello.grpc import GrpcService, grpc_method


@dataclass
class Rule:
    deadline: Annotated[float, Field(1, options={"deprecated": True}, json_name="dl")] = 0.0
    codes: Annotated[list[int], Field(2, options={"packed": False})] = field(default_factory=list)


class Rules(GrpcService):
    package = "options.v1"

    @grpc_method(options={"deprecated": True})
    async def get(self, request: Rule) -> Rule:
        return request

    @grpc_method(options={})
    async def empty_body(self, request: Rule) -> Rule:
        return request

    @grpc_method(options={"deprecated": False}, idempotent=True)
    async def read(self, request: Rule) -> Rule:
        return request


def test_options_are_written_in_the_proto() -> None:
    (text,) = [t for p, t in generate([Rules])[1].items() if p.endswith(".proto")]
    assert 'double deadline = 1 [deprecated = true, json_name = "dl"];' in text
    assert "repeated int64 codes = 2 [packed = false];" in text
    assert "rpc Get(Rule) returns (Rule) {\n    option deprecated = true;\n  }" in text
    assert "rpc EmptyBody(Rule) returns (Rule) {}" in text
    assert (
        "rpc Read(Rule) returns (Rule) {\n    option deprecated = false;\n"
        "    option idempotency_level = NO_SIDE_EFFECTS;\n  }"
    ) in text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"deprecatd": True}, "'deprecatd' is not an option of FieldOptions"),
        ({"deprecated": "yes"}, "option deprecated = 'yes' must be True or False"),
        ({"jstype": "JS_TEXT"}, "must be one of JS_NORMAL, JS_STRING, JS_NUMBER"),
        ({"uninterpreted_option": 1}, "is not an option of FieldOptions"),
    ],
    ids=["unknown", "type", "enum", "repeated"],
)
def test_a_bad_field_option_names_the_field(
    options: dict[str, object], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hint = Annotated[int, Field(1, options=options)]
    bad = dataclasses.make_dataclass("Bad", [("x", hint, 0)])
    bad.__module__ = __name__
    monkeypatch.setattr(sys.modules[__name__], "Bad", bad, raising=False)

    class Svc(GrpcService):
        package = "options.v1"

        @grpc_method
        async def call(self, request: Bad) -> Bad:  # noqa: F821 - set just above
            return request

    with pytest.raises(DefinitionError, match=r"Bad\.x: .*" + message.replace("(", r"\(")):
        generate([Svc])


def test_idempotency_level_is_idempotent() -> None:
    class Svc(GrpcService):
        package = "options.v1"

        @grpc_method(options={"idempotency_level": "NO_SIDE_EFFECTS"})
        async def call(self, request: Rule) -> Rule:
            return request

    with pytest.raises(DefinitionError, match="set `idempotent=True`"):
        generate([Svc])
