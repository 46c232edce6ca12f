"""Wire first: random valid `_pb2` messages of the rich schema, as bytes, through the stubs.

Each message is decoded by the generated decoder, encoded again and serialized
deterministically. It must come back byte-equal (after the documented normalizations), or
be refused with `WireError`, and it is refused exactly when docs/wire-policy.md says so.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cello import WireError
from cello._wire.stubs import load_bindings
from examples import library

from .cases.rich import service as rich

_BINDING = load_bindings([rich.Catalog])["rich.catalog.v1.Catalog"]
_METHODS = {m.name: m for m in _BINDING.methods}
Item = _METHODS["GetItem"].request_type
SearchRequest = _METHODS["Search"].request_type
CountRequest = _METHODS["Count"].request_type

_LIBRARY = load_bindings([library.LibraryService])["demo.library.v1.LibraryService"]
_CHAT = next(m for m in _LIBRARY.methods if m.name == "Chat")
Loan = _CHAT.request_type  # `when: datetime`: required, no default

# RED, GREEN; 0 is the synthesized UNSPECIFIED. Enums are open: any other number is kept
COLORS = {1, 2}
MAX_TS, MIN_TS = 253402300799, -62135596800
MAX_DURATION = 315576000000

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
int64 = st.integers(-(2**63), 2**63 - 1)
enum_number = st.sampled_from([0, 1, 2, 5, 99, -1]) | st.integers(-(2**31), 2**31 - 1)
nanos = st.integers(0, 999_999).map(lambda n: n * 1000) | st.integers(0, 999_999_999)
leaf_value = (
    st.just(("null_value", 0))
    | st.tuples(st.just("number_value"), st.floats(allow_nan=False))
    | st.tuples(st.just("string_value"), text)
    | st.tuples(st.just("bool_value"), st.booleans())
)


def _set_value(v: Any, spec: Any) -> None:
    kind, payload = spec
    if kind == "struct_value":
        v.struct_value.SetInParent()
        for key, child in payload.items():
            _set_value(v.struct_value.fields[key], child)
    elif kind == "list_value":
        v.list_value.SetInParent()
        for child in payload:
            _set_value(v.list_value.values.add(), child)
    else:
        setattr(v, kind, payload)


value_spec = st.recursive(
    leaf_value,
    lambda inner: (
        st.tuples(st.just("list_value"), st.lists(inner, max_size=3))
        | st.tuples(st.just("struct_value"), st.dictionaries(text, inner, max_size=3))
    ),
    max_leaves=6,
)


@st.composite
def trees(draw: Any, depth: int = 0) -> Any:
    tree = Item.DESCRIPTOR.fields_by_name["tree"].message_type._concrete_class()
    tree.label = draw(text)
    if draw(st.booleans()):
        tree.parent_label = draw(text)
    if depth < 2:
        for child in draw(st.lists(trees(depth + 1), max_size=2)):
            tree.children.add().CopyFrom(child)
    return tree


@st.composite
def items(draw: Any) -> Any:
    m = Item(name=draw(text), pinned=draw(int64), legacy=draw(text))
    m.color = draw(enum_number)
    m.priority = draw(enum_number)
    m.tags.extend(draw(st.lists(text, max_size=3)))
    m.counts.update(draw(st.dictionaries(text, int64, max_size=3)))
    for key, (url, width) in draw(
        st.dictionaries(int64, st.tuples(text, st.integers(0, 2**32 - 1)), max_size=2)
    ).items():
        m.by_id[key].url, m.by_id[key].width = url, width
    m.colors.extend(draw(st.lists(enum_number, max_size=3)))
    if draw(st.booleans()):
        m.note = draw(text)
    if draw(st.booleans()):
        m.quantity = draw(int64)
    if draw(st.booleans()):
        m.created.seconds = draw(st.integers(MIN_TS - 10, MAX_TS + 10))
        m.created.nanos = draw(nanos)
    if draw(st.booleans()):
        seconds = draw(st.integers(-MAX_DURATION, MAX_DURATION))
        sign = -1 if seconds < 0 or (seconds == 0 and draw(st.booleans())) else 1
        m.ttl.seconds = seconds
        m.ttl.nanos = draw(nanos) * (sign if draw(st.integers(0, 9)) else -sign)
    body = draw(st.sampled_from(["none", "image", "string"]))
    if body == "image":
        m.body_image.url = draw(text)
    elif body == "string":
        m.body_string = draw(text)
    for key, spec in draw(st.dictionaries(text, value_spec, max_size=3)).items():
        _set_value(m.attributes.fields[key], spec)
    if draw(st.booleans()):
        _set_value(m.anything, draw(value_spec))
    for spec in draw(st.lists(value_spec, max_size=2)):
        _set_value(m.values.add(), spec)
    if draw(st.booleans()):
        m.tree.CopyFrom(draw(trees()))
    if draw(st.booleans()):
        m.scalars.SetInParent()
        m.scalars.i32 = draw(st.integers(-(2**31), 2**31 - 1))
        m.scalars.f64 = draw(st.integers(0, 2**64 - 1))
        m.scalars.single = draw(st.floats(width=32, allow_nan=False))
        m.scalars.real = draw(st.floats(allow_nan=False))
        m.scalars.raw = draw(st.binary(max_size=8))
    return m


def _timestamp_ok(ts: Any) -> bool:
    return MIN_TS <= ts.seconds <= MAX_TS and ts.nanos % 1000 == 0


def _duration_ok(d: Any) -> bool:
    mixed = d.seconds > 0 > d.nanos or d.seconds < 0 < d.nanos
    return d.nanos % 1000 == 0 and not mixed


def _item_refused(m: Any) -> bool:
    """What docs/wire-policy.md refuses, computed from the message alone."""
    return (
        any(c == 0 for c in m.colors)  # 0 in a list of an enum without a member 0
        or (m.HasField("created") and not _timestamp_ok(m.created))
        or (m.HasField("ttl") and not _duration_ok(m.ttl))
    )


def _item_normalized(m: Any) -> Any:
    """The documented normalizations: 0 → the default, and presence Python cannot keep."""
    out = Item()
    out.CopyFrom(m)
    if out.color == 0:
        out.color = 1  # Item.color defaults to Color.RED
    out.ttl.SetInParent()  # `ttl: timedelta` and `attributes: dict` are always sent
    out.attributes.SetInParent()
    if not out.HasField("anything"):
        out.anything.null_value = 0  # `anything: Any` is None either way; None is sent as null
    return out


def _round_trip(binding: Any, sent: Any) -> bytes | None:
    raw = sent.SerializeToString()
    received = binding.request_type.FromString(raw)
    try:
        value = binding.decode_request(received)
    except WireError:
        return None
    return binding.encode_request(value).SerializeToString(deterministic=True)  # type: ignore[no-any-return]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
def test_items_come_back_byte_equal_or_are_refused(sent: Any) -> None:
    again = _round_trip(_METHODS["GetItem"], sent)
    if _item_refused(sent):
        assert again is None, "a value Python cannot hold was accepted"
    else:
        assert again == _item_normalized(sent).SerializeToString(deterministic=True)


@settings(max_examples=200, deadline=None)
@given(
    query=text,
    limit=st.none() | st.integers(-(2**31), 2**31 - 1),
    color=st.none() | enum_number,
)
def test_params_requests_keep_presence_and_unknown_enums(
    query: str, limit: int | None, color: int | None
) -> None:
    sent = SearchRequest(query=query, limit=limit, color=color)
    again = _round_trip(_METHODS["Search"], sent)
    if color == 0:  # present 0 on an Optional enum without a member 0: refused
        assert again is None
    else:
        assert again == sent.SerializeToString(deterministic=True)


@settings(max_examples=100, deadline=None)
@given(color=enum_number)
def test_required_enum_parameter_refuses_zero_and_keeps_unknown(color: int) -> None:
    again = _round_trip(_METHODS["Count"], CountRequest(color=color))
    if color != 0:
        assert again == CountRequest(color=color).SerializeToString(deterministic=True)
    else:
        assert again is None


@settings(max_examples=150, deadline=None)
@given(
    isbn=text,
    note=text,
    when=st.none() | st.tuples(st.integers(MIN_TS - 10, MAX_TS + 10), nanos),
)
def test_required_timestamp_absent_is_refused_never_invented(
    isbn: str, note: str, when: tuple[int, int] | None
) -> None:
    sent = Loan(isbn=isbn, note=note)
    if when is not None:
        sent.when.seconds, sent.when.nanos = when
    again = _round_trip(_CHAT, sent)
    if not sent.HasField("when") or not _timestamp_ok(sent.when):
        assert again is None, "an absent or unholdable required Timestamp was accepted"
    else:
        assert again == sent.SerializeToString(deterministic=True)
