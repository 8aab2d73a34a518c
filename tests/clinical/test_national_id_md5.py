import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.clinical import is_valid_national_id, md5_hex_of, recover_id_from_md5, valid_id_space_size
from workbench.clinical._md5 import hex_to_words, md5_hex, md5_words
from workbench.clinical._national_id import candidate_ids, check_digit, synthetic_national_ids


def test_checksum_of_the_textbook_example_and_its_neighbours():
    # A123456789 is the example printed on Taiwan's own documentation of the checksum.
    assert is_valid_national_id("A123456789")
    assert not is_valid_national_id("A123456788")
    assert check_digit("A12345678") == "9"
    # Letters with late-assigned codes: I=34, O=35 (1*3 + 9*4 = 39; 1*3 + 9*5 = 48).
    assert check_digit("I10000000") == str((10 - (39 + 8) % 10) % 10)
    assert check_digit("O20000000") == str((10 - (48 + 16) % 10) % 10)


@pytest.mark.parametrize("bad", ["a123456789", "A323456789", "A12345678", "A1234567890", 123, None, "AB23456789"])
def test_malformed_ids_are_invalid(bad):
    assert not is_valid_national_id(bad)


def test_check_digit_rejects_bad_prefix_naming_the_argument():
    with pytest.raises(ValueError, match="check_digit\\(prefix\\)"):
        check_digit("A1234")


def test_id_space_size():
    assert valid_id_space_size() == 26 * 2 * 10**7 == 520_000_000
    assert valid_id_space_size(letters=1, sex_digits=1) == 10**7


def test_candidate_ids_are_exactly_the_valid_ids_of_a_range():
    block = candidate_ids("Q", "2", 1_234_500, 1_234_600)
    ids = [bytes(r).decode() for r in block]
    assert len(ids) == 100
    assert all(is_valid_national_id(i) for i in ids)
    assert ids[0] == "Q21234500" + check_digit("Q21234500")
    assert len(set(ids)) == 100


def test_synthetic_ids_are_valid_distinct_and_follow_sex():
    rng = np.random.default_rng(1)
    sexes = ["M", "F"] * 50
    ids = synthetic_national_ids(100, sexes, rng)
    assert len(set(ids)) == 100
    assert all(is_valid_national_id(i) for i in ids)
    assert [i[1] for i in ids] == ["1", "2"] * 50


@st.composite
def same_length_messages(draw):
    length = draw(st.integers(0, 55))
    return draw(st.lists(st.binary(min_size=length, max_size=length), min_size=1, max_size=5)), length


@settings(max_examples=50, deadline=None)
@given(same_length_messages())
def test_numpy_md5_matches_hashlib(case):
    messages, length = case
    block = np.frombuffer(b"".join(messages), dtype=np.uint8).reshape(len(messages), length)
    assert md5_hex(block) == [hashlib.md5(m).hexdigest() for m in messages]


def test_md5_input_errors():
    with pytest.raises(TypeError, match="uint8"):
        md5_words(np.zeros((2, 3), dtype=np.int32))
    with pytest.raises(ValueError, match="55 bytes"):
        md5_words(np.zeros((2, 56), dtype=np.uint8))
    with pytest.raises(ValueError, match="32 hex"):
        hex_to_words("abc")


def test_recover_id_from_md5_finds_a_low_serial_quickly():
    target = "K20000123" + check_digit("K20000123")
    found = recover_id_from_md5(md5_hex_of(target), letters="K", sex_digits="2", chunk=50)
    assert found.national_id == target
    assert found.candidates_tried == 124


def test_recover_reports_none_when_outside_the_enumerated_space(monkeypatch):
    # Shrink the serial space so the exhaustive miss stays fast.
    import workbench.clinical.md5_attack as attack

    monkeypatch.setattr(attack, "SERIAL_DIGITS", 3)
    monkeypatch.setattr(attack, "candidate_ids", lambda l, s, a, b: candidate_ids(l, s, a, b))
    found = recover_id_from_md5(md5_hex_of("not an id"), letters="AB", sex_digits="1", chunk=300)
    assert found.national_id is None
    assert found.candidates_tried == 2 * 1000
