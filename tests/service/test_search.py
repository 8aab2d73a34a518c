"""FHIR search-parameter parsing (no database): date precision and prefixes, tokens, counts, cursors."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.clinical.service import _search as search

TAIPEI = search.TAIPEI
PRECISIONS = {  # strftime format -> the interval length it denotes
    "%Y-%m-%d": dt.timedelta(days=1),
    "%Y-%m-%dT%H:%M": dt.timedelta(minutes=1),
    "%Y-%m-%dT%H:%M:%S": dt.timedelta(seconds=1),
}
instants = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2999, 12, 30))


@given(instants, st.sampled_from(sorted(PRECISIONS)))
def test_a_date_value_denotes_the_interval_of_its_precision(when, fmt):
    text = when.strftime(fmt)
    bound = search.parse_date("date", text)
    local = when.replace(tzinfo=TAIPEI)
    assert bound.prefix == "eq"
    assert bound.start <= local < bound.end
    assert bound.end - bound.start == PRECISIONS[fmt]


@given(instants)
def test_year_and_month_precision_cover_the_calendar_period(when):
    year = search.parse_date("date", f"{when.year:04d}")
    month = search.parse_date("date", f"{when.year:04d}-{when.month:02d}")
    local = when.replace(tzinfo=TAIPEI)
    assert year.start <= month.start <= local < month.end <= year.end
    assert (year.start.month, year.start.day, month.start.day) == (1, 1, 1)
    assert month.end.day == 1 and month.end > month.start


@given(instants, st.sampled_from(["Z", "+00:00", "-05:30", "+08:00"]))
def test_an_explicit_offset_is_honoured(when, offset):
    bound = search.parse_date("date", when.strftime("%Y-%m-%dT%H:%M:%S") + offset)
    assert bound.start.utcoffset() == (dt.timedelta(0) if offset == "Z" else dt.datetime.fromisoformat(
        "2000-01-01T00:00:00" + offset).utcoffset())  # fmt: skip


@pytest.mark.parametrize("prefix", search.PREFIXES)
def test_every_supported_prefix_parses(prefix):
    assert search.parse_date("date", f"{prefix}2026-09-01").prefix == prefix


@pytest.mark.parametrize("raw", ["sa2026", "2026-02-30", "2026-9-1", "2026-09-01T25:00", "2026-09-01T10:00+15:00",
                                 "", "ge", "2026-09-01 10:00", "2026-09-01T10:00:00.1234567", "٢٠٢٦"])  # fmt: skip
def test_bad_dates_are_refused_with_the_parameter_named(raw):
    with pytest.raises(search.SearchError) as info:
        search.parse_date("date", raw)
    assert info.value.parameter == "date"


def test_birthdate_takes_no_time():
    with pytest.raises(search.SearchError, match="without a time"):
        search.parse_date("birthdate", "1960-01-01T10:00", allow_time=False)


def test_tokens_references_and_counts():
    assert search.parse_token_codes("code", "85354-9,http://loinc.org|8867-4,urn:other|x") == ["85354-9", "8867-4"]
    assert search.parse_reference("subject", "Patient/abc-1", "Patient") == "abc-1"
    with pytest.raises(search.SearchError):
        search.parse_reference("subject", "Group/abc", "Patient")
    assert search.parse_count(None, 20, 100) == 20 and search.parse_count("0", 20, 100) == 0
    for raw in ("101", "-1", "1.5", "", "٣"):
        with pytest.raises(search.SearchError):
            search.parse_count(raw, 20, 100)


KEY = b"k" * 32


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=40))
def test_cursor_round_trip_and_kind_check(effective, ident):
    token = search.encode_cursor(KEY, "Observation+", effective, ident)
    assert search.decode_cursor(KEY, token, "Observation+", 2) == [effective, ident]
    with pytest.raises(search.SearchError):
        search.decode_cursor(KEY, token, "Observation-", 2)
    with pytest.raises(search.SearchError):  # another server's key: refused, never parsed
        search.decode_cursor(b"x" * 32, token, "Observation+", 2)


@given(st.text(max_size=80))
def test_a_forged_cursor_is_refused_before_it_is_parsed(forged):
    """Issue 22 item 3: deep JSON, a NUL or a lone surrogate in ``_cursor`` gave 500; now any cursor
    without our HMAC tag is a SearchError (400), whatever it holds."""
    import base64

    for raw in (forged, base64.urlsafe_b64encode(forged.encode("utf-8", "surrogatepass")).decode(),
                base64.urlsafe_b64encode(b"[" * 2000).decode() + ".AAAA"):
        with pytest.raises(search.SearchError):
            search.decode_cursor(KEY, raw, "Observation+", 2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=24)), max_size=5))
def test_link_query_encoding_is_urlencode(pairs):
    """The Bundle links' fast encoder skips quote_plus only where it would change nothing."""
    from urllib.parse import urlencode

    from workbench.clinical.service.searchset import _urlencode

    assert _urlencode(pairs) == urlencode(pairs)
