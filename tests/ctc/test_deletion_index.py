"""DeletionIndex: the same answers as a linear scan and as the BK-tree, at every distance."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from workbench.ctc import BKTree, DeletionIndex, deletion_variants, lexicon_decode

words_st = st.lists(st.text(alphabet="abcd", min_size=0, max_size=7), min_size=1, max_size=40)


def scan(words, query, k):
    return sorted({(Levenshtein.distance(query, w), w) for w in words if Levenshtein.distance(query, w) <= k})


@settings(max_examples=80, deadline=None)
@given(words_st, st.text(alphabet="abcde", max_size=8), st.integers(0, 2), st.integers(0, 3))
def test_search_equals_a_linear_scan(words, query, bound, k):
    index = DeletionIndex(words, max_distance=bound)
    # k above the build-time bound is answered by a scan inside; at or below it by the table.
    assert index.search(query, k) == scan(words, query, k)


def test_same_answers_as_the_bk_tree_on_a_word_list():
    rng = np.random.default_rng(3)
    words = sorted({"".join(rng.choice(list("etaoinshr"), size=int(n))) for n in rng.integers(1, 9, 2000)})
    index, tree = DeletionIndex(words, 2), BKTree(words)
    for q in ["".join(rng.choice(list("etaoinshrd"), size=int(n))) for n in rng.integers(0, 10, 200)]:
        for k in (0, 1, 2):
            assert index.search(q, k) == tree.search(q, k)


@pytest.mark.parametrize("word, k", [("abcde", 2), ("aab", 2), ("", 1), ("xy", 3)])
def test_deletion_variants_are_every_subsequence_of_the_right_length(word, k):
    expected = {"".join(c for i, c in enumerate(word) if i not in drop)
                for j in range(min(k, len(word)) + 1) for drop in itertools.combinations(range(len(word)), j)}
    assert deletion_variants(word, k) == expected


def test_a_substitution_is_found_through_one_deletion_on_each_side():
    # "cat" -> "cut": neither is a deletion variant of the other; both shorten to "ct".
    index = DeletionIndex(["cut", "dog"], max_distance=1)
    assert index.search("cat", 1) == [(1, "cut")]
    assert DeletionIndex(["cut"], max_distance=0).search("cat", 1) == [(1, "cut")]  # via the scan


def test_duplicates_collapse_and_iteration_gives_each_word_once():
    index = DeletionIndex(["ab", "ab", "ba"], max_distance=1)
    assert len(index) == 2 and sorted(index) == ["ab", "ba"]
    assert index.search("ab", 0) == [(0, "ab")]


def test_lexicon_decode_accepts_the_index_and_agrees_with_the_tree():
    charset = "abc"
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (6, 4))
    for t, k in enumerate([1, 0, 2, 0, 2, 0]):  # best path reads "abb"
        logits[t, k] += 6
    log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    words = ["a", "ab", "abc", "cab", "bca", "cccc"]
    result = lexicon_decode(log_probs, DeletionIndex(words), charset)
    assert not result.fell_back and result.candidates == 4  # a, ab, abc, cab
    assert result == lexicon_decode(log_probs, BKTree(words), charset)


@pytest.mark.parametrize("call, error", [
    (lambda: DeletionIndex("word"), TypeError),
    (lambda: DeletionIndex(["a", 3]), TypeError),
    (lambda: DeletionIndex(["a"], max_distance=-1), ValueError),
    (lambda: DeletionIndex(["a"]).search("a", -1), ValueError),
    (lambda: DeletionIndex(["a"]).search(5, 1), TypeError),
])
def test_bad_input_is_refused(call, error):
    with pytest.raises(error):
        call()


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=9), st.integers(0, 3))
def test_compiled_variants_are_the_hashes_of_deletion_variants(word, k):
    # The table holds each word's <= k deletion variants as hashes only; they must be exactly the hashes of
    # the lesson's deletion_variants strings (any unicode, NUL included), each (variant, word) pair once.
    from workbench.ctc import _fast_lexicon

    codes, offsets = _fast_lexicon.encode([word])
    keys, ids, _, _ = _fast_lexicon.build_table(codes, offsets, k)
    expected = {_fast_lexicon.variant_hash(v) for v in deletion_variants(word, k)}
    assert sorted(keys.tolist()) == sorted(expected) and set(ids.tolist()) == {0}


def test_the_hash_is_the_same_in_every_process():
    # Python's hash(str) is salted per process; the index's must not be (it is a fixed function).
    import subprocess
    import sys

    code = "from workbench.ctc._fast_lexicon import variant_hash; print(variant_hash('lexicon'))"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(runs) == 1
