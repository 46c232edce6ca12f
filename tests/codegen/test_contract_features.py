"""Exact contracts in code: oneof members, `reserved`, JSON names, packages, unused types.

Every declaration Cello cannot honour is an error naming the class, the field and the fix.
"""

from __future__ import annotations

import sys
import types

import pytest

from cello import DefinitionError, Field
from cello.codegen.build import generate
from cello.codegen.emit.render import render
from cello.codegen.model import Reserved
from cello.codegen.schema.introspect import build_schema

from . import contract_bad as bad
from .bad import service_using

M = "tests.codegen.contract_bad"


@pytest.mark.parametrize(
    ("message", "fragments"),
    [
        (bad.UnionNumbered, [f"{M}.UnionNumbered.value", "Field(9)", "no number of its own"]),
        (
            bad.UnionNumberedByMetadata,
            [f"{M}.UnionNumberedByMetadata.value", "number 4", "no number of its own"],
        ),
        (bad.TwoInts, [f"{M}.TwoInts.value", "both a Python `int`", 'oneof="group"']),
        (bad.TwoStrings, [f"{M}.TwoStrings.value", "both a Python `str`"]),
        (bad.MemberNotOptional, [f"{M}.MemberNotOptional.text", "`T | None = None`"]),
        (bad.MemberWithoutNumber, [f"{M}.MemberWithoutNumber.text", "field number 0"]),
        (bad.RepeatedMember, [f"{M}.RepeatedMember.items", "repeated field cannot be a oneof"]),
        (bad.OneofNameClash, [f"{M}.OneofNameClash.text", "oneof name 'kind' clashes"]),
        (bad.MemberNamedLikeItsOneof, ["MemberNamedLikeItsOneof.kind", "'kind' clashes"]),
        (bad.OneofNamedLikeAUnion, ["OneofNamedLikeAUnion.text", "'value' clashes with"]),
        (bad.UsesReservedNumber, [f"{M}.UsesReservedNumber.a", "number 3", "__cello_reserved__"]),
        (bad.UsesReservedName, [f"{M}.UsesReservedName.old_name", "'old_name' is reserved"]),
        (bad.BadReserved, [f"{M}.BadReserved.__cello_reserved__", "range(5, 2)", "not empty"]),
        (bad.UsesReservedEnum, [f"{M}.ReservedEnumValue.B", "value number 2", "reserved"]),
        (bad.JsonClash, [f"{M}.JsonClash.other", "'firstName'", "first_name", "json_name="]),
        (bad.JsonInjected, [f"{M}.JsonInjected.a", "json_name", "not a valid identifier"]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_contracts_that_cannot_be_honoured_are_refused(message: type, fragments: list[str]) -> None:
    with pytest.raises(DefinitionError) as info:
        build_schema([service_using(message)])
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_field_options_are_keyword_only_and_checked() -> None:
    assert Field(5) == Field(5, oneof=None, json_name=None)
    with pytest.raises(TypeError):
        Field(5, "group")  # type: ignore[misc]
    with pytest.raises(TypeError, match="oneof"):
        Field(5, oneof="")


def test_automatic_numbers_skip_declared_reservations() -> None:
    schema = build_schema([service_using(bad.AutoNumbersSkipReserved)])
    (message,) = [
        m for f in schema.files for m in f.messages if m.name == "AutoNumbersSkipReserved"
    ]
    assert [f.number for f in message.fields] == [2, 6, 7]
    text = next(iter(render(schema).values()))
    assert 'reserved 1, 3 to 5;\n  reserved "gone";' in text


def _module(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def test_a_bad_package_or_types_declaration_names_the_module() -> None:
    from dataclasses import make_dataclass

    module = _module("tests.codegen._pkg_bad", __cello_package__="Not A Package")
    cls = make_dataclass("Thing", [("a", str, "")])
    cls.__module__ = module.__name__
    module.Thing = cls
    try:
        with pytest.raises(DefinitionError, match=r"_pkg_bad.__cello_package__.*not a valid"):
            build_schema([service_using(cls)])
        module.__cello_package__ = "ok.v1"
        module.__cello_types__ = (cls, "nope")
        with pytest.raises(DefinitionError, match=r"_pkg_bad.__cello_types__.*\(LogsData, Flags\)"):
            build_schema([service_using(cls)])
    finally:
        del sys.modules[module.__name__]


def test_types_of_another_package_go_in_its_file_with_an_import() -> None:
    from tests.codegen.cases.packages import service

    schema, texts = generate([service.TraceService])
    packages = sorted({f.package for f in schema.files})
    assert packages == [
        "telemetry.collector.trace.v1",
        "telemetry.common.v1",
        "telemetry.resource.v1",
        "telemetry.trace.v1",
    ]
    collector = texts["telemetry/collector/trace/v1/trace_service.proto"]
    assert 'import "telemetry/trace/v1/trace.proto";' in collector
    assert "repeated .telemetry.trace.v1.ResourceSpans resource_spans = 1;" in collector
    # `__cello_types__`: emitted though no rpc reaches them
    assert "message TracesData {" in texts["telemetry/trace/v1/trace.proto"]
    assert "enum SpanFlags {" in texts["telemetry/trace/v1/trace.proto"]


def test_switching_a_oneof_to_declared_members_is_no_change_to_the_lock() -> None:
    from cello.codegen.evolution.breaking import compare
    from cello.codegen.evolution.lock import Lock, lock_from_schema

    def lock_of(message: type) -> tuple[Lock, object]:
        schema = build_schema([service_using(message)])
        return lock_from_schema(schema, previous=Lock(), package=None, targets=()), schema

    short, _ = lock_of(bad.ShortForm)
    declared, schema = lock_of(bad.DeclaredForm)
    # the same wire, recorded alike: members are `singular` in the lock either way
    assert short.messages["bad.v1.ShortForm"] == declared.messages["bad.v1.DeclaredForm"]
    renamed = Lock(messages={"bad.v1.DeclaredForm": short.messages["bad.v1.ShortForm"]})
    assert compare(renamed, schema) == []  # type: ignore[arg-type]


def test_declared_reservations_keep_their_order_and_stay_out_of_the_lock() -> None:
    from cello.codegen.evolution.lock import Lock, lock_from_schema

    schema = build_schema([service_using(bad.ReservedInOrder)])
    text = next(t for p, t in render(schema).items() if p.endswith(".proto"))
    # a descriptor lists reserved ranges and names in the order written: so does Cello
    assert 'reserved 8 to 9, 5;\n  reserved "b", "a";\n  string a_field = 1;' in text
    lock = lock_from_schema(schema, previous=Lock(), package=None, targets=())
    assert lock.messages["bad.v1.ReservedInOrder"].reserved == Reserved()  # the code has them
