"""Generated dict encoders: for random dicts of the rich schema, the stub's `_encd_Item` and
the generic mapping (`dict_to_message`) give byte-equal messages, or the same error.

The fast path (`_kwd_Item`) may leave a dict to the generic mapping, but whenever it
succeeds on its own its message must be the generic mapping's; and the usual spellings
(proto-name keys, exact scalar types, enum names, members and numbers, `datetime`,
`timedelta` and their JSON strings) must not leave it.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cello._wire.convert import dict_to_message
from cello._wire.stubs import load_bindings

from .cases.rich import service as rich

_BINDING = load_bindings([rich.Catalog])["rich.catalog.v1.Catalog"]
_GET = next(m for m in _BINDING.methods if m.name == "GetItem")
Item = _GET.response_type
_STUB = sys.modules[_GET.encode_response.__module__]

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)
ODD = st.sampled_from(
    [True, False, 1.0, 2.5, "5", b"x", bytearray(b"x"), [], {}, (), rich.Color.RED, 2**70]
)
OFFSETS = [
    dt.UTC,
    dt.timezone(dt.timedelta(hours=5, minutes=30)),
    dt.timezone(-dt.timedelta(hours=11)),
    dt.timezone(dt.timedelta(seconds=7)),
]
ODD_OFFSETS = [dt.timezone(dt.timedelta(microseconds=-3))]  # left to `FromDatetime`


def _json_string(ts: dt.datetime, digits: int, zone: str) -> str:
    fraction = f".{ts.microsecond:06d}{'0' * 3}"[: digits + 1] if digits else ""
    return ts.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + fraction + zone


def _either(canonical: bool, good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` values, plus (unless `canonical`) odd ones and None."""
    return good if canonical else st.one_of(good, good, good, ODD, st.none())


def _ints(bits: int, canonical: bool, *, unsigned: bool = False) -> st.SearchStrategy[Any]:
    low, high = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    good = st.integers(low, high)
    return good if canonical else st.one_of(good, st.integers(), ODD, st.none())


def _timestamps(canonical: bool) -> st.SearchStrategy[Any]:
    zones = st.sampled_from(OFFSETS if canonical else OFFSETS + ODD_OFFSETS)
    aware = st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=zones
    )
    naive = st.datetimes()
    strings = st.builds(
        _json_string,
        st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
        st.sampled_from([0, 1, 3, 6, 9]),
        st.sampled_from(["Z", "+00:00", "-05:30", "+14:00"]),
    )
    iso = st.datetimes(  # RFC 3339 has no offset seconds: a whole-minute zone
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.sampled_from(OFFSETS[:3]),
    ).map(dt.datetime.isoformat)
    good = st.one_of(aware, naive, strings, iso)
    odd = st.sampled_from(
        ["2024-05-17t12:00:00Z", "2024-05-17T12:00:00", "2024-02-30T00:00:00Z", "nope", "1s"]
    )
    return good if canonical else st.one_of(good, odd, ODD, st.none())


def _durations(canonical: bool) -> st.SearchStrategy[Any]:
    deltas = st.timedeltas(min_value=dt.timedelta(days=-(10**6)), max_value=dt.timedelta(10**6))
    strings = st.builds(
        lambda sign, secs, frac: f"{sign}{secs}{frac}s",
        st.sampled_from(["", "-"]),
        st.integers(0, 10**9),
        st.sampled_from(["", ".", ".5", ".000001", ".123456789"]),
    )
    good = st.one_of(deltas, strings)
    if canonical:
        return good
    odd = st.sampled_from(["1.5", "s", "+1s", "1.1234567891s", "400000000000s", "-1.-5s"])
    return st.one_of(good, st.timedeltas(), odd, ODD, st.none())


def _enums(members: list[Any], names: list[str], canonical: bool) -> st.SearchStrategy[Any]:
    good = st.one_of(st.sampled_from(members + names), st.integers(-(2**31), 2**31 - 1))
    odd = st.sampled_from([2**31, True, "nope", rich.Priority.HIGH, rich.Color.GREEN, 1.0])
    return good if canonical else st.one_of(good, odd, st.none())


COLORS = [rich.Color.RED, rich.Color.GREEN]
COLOR_NAMES = ["COLOR_RED", "RED", "red", "COLOR_GREEN", "green", "COLOR_UNSPECIFIED"]
PRIORITIES = list(rich.Priority)
PRIORITY_NAMES = ["PRIORITY_NONE", "PRIORITY_HIGH", "HIGH", "low"]
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), text)
json_like = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=5,
)


def _lists(element: st.SearchStrategy[Any], canonical: bool) -> st.SearchStrategy[Any]:
    lists = st.lists(element, max_size=3)
    good = st.one_of(lists, lists.map(tuple))
    odd = st.one_of(lists.map(_Iterable), st.just("ab"), st.none())
    return good if canonical else st.one_of(good, odd)


class _Iterable:
    """An iterable that is not a list: the generic mapping takes it, the fast path leaves it."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __iter__(self) -> Any:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"_Iterable({self.items!r})"


def _maybe_fields(draw: Any, fields: dict[str, st.SearchStrategy[Any]], canonical: bool) -> Any:
    """A dict of some of `fields`; not canonical: JSON names or unknown keys now and then."""
    chosen = draw(st.sets(st.sampled_from(sorted(fields)))) if fields else set()
    d = {name: draw(fields[name]) for name in sorted(chosen)}
    if not canonical and draw(st.integers(0, 9)) == 0:
        d[draw(st.sampled_from(["parentLabel", "byId", "bodyImage", "nope"]))] = draw(text)
    return d


@st.composite
def images(draw: Any, canonical: bool) -> Any:
    d = _maybe_fields(
        draw,
        {"url": _either(canonical, text), "width": _ints(32, canonical, unsigned=True)},
        canonical,
    )
    if not canonical and draw(st.integers(0, 9)) == 0:
        return rich.Image(url="u", width=3)  # a dataclass where a dict is expected
    return d


@st.composite
def trees(draw: Any, canonical: bool, depth: int = 0) -> Any:
    fields = {"label": _either(canonical, text), "parent_label": _either(canonical, text)}
    if depth < 2:
        fields["children"] = _lists(trees(canonical, depth + 1), canonical)
    return _maybe_fields(draw, fields, canonical)


@st.composite
def scalars(draw: Any, canonical: bool) -> Any:
    floats = st.one_of(st.floats(), st.integers(-(2**60), 2**60))
    fields = {
        "i64": _ints(64, canonical),
        "i32": _ints(32, canonical),
        "s64": _ints(64, canonical),
        "f64": _ints(64, canonical, unsigned=True),
        "single": _either(canonical, floats),
        "real": _either(canonical, floats),
        "flag": _either(canonical, st.booleans()),
        "text": _either(canonical, text),
        "raw": _either(canonical, st.binary(max_size=4)),
    }
    return _maybe_fields(draw, fields, canonical)


@st.composite
def items(draw: Any, canonical: bool) -> Any:
    color = _enums(COLORS, COLOR_NAMES, canonical)
    keys = st.integers(-(2**63), 2**63 - 1)
    if not canonical:
        keys = st.one_of(keys, st.just(True), st.just("1"))
    fields = {
        "name": _either(canonical, text),
        "color": color,
        "priority": _enums(PRIORITIES, PRIORITY_NAMES, canonical),
        "tags": _lists(_either(canonical, text), canonical),
        "counts": st.dictionaries(text, _ints(64, canonical), max_size=3),
        "by_id": st.dictionaries(keys, images(canonical), max_size=2),
        "colors": _lists(color, canonical),
        "note": _either(canonical, text),
        "quantity": _ints(64, canonical),
        "created": _timestamps(canonical),
        "ttl": _durations(canonical),
        "attributes": st.dictionaries(text, json_like, max_size=3),
        "anything": json_like,
        "values": _lists(json_like, canonical),
        "pinned": _ints(64, canonical),
        "legacy": _either(canonical, text),
        "tree": trees(canonical),
        "scalars": scalars(canonical),
    }
    d = _maybe_fields(draw, fields, canonical)
    body = draw(st.sampled_from(["", "image", "string"] + ([] if canonical else ["both"])))
    if body in ("image", "both"):
        d["body_image"] = draw(images(canonical))
    if body in ("string", "both"):
        d["body_string"] = draw(_either(canonical, text))
    return d


def _bytes(message: Any) -> bytes:
    return bytes(message.SerializeToString(deterministic=True))


def _generic(d: Any) -> tuple[bytes | None, Exception | None]:
    try:
        return _bytes(dict_to_message(d, Item)), None
    except Exception as exc:  # noqa: BLE001 - compared with the generated encoder's
        return None, exc


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(items(canonical=False))
def test_generated_dict_encoder_matches_the_generic_mapping(d: Any) -> None:
    expected, error = _generic(d)
    try:
        fast = _bytes(Item(**_STUB._kwd_Item(d)))
    except Exception:  # noqa: BLE001 - left to the generic mapping; checked below
        fast = None
    if fast is not None:
        assert error is None, f"the fast path took a dict the generic mapping refuses: {error}"
        assert fast == expected
    try:
        got = _bytes(_GET.encode_response_dict(d))
    except Exception as exc:  # noqa: BLE001
        assert error is not None, f"refused a dict the generic mapping takes: {exc}"
        assert (type(exc), str(exc)) == (type(error), str(error))
    else:
        assert error is None and got == expected


@_SETTINGS
@given(items(canonical=True))
def test_the_usual_spellings_stay_on_the_fast_path(d: Any) -> None:
    kwargs = _STUB._kwd_Item(d)  # raises OffPath if the dict was left to the generic mapping
    assert _bytes(Item(**kwargs)) == _generic(d)[0]


def test_the_stub_wires_the_dict_encoder_to_each_dataclass_response() -> None:
    assert _GET.encode_response_dict is _STUB._encd_Item
    by_name = {m.name: m for m in _BINDING.methods}
    assert by_name["Count"].encode_response_dict is None  # `-> int`: no dict to take
    assert by_name["Ping"].encode_response_dict is None  # Empty


@pytest.mark.parametrize(
    ("d", "message"),
    [
        ({"name": 5}, "rich.catalog.v1.Item.name: expected a str, got int 5"),
        ({"nope": 1}, "rich.catalog.v1.Item has no field 'nope'; its fields are name, "),
        ({"color": "BLUE"}, "rich.catalog.v1.Item.color: 'BLUE' is not a value of"),
        ({"tree": {"label": b"x"}}, "rich.catalog.v1.Item.tree.label: expected a str"),
        ({"created": "yesterday"}, "Item.created: expected an RFC 3339 timestamp"),
    ],
    ids=["wrong-type", "unknown-key", "enum-name", "nested", "timestamp"],
)
def test_a_refused_dict_gets_the_generic_error_naming_the_field(d: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        _GET.encode_response_dict(d)
    assert message in str(caught.value)
