"""What `cello-gen` tells the user about schema changes, and undoing an unreleased one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cello.codegen.evolution.lock import LOCK_FILE

from .test_evolution import COUNT, GET, Project, Step, cli


def _build(project: Project, capsys: pytest.CaptureFixture[str], step: Step, *flags: str):
    return cli(capsys, "build", project.write(step), "--out", str(project.out), *flags)


def test_check_prints_the_schema_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.diff.v1")
    book = "title: str\npages: int\nisbn: str = ''\ngenre: Genre | None = None"
    first = Step("v1", book=book, rpcs=(GET, COUNT))
    assert _build(project, capsys, first)[0] == 0
    module = project.write(
        Step(
            "v2",
            book="title: str\nisbn: Annotated[str, Field(7)] = ''\ngenre: Genre | None = None\n"
            "subtitle: str | None = None",
            genre="FICTION = 'fiction'\nPOETRY = 'poetry'",
            rpcs=(GET,),
        )
    )
    rc, out, err = cli(capsys, "check", module, "--out", str(project.out))
    assert rc == 1  # out of date, and an rpc was removed
    assert out[0].endswith(f"7 schema change(s) since {LOCK_FILE}:"), out
    assert [line.strip() for line in out[1:]] == [
        "~ field evo.diff.v1.Book.isbn: number 3 -> 7",
        "+ field evo.diff.v1.Book.subtitle = 5 (optional string)",
        "- field evo.diff.v1.Book.pages = 2 (now reserved)",
        "+ value evo.diff.v1.Genre.GENRE_POETRY = 3",
        "- value evo.diff.v1.Genre.GENRE_SCIENCE = 2 (now reserved)",
        "- message evo.diff.v1.CountBooksResponse",
        "- rpc evo.diff.v1.Catalog.CountBooks",
    ]
    assert any("rpc removed" in line for line in err), err


def test_build_reports_what_it_reserved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.note.v1")
    assert _build(project, capsys, Step("v1", book="title: str\nisbn: str"))[0] == 0
    rc, _, err = _build(project, capsys, Step("v2", book="title: str"))
    assert rc == 0, err
    assert err == [
        "cello-gen: note: reserved evo.note.v1.Book.isbn (2): removed since "
        f"{LOCK_FILE}, so never reused"
    ]
    rc, _, err = _build(project, capsys, Step("v3", book="title: str"))
    assert rc == 0 and err == []  # reported once, when it happens


def test_a_rename_and_back_is_undone_with_allow_breaking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.undo.v1")
    assert _build(project, capsys, Step("v1", book="title: str\nisbn: str"))[0] == 0
    assert _build(project, capsys, Step("v2", book="title: str\ncode: str"))[0] == 0
    back = Step("v3", book="title: str\nisbn: str")
    rc, _, err = _build(project, capsys, back)
    assert rc == 1 and len(err) == 1, err
    assert "`isbn` belonged to a removed field" in err[0]
    assert "pass --allow-breaking to bring it back as field 2" in err[0]

    rc, _, err = _build(project, capsys, back, "--allow-breaking")
    assert rc == 0, err
    assert (
        "cello-gen: warning: restored evo.undo.v1.Book.isbn (2) from its reservation "
        "[accepted: --allow-breaking]"
    ) in err
    assert "cello-gen: note: reserved evo.undo.v1.Book.code (3): removed since" in err[0]
    proto = (project.out / "evo/undo/v1/undo.proto").read_text()
    assert "  string isbn = 2;" in proto
    assert 'reserved "code";' in proto and "reserved 3;" in proto
    book = json.loads((project.out / LOCK_FILE).read_text())["messages"]["evo.undo.v1.Book"]
    assert book["fields"]["isbn"] == {"number": 2, "type": "string"}
    assert book["reserved"] == {"names": ["code"], "numbers": [3]}
    assert book["removed"] == {"code": {"number": 3, "type": "string"}}
    rc, out, _ = cli(capsys, "check", "--out", str(project.out))
    assert rc == 0 and out[-1].endswith("up to date, no breaking changes since cello.lock.json")


def test_an_enum_value_comes_back_with_its_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path, monkeypatch, "evo.undoenum.v1")
    both = "FICTION = 'fiction'\nSCIENCE = 'science'"
    book = "title: str\ngenre: Genre | None = None"
    assert _build(project, capsys, Step("v1", book=book, genre=both))[0] == 0
    assert _build(project, capsys, Step("v2", book=book, genre="FICTION = 'f'"))[0] == 0
    rc, _, err = _build(project, capsys, Step("v3", book=book, genre=both))
    assert rc == 1 and "pass --allow-breaking to bring it back as value 2" in err[0], err
    rc, _, err = _build(project, capsys, Step("v4", book=book, genre=both), "--allow-breaking")
    assert rc == 0, err
    assert "  GENRE_SCIENCE = 2;" in (project.out / "evo/undoenum/v1/undoenum.proto").read_text()
