import hashlib
import struct

import pytest
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from workbench.lake import EventKey
from workbench.lake._validate import key_table  # imported here, not in the first example (deadline)


def test_digest_is_sha3_of_the_documented_layout():
    key = EventKey({"customer": "c1"}, context={"cell": 7}, window="day")
    # Built by hand from the module docstring, independently of the encoder.
    expected = (b"EK\x01" + b"\x03day" + b"\x01" + b"\x08customer" + b"s\x02c1" + b"\x01" + b"\x04cell"
                + b"i" + struct.pack(">q", 7) + b"\x00")
    assert key.to_bytes() == expected
    assert key.digest == hashlib.sha3_256(expected).hexdigest()


def test_order_of_components_does_not_matter_but_types_do():
    a = EventKey({"customer": "c1", "cell": "x"}, attributes={"b": 1, "a": 2})
    b = EventKey({"cell": "x", "customer": "c1"}, attributes={"a": 2, "b": 1})
    assert a == b and a.digest == b.digest
    assert EventKey({"customer": 1}).digest != EventKey({"customer": "1"}).digest
    assert EventKey({"customer": 1}).digest != EventKey({"customer": True}).digest
    assert EventKey({"customer": 1}, window="day").digest != EventKey({"customer": 1}, window="week").digest


def test_components_round_trip_and_repr():
    key = EventKey({"customer": "c1"}, context={"city": "Lund"}, attributes={"plan": "pro", "v": 2.5})
    assert EventKey.from_components(key.components()) == key
    assert "customer" in repr(key) and "Lund" in repr(key)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"entities": {}}, "at least one entity"),
        ({"entities": {"customer": None}}, "an entity id must be present"),
        ({"entities": {"customer": "c"}, "window": "year"}, "expected one of"),
        ({"entities": {"customer": float("nan")}}, "NaN"),
        ({"entities": {"customer": 2**70}}, "outside int64"),
        ({"entities": {"customer": [1]}}, "expected str, int, float, bool"),
        ({"entities": "c1"}, "mapping"),
    ],
)
def test_bad_keys_are_refused_with_a_reason(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        EventKey(**kwargs)


def test_unknown_version_and_trailing_bytes_are_refused():
    raw = EventKey({"c": 1}).to_bytes()
    with pytest.raises(ValueError, match="version 2 unknown"):
        EventKey.from_bytes(raw[:2] + b"\x02" + raw[3:])
    with pytest.raises(ValueError, match="trailing"):
        EventKey.from_bytes(raw + b"\x00")
    with pytest.raises(ValueError, match="b'EK'"):
        EventKey.from_bytes(b"XX" + raw[2:])


scalars = st.one_of(
    st.text(max_size=8),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False),
    st.none(),
)
names = st.text(min_size=1, max_size=6)


@given(
    st.dictionaries(names, st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=3),
    st.dictionaries(names, scalars, max_size=3),
    st.dictionaries(names, scalars, max_size=3),
    st.sampled_from(["hour", "day", "week", "month"]),
)
def test_bytes_round_trip(entities, context, attributes, window):
    key = EventKey(entities, context, attributes, window)
    back = EventKey.from_bytes(key.to_bytes())
    assert back == key and back.digest == key.digest


@given(st.lists(st.tuples(st.text(max_size=6), st.integers(-(2**63), 2**63 - 1), st.text(max_size=4)), min_size=1,
                max_size=20, unique=True))
def test_column_wise_digests_equal_eventkey_digests(rows):
    frame = pl.DataFrame(rows, schema={"zone": pl.String, "customer": pl.Int64, "cell": pl.String}, orient="row")
    table = key_table(frame, "week", ("zone", "customer"), ("cell",), ())
    for zone, customer, cell, digest, comps in table.iter_rows():
        key = EventKey({"zone": zone, "customer": customer}, context={"cell": cell}, window="week")
        assert digest == key.digest
        assert EventKey.from_components(comps) == key
