"""Bad definitions get a clear error naming the place, the bad value and the fix."""

from __future__ import annotations

import pytest

from cello import DefinitionError
from cello.codegen.schema.introspect import build_schema

from . import bad


@pytest.mark.parametrize(
    ("message", "fragments"),
    [
        (bad.WithSet, ["bad.WithSet.tags", "set[str]", "use `list[...]`"]),
        (
            bad.WithFloatKey,
            ["bad.WithFloatKey.scores", "map key type `float`", "`str`, `int` or `bool`"],
        ),
        (bad.WithNestedList, ["bad.WithNestedList.grid", "list[int]", "wrap it in a dataclass"]),
        (bad.WithBadMarker, ["bad.WithBadMarker.name", "Int32", "refines `int`"]),
        (bad.WithDuplicateNumbers, ["bad.WithDuplicateNumbers.b", "number 3"]),
        (bad.WithReservedNumber, ["bad.WithReservedNumber.a", "19000-19999"]),
        (bad.WithOptionalList, ["bad.WithOptionalList.items", "optional list"]),
        (bad.WithClashingNames, ["bad.WithClashingNames.user_id", "clashes", "userId"]),
        (bad.WithNoInit, ["bad.WithNoInit.b", "init=False"]),
        (bad.WithBareList, ["bad.WithBareList.tags", "`list`", "use `list[T]`"]),
        (bad.WithBareDict, ["bad.WithBareDict.scores", "`Dict`", "use `dict[K, V]`"]),
        (
            bad.WithPlainClassField,
            ["bad.WithPlainClassField.item", "`NotADataclass` is a plain class", "add @dataclass"],
        ),
        (bad.NotADataclass, ["`NotADataclass` is a plain class", "add @dataclass"]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_bad_field_types(message: type, fragments: list[str]) -> None:
    with pytest.raises(DefinitionError) as info:
        build_schema([bad.service_using(message)])
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("service", "fragments"),
    [
        (bad.NoMethods, ["bad.NoMethods", "no methods", "@grpc_method"]),
        (bad.SynthClash, ["'GetUserRequest'", "rename one"]),
        (bad.StreamConflict, ["bad.StreamConflict.Watch", "stream=False", "async iterator"]),
        (bad.UntypedParam, ["bad.UntypedParam.Add", "'b'", "no type hint"]),
        (bad.BadPackage, ["'Bad-Package'", "acme.users.v1"]),
        (bad.BadRpcName, ["bad.BadRpcName.call", "'Get User'", "not a valid identifier"]),
        (bad.InjectedName, ["service name", "not a valid identifier"]),
        (bad.TwoRpcsOneName, ["bad.TwoRpcsOneName.fetch", "'GetUser'", "distinct `name=`"]),
        (bad.PlainRequest, ["bad.PlainRequest.Put.item", "plain class", "add @dataclass"]),
        (bad.PlainResponse, ["bad.PlainResponse.Get(return)", "plain class", "add @dataclass"]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_bad_services(service: type, fragments: list[str]) -> None:
    with pytest.raises(DefinitionError) as info:
        build_schema([service])
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_local_classes_are_refused_with_a_fix() -> None:
    from dataclasses import dataclass

    @dataclass
    class Local:
        x: int

    with pytest.raises(DefinitionError, match="module level"):
        build_schema([bad.service_using(Local)])
