"""Generated converters round-trip dataclass instances losslessly through protobuf bytes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cello._wire.stubs import load_bindings

from .cases.rich import service as rich

_BINDING = load_bindings([rich.Catalog])["rich.catalog.v1.Catalog"]
_METHODS = {m.name: m for m in _BINDING.methods}

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
int64 = st.integers(-(2**63), 2**63 - 1)
json_number = st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
json_value = st.recursive(
    st.none() | st.booleans() | json_number | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
utc_datetimes = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
)
images = st.builds(rich.Image, url=text, width=st.integers(0, 2**32 - 1))
trees = st.recursive(
    st.builds(rich.Tree, label=text, children=st.just([]), parent_label=st.none() | text),
    lambda inner: st.builds(
        rich.Tree, label=text, children=st.lists(inner, max_size=3), parent_label=st.none() | text
    ),
    max_leaves=6,
)
scalars = st.builds(
    rich.Scalars,
    i64=int64,
    i32=st.integers(-(2**31), 2**31 - 1),
    s64=int64,
    f64=st.integers(0, 2**64 - 1),
    single=st.floats(width=32, allow_nan=False),
    real=st.floats(allow_nan=False),
    flag=st.booleans(),
    text=text,
    raw=st.binary(max_size=20),
)
items = st.builds(
    rich.Item,
    name=text,
    color=st.sampled_from(rich.Color),
    priority=st.sampled_from(rich.Priority),
    tags=st.lists(text, max_size=3),
    counts=st.dictionaries(text, int64, max_size=3),
    by_id=st.dictionaries(int64, images, max_size=3),
    colors=st.lists(st.sampled_from(rich.Color), max_size=3),
    note=st.none() | text,
    quantity=st.none() | int64,
    created=st.none() | utc_datetimes,
    ttl=st.timedeltas(min_value=dt.timedelta(days=-10_000), max_value=dt.timedelta(days=10_000)),
    body=st.none() | images | text,
    attributes=st.dictionaries(text, json_value, max_size=3),
    anything=json_value,
    values=st.lists(json_value, max_size=3),
    pinned=int64,
    legacy=text,
    tree=st.none() | trees,
    scalars=st.none() | scalars,
)


def _round_trip(method: str, value: Any) -> Any:
    binding = _METHODS[method]
    wire = binding.encode_request(value).SerializeToString()
    return binding.decode_request(binding.request_type.FromString(wire))


@settings(max_examples=150, deadline=None)
@given(items)
def test_item_round_trips(item: rich.Item) -> None:
    assert _round_trip("GetItem", item) == item


@settings(max_examples=30, deadline=None)
@given(st.lists(items, max_size=3))
def test_repeated_messages_round_trip(values: list[rich.Item]) -> None:
    assert _round_trip("Wrapped", rich.ItemList(values)) == rich.ItemList(values)


@given(
    st.recursive(
        st.just(None),
        lambda inner: st.builds(rich.Pong, ping=st.builds(rich.Ping, pong=inner)),
        max_leaves=4,
    )
)
def test_mutually_recursive_messages_round_trip(pong: rich.Pong | None) -> None:
    ping = rich.Ping(pong=pong)
    assert _round_trip("Graph", ping) == ping


@given(text, st.none() | st.integers(-(2**31), 2**31 - 1), st.none() | st.sampled_from(rich.Color))
def test_synthesized_request_round_trips_keyword_arguments(
    query: str, limit: int | None, color: rich.Color | None
) -> None:
    kwargs = {"query": query, "limit": limit, "color": color}
    sent = {k: v for k, v in kwargs.items() if v is not None}
    # parameters with defaults travel with presence: absent ones stay absent, so the
    # handler's Python default applies
    assert _round_trip("Search", sent) == sent
