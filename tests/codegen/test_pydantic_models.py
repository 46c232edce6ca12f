"""pydantic models read into the schema: numbers, docs, defaults and clear refusals."""

from __future__ import annotations

import pytest

from cello import DefinitionError
from cello.codegen.schema.introspect import build_schema

from . import bad, pydantic_bad


@pytest.mark.parametrize(
    ("message", "fragments"),
    [
        (pydantic_bad.WithAlias, ["WithAlias.user_name", "alias 'userName'", "drop the alias"]),
        (pydantic_bad.WithTextNumber, ["WithTextNumber.a", "'5'", "is not an int"]),
        (pydantic_bad.WithSet, ["WithSet.tags", "set[str]", "use `list[...]`"]),
        (pydantic_bad.WithFlag, ["WithFlag.perm", "flag enum", "`list[Enum]`"]),
        (pydantic_bad.WithPair, ["WithPair.pair", "fixed-size tuple", "`tuple[T, ...]`"]),
        (pydantic_bad.WithIntLiteral, ["WithIntLiteral.level", "non-string", "strings only"]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_bad_models_are_refused_naming_the_field(message: type, fragments: list[str]) -> None:
    with pytest.raises(DefinitionError) as info:
        build_schema([bad.service_using(message)])
    for fragment in fragments:
        assert fragment in str(info.value)


def test_model_fields_keep_numbers_defaults_and_descriptions() -> None:
    from .cases.pydantic.service import Records

    (file,) = build_schema([Records]).files
    record = next(m for m in file.messages if m.name == "Record")
    numbers = {f.python_name: f.number for f in record.fields}
    assert (numbers["id"], numbers["name"], numbers["status"]) == (7, 2, 1)
    defaults = {f.python_name for f in record.fields if f.has_default}
    assert defaults == {"status", "notes", "labels", "score", "owner", "stamp", "took"}
    note = next(m for m in file.messages if m.name == "Note")
    assert note.fields[0].doc == "What the note says.\nSecond line."
