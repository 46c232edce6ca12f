"""Names that reach templates are checked; odd but valid names work, bad ones are refused."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import keyword
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from cello import DefinitionError
from cello.codegen.build import generate, import_target, with_siblings, write_outputs
from cello.codegen.model import Kind
from cello.codegen.schema import contract, naming
from cello.codegen.schema.introspect import build_schema
from cello.grpc import GrpcService, grpc_method

from . import names_cases as cases
from .bad import service_using


def _refused(service: type[GrpcService], *fragments: str) -> str:
    with pytest.raises(DefinitionError) as info:
        build_schema([service])
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_module_with_code_is_refused() -> None:
    message = _refused(service_using(cases.Pwned), "Pwned", "module name", "importable module")
    assert "\n" not in message  # shown escaped, on one line


def test_qualname_that_does_not_resolve_is_refused() -> None:
    _refused(service_using(cases.Msg), "Ghost.Msg", "does not lead to this class", "module level")


def test_rpc_attribute_name_with_code_is_refused() -> None:
    async def call(self: object, request: cases.Book) -> cases.Book:
        return request

    call.__annotations__ = {"request": cases.Book, "return": cases.Book}
    attr = "x(self): pass\nprint('pwned')\ndef y"
    service = type(
        "Injected",
        (GrpcService,),
        {"package": "names.v1", attr: grpc_method(name="Call")(call), "__module__": __name__},
    )
    _refused(service, "method name", "not a valid name", "ASCII letters")


@pytest.mark.parametrize(
    ("message", "fragments"),
    [
        (cases.Node, ["names_cases.Node.child", "Node.child", "make one of them Optional"]),
        (cases.Left, ["Left.right", "Right.left", "contains itself", "or a list"]),
    ],
    ids=["self", "mutual"],
)
def test_required_recursion_is_refused(message: type, fragments: list[str]) -> None:
    _refused(service_using(message), *fragments)


def test_recursion_through_optional_list_map_or_oneof_is_fine() -> None:
    schema = build_schema([service_using(cases.Fine)])
    assert [m.name for f in schema.files for m in f.messages] == ["Fine"]


# Soft keywords of each Python version Cello supports (`keyword.softkwlist`)
SOFT_KEYWORDS = {
    "3.11": ["_", "case", "match"],
    "3.12": ["_", "case", "match", "type"],
    "3.13": ["_", "case", "match", "type"],
}


@pytest.mark.parametrize("version", sorted(SOFT_KEYWORDS))
def test_soft_keywords_of_every_version_are_valid_names(version: str) -> None:
    for name in SOFT_KEYWORDS[version]:
        assert naming.check_identifier(name, what="field name", where="w") == name
        assert naming.check_python_name(name, what="field name", where="w") == name


def test_hard_keywords_are_the_running_pythons() -> None:
    assert naming.PYTHON_KEYWORDS == set(keyword.kwlist)
    if f"{sys.version_info[0]}.{sys.version_info[1]}" in SOFT_KEYWORDS:
        assert (
            sorted(keyword.softkwlist)
            == SOFT_KEYWORDS[f"{sys.version_info[0]}.{sys.version_info[1]}"]
        )


def test_soft_keyword_fields_and_parameters_build_and_import(tmp_path: Path) -> None:
    _, texts = generate([cases.SoftNames])
    write_outputs(texts, tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        stub = importlib.import_module("names.soft.v1.soft_cello")
    finally:
        sys.path.remove(str(tmp_path))
    (echo, params) = stub.SERVICES[0].methods
    value = cases.Soft(type="t", match=3, case=True, _="u")
    assert echo.decode_request(echo.encode_request(value)) == value
    assert params.decode_request(params.encode_request({"type": "x", "match": 2})) == {
        "type": "x",
        "match": 2,
    }


def test_enum_members_colliding_after_prefixing_are_refused() -> None:
    holder = dataclasses.make_dataclass("ClashHolder", [("c", cases.Clash)])
    holder.__module__ = cases.__name__
    cases.ClashHolder = holder
    _refused(service_using(holder), "'fooBar' and 'FOO_BAR'", "CLASH_FOO_BAR", "rename one")


def test_non_ascii_enum_member_is_refused() -> None:
    holder = dataclasses.make_dataclass("UnicodeHolder", [("u", cases.Unicode)])
    holder.__module__ = cases.__name__
    cases.UnicodeHolder = holder
    _refused(service_using(holder), "Unicode.café", "enum member 'café'", "ASCII")


def test_message_named_google_keeps_well_known_types_working(tmp_path: Path) -> None:
    _, texts = generate([cases.Shadow])
    proto = next(text for path, text in texts.items() if path.endswith(".proto"))
    assert ".google.protobuf.Timestamp when" in proto
    write_outputs(texts, tmp_path)  # protoc resolves every reference


def test_handler_returning_grpc_response_of_a_dataclass_is_typed_as_it() -> None:
    (file,) = build_schema([cases.Typed]).files
    (method,) = file.services[0].methods
    assert method.response.kind is Kind.MESSAGE and method.response.name == "names.v1.Book"


SAFE = re.compile(r"[A-Za-z0-9_./]+")


def _strings(node: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(node, str):
        return [(path, node)]
    if isinstance(node, enum.Enum) or node is None or isinstance(node, (bool, int)):
        return []
    if dataclasses.is_dataclass(node):
        out: list[tuple[str, str]] = []
        for f in dataclasses.fields(node):
            out += _strings(getattr(node, f.name), f"{path}.{f.name}")
        return out
    if isinstance(node, (tuple, list)):
        return [item for i, child in enumerate(node) for item in _strings(child, f"{path}[{i}]")]
    raise AssertionError(f"{path}: unexpected {type(node).__name__} in the model")


def _free_text_is_checked(path: str, text: str) -> bool:
    """Docs and file option values are free text: the template escapes them (`//` lines,
    a quoted proto string), and introspection refused what it cannot (control characters)."""
    if ".choices[" in path:  # a Literal's strings, written as `json.dumps` literals
        return True
    if path.endswith(".doc"):
        return all(c in "\n\t" or not contract._is_control(c) for c in text)
    if ".options[" in path:
        if path.endswith("[0]"):  # the option's name
            return bool(SAFE.fullmatch(text))
        return not any(contract._is_control(c) for c in text)
    return bool(SAFE.fullmatch(text))


@pytest.mark.parametrize("case", ["rich", "contracts"], ids=str)
def test_every_template_input_is_a_checked_name(case: str) -> None:
    services = with_siblings(import_target(f"tests.codegen.cases.{case}.service"), None)
    schema, _ = generate(services)
    strings = _strings(schema, "schema")
    assert len(strings) > 50
    for path, text in strings:
        assert _free_text_is_checked(path, text), f"{path} = {text!r}"
