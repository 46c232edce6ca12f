"""Exact contracts: a code-first definition produces the published descriptor."""

from __future__ import annotations

import ast
import enum
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from google.protobuf import descriptor_pb2

from cello import DefinitionError, Doc, enum_options
from cello.codegen.build import generate, import_target, with_siblings, write_outputs
from cello.codegen.evolution.breaking import compare
from cello.codegen.evolution.lock import Lock, LockedField, LockedMessage, LockedRpc
from cello.codegen.schema import naming
from cello.codegen.schema.contract import comment_lines
from cello.codegen.schema.introspect import build_schema
from cello.grpc import GrpcService, grpc_method
from tests.codegen.cases.health import mirrors_the_published_health

HEALTH = "tests.codegen.cases.health.service"
CONTRACTS = "tests.codegen.cases.contracts.service"
GRPC_TESTING = "tests.codegen.cases.grpc_testing.service"


def _built(module: str, out: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Build a case with grpcio-tools' protoc; the descriptors its `_pb2` modules register."""
    _, texts = generate(with_siblings(import_target(module), None))
    write_outputs(texts, out)
    found = {}
    for path in out.rglob("*_pb2.py"):
        blob = re.search(r"AddSerializedFile\((b'.*?')\)", path.read_text(), re.S)
        assert blob is not None, path
        proto = descriptor_pb2.FileDescriptorProto.FromString(ast.literal_eval(blob.group(1)))
        found[proto.name] = proto
    return found


@mirrors_the_published_health
def test_health_written_code_first_has_the_published_descriptor(tmp_path: Path) -> None:
    from grpc_health.v1 import health_pb2

    original = descriptor_pb2.FileDescriptorProto()
    health_pb2.DESCRIPTOR.CopyToProto(original)
    built = _built(HEALTH, tmp_path)
    assert list(built) == [original.name]  # grpc_health/v1/health.proto
    # no remaining difference: names, numbers, nesting, enum values, map entry, rpcs, options
    assert built[original.name] == original


GO_GRPC = Path("/usr/share/gocode/src/google.golang.org/grpc")  # golang-google-grpc-dev


def _compiled(root: Path, proto: str, out: Path) -> descriptor_pb2.FileDescriptorProto:
    """`proto` under `root` compiled by grpcio-tools' protoc, without source info."""
    from grpc_tools import protoc

    from cello.codegen.emit.protoc import wkt_include

    target = out / "set.pb"
    args = ["protoc", f"-I{root}", f"-I{wkt_include()}", f"--descriptor_set_out={target}", proto]
    assert protoc.main(args) == 0, args
    (compiled,) = descriptor_pb2.FileDescriptorSet.FromString(target.read_bytes()).file
    return compiled


def test_grpc_testing_written_code_first_compiles_to_the_original_descriptor(
    tmp_path: Path,
) -> None:
    proto = "test/grpc_testing/test.proto"
    assert (GO_GRPC / proto).exists(), "golang-google-grpc-dev is installed by .ci/install-peers.sh"
    original = _compiled(GO_GRPC, proto, tmp_path)
    _, texts = generate(with_siblings(import_target(GRPC_TESTING), None))
    write_outputs(texts, tmp_path / "built")
    ours = _compiled(tmp_path / "built", proto, tmp_path)
    assert ours == original


def test_two_files_of_one_package_import_each_other_and_nest_types(tmp_path: Path) -> None:
    built = _built(CONTRACTS, tmp_path)
    messages, test = built["contracts/v1/messages.proto"], built["contracts/v1/test.proto"]
    assert list(test.dependency) == ["contracts/v1/messages.proto"]
    assert [m.name for m in test.service[0].method] == ["UnaryCall", "Nested", "UnimplementedCall"]
    assert test.service[0].method[1].output_type == ".contracts.v1.Envelope.Header.Entry"
    envelope = next(m for m in messages.message_type if m.name == "Envelope")
    assert [n.name for n in envelope.nested_type] == ["Money", "Header"]  # as written
    assert [e.name for e in envelope.enum_type] == ["Kind"]
    types = {f.name: f.type_name for f in envelope.field}
    assert types["local"] == ".contracts.v1.Envelope.Money"
    assert types["total"] == ".contracts.v1.Money"  # not captured by the nested Money
    assert types["kind"] == ".contracts.v1.Envelope.Kind"
    payload_type = next(e for e in messages.enum_type if e.name == "PayloadType")
    assert [v.name for v in payload_type.value] == ["COMPRESSABLE"]
    status = next(m for m in messages.message_type if m.name == "EchoStatus")
    assert [f.name for f in status.field] == ["code", "message"]
    # the quote in go_package stayed inside the string
    assert messages.options.go_package == 'example.com/contracts"; option x = "y\\'
    assert not messages.options.HasField("java_package")


def test_docstrings_and_doc_markers_become_comments_protoc_keeps(tmp_path: Path) -> None:
    _, texts = generate(with_siblings(import_target(CONTRACTS), None))
    proto = texts["contracts/v1/messages.proto"]
    assert "  // The type of data in body.\n  PayloadType type = 1;" in proto
    assert "// Shadows the top-level Money inside Envelope." in proto
    for line in proto.splitlines():  # every line of hostile text stayed in a `//` comment
        if "*/" in line or "Evil" in line or "service X" in line or "not the end" in line:
            assert line.lstrip().startswith("//"), line
    assert "\x00" not in proto and "\x1b" not in proto and "\r" not in proto


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("a\nb", ["// a", "// b"]),
        ("x */ y\n}\nmessage M {", ["// x */ y", "// }", "// message M {"]),
        ("one\rtwo\u2028three\x85four", ["// one", "// two", "// three", "// four"]),
        ("\n\nbell\x07 and nul\x00\n\n", ["// bell  and nul"]),
    ],
    ids=["lines", "braces", "line-separators", "controls"],
)
def test_comment_lines_cannot_break_out(doc: str, expected: list[str]) -> None:
    assert comment_lines(doc) == expected


def test_protobuf_keywords_are_field_names_python_keywords_are_refused() -> None:
    assert naming.check_field_name("message", what="field name", where="M.message") == "message"
    with pytest.raises(DefinitionError, match="Python keyword.*generated Python.*protoc accepts"):
        naming.check_field_name("class", what="field name", where="M.class")
    with pytest.raises(DefinitionError, match="refused by protoc"):
        naming.check_field_name("9lives", what="field name", where="M.9lives")


@enum_options(prefix=False)
class Color(enum.IntEnum):
    UNKNOWN = 0
    RED = 1


@enum_options(prefix=False)
class Mood(enum.IntEnum):
    UNKNOWN = 0
    HAPPY = 1


class Prefixed(enum.IntEnum):
    RED = 1


@dataclass
class Paint:
    color: Color
    mood: Mood


@dataclass
class Tint:
    color: Color
    prefixed: Prefixed


def _service(request: type, response: Any = None) -> type[GrpcService]:
    class Svc(GrpcService):
        package = "t.v1"

        @grpc_method
        async def Call(self, request: Any) -> Any: ...

    Svc.Call.__annotations__ = {"request": request, "return": response}
    return Svc


def test_bare_enum_value_names_that_collide_in_a_scope_are_refused() -> None:
    with pytest.raises(DefinitionError) as info:
        build_schema([_service(Paint)])
    message = str(info.value)
    assert "UNKNOWN" in message and "Color" in message and "Mood" in message
    assert "prefix" in message


def test_the_prefix_stays_the_default_and_can_be_dropped_per_enum() -> None:
    schema = build_schema([_service(Tint)])
    enums = {e.name: [v.name for v in e.values] for f in schema.files for e in f.enums}
    assert enums == {
        "Color": ["UNKNOWN", "RED"],
        "Prefixed": ["PREFIXED_UNSPECIFIED", "PREFIXED_RED"],
    }


def test_enum_options_only_decorates_enums() -> None:
    with pytest.raises(TypeError, match="Enum class"):
        enum_options(prefix=False)(Paint)


@dataclass
class Outer:
    @dataclass
    class Inner:
        value: Annotated[int, Doc("kept")] = 0

    inner: Inner | None = None


def test_a_nested_type_keeps_the_numbers_the_lock_has_under_its_old_flat_name() -> None:
    lock = Lock(
        messages={
            "t.v1.OuterInner": LockedMessage(
                {"old": LockedField(1, "string"), "value": LockedField(7, "int64")}
            )
        }
    )
    schema = build_schema([_service(Outer)], lock=lock)
    (inner,) = [m for f in schema.files for m in f.messages if m.name == "Inner"]
    assert inner.full_name == "t.v1.Outer.Inner" and inner.scope == ("Outer",)
    assert [(f.name, f.number, f.doc) for f in inner.fields] == [("value", 7, "kept")]
    assert inner.reserved.numbers == (1,)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"go_package": 'x";\noption y = "z'}, "without control characters"),
        ({"java_multiple_files": "yes"}, "true or false"),
        ({"optimize_for": "FAST"}, "one of CODE_SIZE"),
        ({"js_package": "x"}, "unknown file option 'js_package'"),
    ],
    ids=["newline", "bool", "enum", "unknown"],
)
def test_file_options_are_validated(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DefinitionError, match=re.escape(fragment)):
        build_schema([_service(Tint)], file_options={"t.v1": options})


def test_config_file_options_win_over_code_and_are_rendered_quoted() -> None:
    schema = build_schema(
        [_service(Tint)],
        file_options={"t.v1": {"go_package": "a", "java_multiple_files": True}},
    )
    assert schema.files[0].options == (("go_package", "a"), ("java_multiple_files", True))


@pytest.mark.parametrize(
    "value",
    ["../x.proto", "a/b", "/abs.proto", "has space.proto", "a-b.proto", 3],
    ids=["dotdot", "no-suffix", "absolute", "space", "dash", "int"],
)
def test_bad_file_names_are_refused(value: Any) -> None:
    svc = _service(Tint)
    svc.__cello_file__ = value  # type: ignore[attr-defined]
    with pytest.raises(DefinitionError, match="relative `.proto` path"):
        build_schema([svc])


def test_a_lock_from_before_nested_types_reads_without_breaking_changes() -> None:
    schema = build_schema([_service(Outer, Outer.Inner)])
    (outer,) = [m for f in schema.files for m in f.messages if m.name == "Outer"]
    (label,) = {f.label.value for f in outer.fields}
    flat = LockedField(1, "message t.v1.OuterInner", label)
    before = Lock(
        messages={"t.v1.Outer": LockedMessage({"inner": flat})},
        services={"t.v1.Svc": {"Call": LockedRpc("t.v1.Outer", "t.v1.OuterInner", "unary")}},
    )
    assert [c for c in compare(before, schema) if c.breaking] == []
    other = LockedField(1, "message t.v1.Other", label)
    changed = Lock(messages={"t.v1.Outer": LockedMessage({"inner": other})})
    assert [c.breaking for c in compare(changed, schema)] == [True]


@dataclass
class Ping:
    __cello_file__ = "ping.proto"

    pong: Pong | None = None


@dataclass
class Pong:
    __cello_file__ = "pong.proto"

    ping: Ping | None = None


@dataclass
class Box:
    __cello_file__ = "box.proto"

    @dataclass
    class Lid:
        __cello_file__ = "lid.proto"

    lid: Lid | None = None


@dataclass
class Far:
    __cello_file__ = "elsewhere/far.proto"


@dataclass
class Near:
    far: Far | None = None


@pytest.mark.parametrize(
    ("message", "fragments"),
    [
        (Ping, ["import each other", "ping.proto", "pong.proto"]),
        (Box, ["Box.Lid", "file of its enclosing message", "lid.proto"]),
        (Near, ["different directories", "elsewhere/far.proto", "__cello_package__ = "]),
    ],
    ids=["cycle", "nested-elsewhere", "two-directories"],
)
def test_impossible_file_layouts_are_definition_errors(message: type, fragments: list[str]) -> None:
    with pytest.raises(DefinitionError) as info:
        build_schema([_service(message)])
    for fragment in fragments:
        assert fragment in str(info.value)


def test_one_path_cannot_hold_two_packages() -> None:
    one, two = _service(Far), _service(Far)
    two.package = "u.v1"
    for svc in (one, two):
        svc.__cello_file__ = "elsewhere/far.proto"  # type: ignore[attr-defined]
    with pytest.raises(DefinitionError, match="holds types of packages 't.v1' and 'u.v1'"):
        build_schema([one, two])


def test_the_stub_loader_imports_a_files_imports_first() -> None:
    from cello._wire.stubs import _imports_first

    texts = {
        "p/a.proto": 'import "p/z.proto";\nimport "google/protobuf/empty.proto";\n',
        "p/z.proto": 'import "p/m.proto";\n',
        "p/m.proto": "",
        **{f"p/{n}_cello.py": "" for n in "azm"},
    }
    assert _imports_first(texts) == ["p/m_cello.py", "p/z_cello.py", "p/a_cello.py"]


@dataclass
class Outer_Inner:  # spelled like the stub name of Outer.Inner, on purpose
    value: int = 0


@dataclass
class BothInners:
    nested: Outer.Inner | None = None
    flat: Outer_Inner | None = None


def test_types_whose_stub_names_would_clash_are_refused() -> None:
    with pytest.raises(DefinitionError, match="would share the name 'Outer_Inner'"):
        build_schema([_service(BothInners)])
