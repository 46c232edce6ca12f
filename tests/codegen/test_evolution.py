"""Schema evolution: a service through a realistic history, built into one output directory.

Each step writes a new version of the module, runs `cello-gen check` (the verdict on the
change since the lock), then `cello-gen build` (refused without `--allow-breaking` when the
change breaks the wire), and looks at the emitted numbers and `reserved` lines.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import shutil
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cello._errors import DefinitionError
from cello.codegen.build import generate, import_target
from cello.codegen.cli import main
from cello.codegen.evolution.breaking import json_compatible, wire_compatible
from cello.codegen.evolution.lock import LOCK_FILE, dump_lock, parse_lock, read_lock
from cello.grpc import GrpcServer

PEERS = Path(__file__).resolve().parents[1] / "interop" / "peers"

TEMPLATE = """
from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from cello import Field
from cello.grpc import GrpcService, grpc_method


class Genre(enum.Enum):
{genre}


@dataclass
class Image:
    url: str


@dataclass
class Text:
    words: str


@dataclass
class Book:
{book}


@dataclass
class Query:
    isbn: str


SAMPLE = {sample}


class Catalog(GrpcService):
    package = "{package}"
{rpcs}
"""

GET = """
    @grpc_method
    async def get_book(self, request: Query) -> Book:
        return SAMPLE
"""
GET_STREAM = """
    @grpc_method
    async def get_book(self, request: Query) -> AsyncIterator[Book]:
        yield SAMPLE
"""
LIST = """
    @grpc_method
    async def list_books(self, request: Query) -> AsyncIterator[Book]:
        yield SAMPLE
"""
COUNT = """
    @grpc_method
    async def count_books(self, request: Query) -> int:
        return 1
"""


@dataclass(frozen=True)
class Step:
    """One version of the module and what building it must do."""

    id: str
    book: str
    genre: str = "FICTION = 'fiction'\nSCIENCE = 'science'"
    rpcs: tuple[str, ...] = (GET, LIST)
    sample: str = "None"
    present: tuple[str, ...] = ()  # lines the .proto must have
    absent: tuple[str, ...] = ()  # lines it must not have
    breaking: tuple[str, ...] = ()  # fragments of the check's wire-breaking errors
    warnings: tuple[str, ...] = ()  # fragments of its JSON-only warnings
    buf_breaking: bool = False  # what `buf breaking --against` the previous build says


HISTORY = (
    Step(
        "initial",
        book="isbn: str\ntitle: str\npages: int\ngenre: Genre",
        present=(
            "string isbn = 1;",
            "string title = 2;",
            "int64 pages = 3;",
            "Genre genre = 4;",
            "GENRE_UNSPECIFIED = 0;",
            "GENRE_FICTION = 1;",
            "GENRE_SCIENCE = 2;",
        ),
        absent=("reserved",),
    ),
    Step(
        "add-field-in-the-middle",
        book="isbn: str\nsubtitle: str\ntitle: str\npages: int\ngenre: Genre",
        present=(
            "string isbn = 1;",
            "string subtitle = 5;",
            "string title = 2;",
            "int64 pages = 3;",
            "Genre genre = 4;",
        ),
        absent=("reserved",),
    ),
    Step(
        "reorder",
        book="title: str\ngenre: Genre\nisbn: str\npages: int\nsubtitle: str",
        present=(
            "string title = 2;",
            "Genre genre = 4;",
            "string isbn = 1;",
            "int64 pages = 3;",
            "string subtitle = 5;",
        ),
        absent=("reserved",),
    ),
    Step(
        # a non-zero default carries presence, so a peer leaving the field out gets it:
        # `optional` on a proto3 scalar is wire-compatible (same encoding), buf agrees
        "default-gives-presence",
        book="title: str\ngenre: Genre\nisbn: str\nsubtitle: str\npages: int = 100",
        present=("optional int64 pages = 3;",),
        absent=("reserved",),
    ),
    Step(
        "remove-field",
        book="title: str\ngenre: Genre\nisbn: str\nsubtitle: str",
        present=("reserved 3;", 'reserved "pages";', "string subtitle = 5;"),
        absent=("int64 pages = 3;",),
    ),
    Step(
        "rename-field",  # a Python rename: the old number retires, the new name gets a fresh one
        book="name: str\ngenre: Genre\nisbn: str\nsubtitle: str",
        present=("string name = 6;", "reserved 2, 3;", 'reserved "pages", "title";'),
    ),
    Step(
        "rename-keeping-number",  # pinning the old number: a wire-compatible rename
        book="headline: Annotated[str, Field(6)]\ngenre: Genre\nisbn: str\nsubtitle: str",
        present=("string headline = 6;", 'reserved "name", "pages", "title";'),
        warnings=("evo.catalog.v1.Book.headline: field 6 renamed from `name`",),
    ),
    Step(
        "change-types",
        book="headline: Annotated[str, Field(6)]\ngenre: Genre\nisbn: int\nsubtitle: bytes",
        present=("int64 isbn = 1;", "bytes subtitle = 5;"),
        breaking=("evo.catalog.v1.Book.isbn: field 1 changed type from `string` to `int64`",),
        warnings=("Book.subtitle: field 5 changed type from `string` to `bytes`: same wire",),
        buf_breaking=True,
    ),
    Step(
        "add-enum-value",
        book="headline: Annotated[str, Field(6)]\ngenre: Genre\nisbn: int\nsubtitle: bytes\n"
        "cover_image: Image | None = None",
        genre="FICTION = 'fiction'\nSCIENCE = 'science'\nHISTORY = 'history'",
        present=("GENRE_HISTORY = 3;", "GENRE_SCIENCE = 2;", "Image cover_image = 7;"),
    ),
    Step(
        "remove-enum-value",
        book="headline: Annotated[str, Field(6)]\ngenre: Genre\nisbn: int\nsubtitle: bytes\n"
        "cover_image: Image | None = None",
        genre="FICTION = 'fiction'\nHISTORY = 'history'\nPOETRY = 'poetry'",
        present=("GENRE_HISTORY = 3;", "GENRE_POETRY = 4;", 'reserved "GENRE_SCIENCE";'),
        absent=("GENRE_SCIENCE = 2;",),
    ),
    Step(
        "add-rpc",
        book="headline: Annotated[str, Field(6)]\ngenre: Genre\nisbn: int\nsubtitle: bytes\n"
        "cover_image: Image | None = None",
        genre="FICTION = 'fiction'\nHISTORY = 'history'\nPOETRY = 'poetry'",
        rpcs=(GET, LIST, COUNT),
        present=("rpc CountBooks(Query) returns (CountBooksResponse);",),
    ),
    Step(
        "remove-rpc",
        book="headline: Annotated[str, Field(6)]\ngenre: Genre\nisbn: int\nsubtitle: bytes\n"
        "cover_image: Image | None = None",
        genre="FICTION = 'fiction'\nHISTORY = 'history'\nPOETRY = 'poetry'",
        rpcs=(GET, COUNT),
        absent=("rpc ListBooks(Query) returns (stream Book);",),
        breaking=("evo.catalog.v1.Catalog.ListBooks: rpc removed",),
    ),
    Step(
        "singular-to-repeated",
        book="headline: Annotated[list[str], Field(6)]\ngenre: Genre\nisbn: int\n"
        "subtitle: bytes\ncover_image: Image | None = None",
        genre="FICTION = 'fiction'\nHISTORY = 'history'\nPOETRY = 'poetry'",
        rpcs=(GET, COUNT),
        present=("repeated string headline = 6;",),
        breaking=("Book.headline: field 6 changed from singular to repeated",),
        buf_breaking=True,
    ),
    Step(
        "into-a-oneof",  # the optional image becomes one choice of a oneof
        book="headline: Annotated[list[str], Field(6)]\ngenre: Genre\nisbn: int\n"
        "subtitle: bytes\ncover: Image | Text | None = None",
        genre="FICTION = 'fiction'\nHISTORY = 'history'\nPOETRY = 'poetry'",
        rpcs=(GET, COUNT),
        present=("Image cover_image = 7;", "Text cover_text = 8;"),
        breaking=("Book.cover_image: field 7 moved into oneof `cover`",),
        buf_breaking=True,
    ),
    Step(
        "unary-to-streaming",
        book="headline: Annotated[list[str], Field(6)]\ngenre: Genre\nisbn: int\n"
        "subtitle: bytes\ncover: Image | Text | None = None",
        genre="FICTION = 'fiction'\nHISTORY = 'history'\nPOETRY = 'poetry'",
        rpcs=(GET_STREAM, COUNT),
        present=("rpc GetBook(Query) returns (stream Book);",),
        breaking=("Catalog.GetBook: streaming kind changed from `unary` to `server`",),
        buf_breaking=True,
    ),
)


@dataclass
class Outcome:
    """What happened at one step."""

    step: Step
    check_rc: int
    check_errors: list[str]  # the check's error lines other than "out of date"
    check_warnings: list[str]
    stale: list[str]
    refused: bool  # `build` without --allow-breaking refused the change
    proto: str
    previous: Path | None  # a copy of the build before this step
    out: Path


class Project:
    """A tmp dir with versions of a module on `sys.path` and one build directory."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, package: str) -> None:
        self.root = root
        self.src = root / "src"
        self.src.mkdir()
        self.out = root / "generated"
        self.package = package
        self.tag = re.sub(r"\W", "_", root.name)  # module names unique across tests
        monkeypatch.syspath_prepend(str(self.src))
        self.count = 0

    def write(self, step: Step) -> str:
        """Write a new module version for `step`; returns its name."""
        self.count += 1
        name = f"evo_{self.tag}_{self.count}"
        rpcs = "".join(step.rpcs)
        source = TEMPLATE.format(
            genre=textwrap.indent(step.genre, "    "),
            book=textwrap.indent(step.book, "    "),
            sample=step.sample,
            package=self.package,
            rpcs=rpcs,
        )
        (self.src / f"{name}.py").write_text(source, encoding="utf-8")
        importlib.invalidate_caches()
        return name

    @property
    def proto_path(self) -> Path:
        return self.out / self.package.replace(".", "/") / "catalog.proto"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], list[str]]:
    """Run cello-gen in-process: exit code, stdout lines, stderr lines."""
    capsys.readouterr()
    rc = main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out.splitlines(), captured.err.splitlines()


def walk(project: Project, capsys: pytest.CaptureFixture[str]) -> Iterator[Outcome]:
    """Take the project through HISTORY, yielding what each step did."""
    out = str(project.out)
    for index, step in enumerate(HISTORY):
        module = project.write(step)
        previous = None
        check_rc, errors, warnings, stale = 0, [], [], []
        if index:
            previous = project.root / f"build-{index - 1}"
            shutil.copytree(project.out, previous)
            check_rc, _, lines = cli(capsys, "check", module, "--out", out)
            stale = [line for line in lines if "is out of date" in line]
            errors = [x for x in lines if x.startswith("cello-gen: error:") and x not in stale]
            warnings = [x for x in lines if x.startswith("cello-gen: warning:")]
        before = project.proto_path.read_text() if index else None
        rc, _, build_err = cli(capsys, "build", module, "--out", out)
        refused = rc != 0
        if refused:
            assert project.proto_path.read_text() == before, "a refused build wrote files"
            assert any("--allow-breaking" in line for line in build_err), build_err
            rc, _, build_err = cli(capsys, "build", module, "--out", out, "--allow-breaking")
            assert any("[accepted: --allow-breaking]" in line for line in build_err), build_err
        assert rc == 0, build_err
        after_rc, _, after = cli(capsys, "check", module, "--out", out)
        assert after_rc == 0, after  # re-rendering with the lock just written is exact
        yield Outcome(
            step,
            check_rc,
            errors,
            warnings,
            stale,
            refused,
            project.proto_path.read_text(),
            previous,
            project.out,
        )


def _proto_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines()}


def test_history_numbers_reserved_and_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.catalog.v1")
    for outcome in walk(project, capsys):
        step = outcome.step
        lines = _proto_lines(outcome.proto)
        for line in step.present:
            assert line in lines, f"{step.id}: missing `{line}`\n{outcome.proto}"
        for line in step.absent:
            assert not any(x.startswith(line) for x in lines), f"{step.id}: has `{line}`"
        if outcome.previous is None:
            continue
        assert outcome.stale, f"{step.id}: a changed module must make the output stale"
        assert outcome.check_rc == 1
        assert len(outcome.check_errors) == len(step.breaking), (step.id, outcome.check_errors)
        for fragment in step.breaking:
            assert any(fragment in e for e in outcome.check_errors), (step.id, outcome.check_errors)
        assert outcome.refused == bool(step.breaking), step.id
        assert len(outcome.check_warnings) == len(step.warnings), (step.id, outcome.check_warnings)
        for fragment in step.warnings:
            assert any(fragment in w for w in outcome.check_warnings), step.id
    lock = read_lock(project.out)
    book = lock.messages["evo.catalog.v1.Book"]
    assert {n: f.number for n, f in book.fields.items()} == {
        "headline": 6,
        "genre": 4,
        "isbn": 1,
        "subtitle": 5,
        "cover_image": 7,
        "cover_text": 8,
    }
    assert book.reserved.numbers == (2, 3)
    assert book.reserved.names == ("name", "pages", "title")
    genre = lock.enums["evo.catalog.v1.Genre"]
    assert genre.values == {
        "GENRE_UNSPECIFIED": 0,
        "GENRE_FICTION": 1,
        "GENRE_HISTORY": 3,
        "GENRE_POETRY": 4,
    }
    assert (genre.reserved.numbers, genre.reserved.names) == ((2,), ("GENRE_SCIENCE",))
    assert set(lock.services["evo.catalog.v1.Catalog"]) == {"GetBook", "CountBooks"}


def test_strict_check_fails_on_json_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.strict.v1")
    out = str(project.out)
    first = project.write(Step("v1", book="title: str"))
    assert cli(capsys, "build", first, "--out", out)[0] == 0
    renamed = project.write(Step("v2", book="headline: Annotated[str, Field(1)]"))
    assert cli(capsys, "build", renamed, "--out", str(tmp_path / "scratch"))[0] == 0
    rc, _, lines = cli(capsys, "check", renamed, "--out", out)
    assert [x for x in lines if "warning" in x] == [
        "cello-gen: warning: evo.strict.v1.Book.headline: field 1 renamed from `title`; "
        "JSON clients use the old key"
    ]
    rc, _, lines = cli(capsys, "check", renamed, "--out", out, "--strict")
    assert rc == 1
    assert any("error: evo.strict.v1.Book.headline: field 1 renamed" in x for x in lines)


@pytest.mark.parametrize(
    ("book", "message"),
    [
        ("title: Annotated[str, Field(2)]", "field number 2 is reserved"),
        ("pages: str", "the name `pages` belonged to a removed field"),
        ("title: str\nisbn: Annotated[str, Field(1)]", "field number 1 is locked to `title`"),
    ],
    ids=["reserved-number", "reserved-name", "locked-number"],
)
def test_clashes_with_the_lock_are_definition_errors(
    book: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.clash.v1")
    out = str(project.out)
    assert (
        cli(
            capsys, "build", project.write(Step("v1", book="title: str\npages: int")), "--out", out
        )[0]
        == 0
    )
    # `pages` (2) removed; `isbn` added as 3
    assert (
        cli(capsys, "build", project.write(Step("v2", book="title: str\nisbn: str")), "--out", out)[
            0
        ]
        == 0
    )
    module = project.write(Step("v3", book=book))
    rc, _, lines = cli(capsys, "build", module, "--out", out)
    assert rc == 1 and len(lines) == 1, lines
    assert message in lines[0] and f"{module}.Book." in lines[0], lines
    with pytest.raises(DefinitionError, match=re.escape(message)):
        generate(import_target(module), lock=read_lock(project.out))


def test_without_a_lock_numbers_follow_declaration_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.fresh.v1")
    module = project.write(Step("v1", book="b: str\na: str\nc: Annotated[str, Field(1)]"))
    _, texts = generate(import_target(module))
    proto = _proto_lines(texts["evo/fresh/v1/fresh.proto"])
    assert {"string b = 2;", "string a = 3;", "string c = 1;"} <= proto


def test_lock_text_is_sorted_readable_json_and_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.lock.v1")
    out = str(project.out)
    cli(capsys, "build", project.write(Step("v1", book="title: str\npages: int")), "--out", out)
    cli(capsys, "build", project.write(Step("v2", book="title: str")), "--out", out)
    text = (project.out / LOCK_FILE).read_text()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["targets"] == [f"evo_{project.tag}_2"] and data["package"] is None
    assert '"title": {"number": 1, "type": "string"}' in text
    book = data["messages"]["evo.lock.v1.Book"]
    assert book["reserved"] == {"names": ["pages"], "numbers": [2]}
    assert dump_lock(parse_lock(data, source="test")) == text
    assert text.endswith("}\n")


def test_check_and_proto_read_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.read.v1")
    out = str(project.out)
    cli(capsys, "build", project.write(Step("v1", book="title: str\npages: int")), "--out", out)
    rc, stdout, lines = cli(capsys, "check", "--out", out)  # targets from the lock
    assert (rc, lines) == (0, [])
    assert stdout == [f"{out}: up to date, no breaking changes since {LOCK_FILE}"]
    reordered = project.write(Step("v2", book="pages: int\ntitle: str"))
    _, stdout, _ = cli(capsys, "proto", reordered, "--out", out)
    assert {"int64 pages = 2;", "string title = 1;"} <= _proto_lines("\n".join(stdout))
    _, stdout, _ = cli(capsys, "proto", reordered)  # no lock: declaration order
    assert {"int64 pages = 1;", "string title = 2;"} <= _proto_lines("\n".join(stdout))


def test_check_reports_a_missing_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, lines = cli(capsys, "check", "examples.library", "--out", str(tmp_path))
    assert rc == 1
    assert lines == [
        f"cello-gen: error: {tmp_path / LOCK_FILE} not found; run "
        f"`cello-gen build --out {tmp_path}` first"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"messages": {"a.B": {"fields": {"x": {"number": "1"}}}}}', "entry 'a.B' is malformed"),
        ('{"version": 99}', "lock version 99 is newer"),
        ("{", "not valid JSON"),
    ],
    ids=["bad-entry", "newer-version", "not-json"],
)
def test_a_bad_lock_is_one_clear_error(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / LOCK_FILE).write_text(text)
    rc, _, lines = cli(capsys, "build", "examples.library", "--out", str(tmp_path))
    assert rc == 1 and len(lines) == 1, lines
    assert message in lines[0]


@pytest.mark.parametrize(
    ("old", "new", "wire", "json_ok"),
    [
        ("int32", "int64", True, False),
        ("int64", "uint64", True, True),
        ("bool", "uint32", True, False),
        ("sint32", "sint64", True, False),
        ("sint32", "int32", False, False),
        ("fixed32", "sfixed32", True, True),
        ("fixed64", "fixed32", False, False),
        ("string", "bytes", True, False),
        ("bytes", "string", False, False),
        ("double", "float", False, False),
        ("enum a.E", "int32", False, False),
        ("message a.M", "message a.N", False, False),
    ],
    ids=lambda v: str(v),
)
def test_wire_compatibility_table(old: str, new: str, wire: bool, json_ok: bool) -> None:
    assert wire_compatible(old, new) is wire
    assert (wire and json_compatible(old, new)) is json_ok


# -- over the wire -------------------------------------------------------------------------

OLD_CLIENT = """
import json, sys
import grpc
sys.path.insert(0, sys.argv[1])
from evowire.catalog.v1 import catalog_pb2 as pb, catalog_pb2_grpc as rpc

with grpc.insecure_channel(sys.argv[2]) as channel:
    book = rpc.CatalogStub(channel).GetBook(pb.Query(isbn="978-0"), timeout=10)
print(json.dumps({
    "fields": sorted(f.name for f in pb.Book.DESCRIPTOR.fields),
    "isbn": book.isbn, "title": book.title, "pages": book.pages,
    "genre": pb.Genre.Name(book.genre), "unknown_bytes": len(book.SerializeToString()),
}))
"""


async def test_old_client_reads_a_newer_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path, monkeypatch, "evowire.catalog.v1")
    out = str(project.out)
    v1 = project.write(HISTORY[0])
    assert cli(capsys, "build", v1, "--out", out)[0] == 0
    old = tmp_path / "old-client"
    shutil.copytree(project.out, old)
    v2 = project.write(
        Step(
            "additive",
            book="isbn: str\nsubtitle: str\ntitle: str\npages: int\ngenre: Genre",
            genre="FICTION = 'fiction'\nSCIENCE = 'science'\nHISTORY = 'history'",
            sample="Book(isbn='978-0', subtitle='Desert', title='Dune', pages=412, "
            "genre=Genre.SCIENCE)",
        )
    )
    assert cli(capsys, "build", v2, "--out", out)[0] == 0
    service = importlib.import_module(v2).Catalog
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=out)
    server.register_service(service())
    await server.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            OLD_CLIENT,
            str(old),
            f"127.0.0.1:{server.port}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await server.stop()
    assert proc.returncode == 0, stderr.decode()
    seen = json.loads(stdout)
    assert seen["fields"] == ["genre", "isbn", "pages", "title"]  # v1 knows no subtitle
    assert {k: seen[k] for k in ("isbn", "title", "pages", "genre")} == {
        "isbn": "978-0",
        "title": "Dune",
        "pages": 412,
        "genre": "GENRE_SCIENCE",
    }
    assert seen["unknown_bytes"] > len("978-0Dune")  # the subtitle survives as an unknown field


# -- against buf ---------------------------------------------------------------------------


@pytest.fixture
def peers(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.syspath_prepend(str(PEERS))
    return importlib.import_module("peers")


@pytest.mark.peer
def test_check_flags_whatever_buf_flags_as_wire_breaking(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    peers: object,
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.catalog.v1")
    verdicts = []
    for outcome in walk(project, capsys):
        if outcome.previous is None:
            continue
        ok, report = peers.buf_breaking(outcome.out, outcome.previous)  # type: ignore[attr-defined]
        verdicts.append((outcome.step.id, not ok, bool(outcome.check_errors)))
        assert (not ok) == outcome.step.buf_breaking, (outcome.step.id, report)
        if not ok:
            assert outcome.check_errors, f"{outcome.step.id}: buf says\n{report}"
    # and the history does exercise both verdicts
    assert {buf for _, buf, _ in verdicts} == {True, False}
