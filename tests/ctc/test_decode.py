"""Decoders: best path, prefix beam search vs exhaustive search, BK-tree vs linear scan, lexicon decoding."""

import itertools
import random
import string
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from workbench.ctc import (
    BKTree,
    LexiconFallbackWarning,
    batch_log_likelihood,
    best_path_decode,
    levenshtein,
    lexicon_decode,
    log_likelihood,
    prefix_beam_search,
)

SETTINGS = settings(max_examples=50, deadline=None)


def all_labellings(T, C, blank):
    labels = [k for k in range(C) if k != blank]
    for length in range(T + 1):
        yield from itertools.product(labels, repeat=length)


@SETTINGS
@given(st.integers(1, 4), st.integers(2, 4), st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_wide_prefix_beam_search_is_exhaustive_search(T, C, blank, seed):
    blank = blank % C
    rng = np.random.default_rng(seed)
    log_probs = np.log(rng.dirichlet(np.full(C, 0.7), size=T))
    exact = {lab: log_likelihood(log_probs, list(lab), blank) for lab in all_labellings(T, C, blank)}
    best_labelling = max(exact, key=exact.get)
    results = prefix_beam_search(log_probs, beam_width=10_000, blank=blank, top_n=3)
    top, top_log_prob = results[0]
    assert top_log_prob == pytest.approx(exact[best_labelling], rel=1e-9, abs=1e-12)
    assert exact[tuple(top)] == pytest.approx(exact[best_labelling], rel=1e-9, abs=1e-12)
    # Every returned score is the exact probability of its labelling, best first.
    for labelling, score in results:
        assert score == pytest.approx(exact[tuple(labelling)], rel=1e-9, abs=1e-12)
    assert [s for _, s in results] == sorted((s for _, s in results), reverse=True)
    # The probabilities of all labellings add up to one (every path has exactly one labelling).
    assert np.logaddexp.reduce(list(exact.values())) == pytest.approx(0.0, abs=1e-9)


def constructed_best_path_trap():
    # Two frames, classes (blank, a). Best path picks blank twice -> "", p = 0.36; but "a" collects
    # a-a, a-blank, blank-a = 0.16 + 0.24 + 0.24 = 0.64.
    return np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))


def test_best_path_can_miss_the_most_probable_labelling():
    log_probs = constructed_best_path_trap()
    assert best_path_decode(log_probs) == []
    (labelling, score), = prefix_beam_search(log_probs, beam_width=4)
    assert labelling == (1,)
    assert np.exp(score) == pytest.approx(0.64)


def test_best_path_decode_collapses_argmax():
    log_probs = np.log(np.array([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]))
    assert best_path_decode(log_probs) == [1, 1, 2]
    assert best_path_decode(log_probs, blank=2) == [1, 0, 1]


def test_token_pruning_keeps_peaked_results():
    rng = np.random.default_rng(0)
    T, C = 60, 12
    logits = rng.normal(0, 1, (T, C))
    logits[:, 0] += 6
    for t in range(3, T, 5):
        logits[t, rng.integers(1, C)] += 12
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    exact = prefix_beam_search(log_probs, beam_width=16, top_n=2)
    pruned = prefix_beam_search(log_probs, beam_width=16, top_n=2, token_min_logp=-5.0)
    assert pruned[0][0] == exact[0][0]
    # Pruning only drops paths, so the kept probability can only shrink, and here by little.
    assert exact[0][1] - 1e-2 < pruned[0][1] <= exact[0][1] + 1e-12
    assert len(pruned) == 2


def test_beam_search_bad_input():
    lp = constructed_best_path_trap()
    for kwargs, match in [
        ({"beam_width": 0}, "beam_width"),
        ({"top_n": 0}, "top_n"),
        ({"blank": 2}, "blank"),
        ({"token_min_logp": float("nan")}, "token_min_logp"),
    ]:
        with pytest.raises(ValueError, match=match):
            prefix_beam_search(lp, **kwargs)
    with pytest.raises(ValueError, match="2-D"):
        best_path_decode(np.zeros(3))


words_strategy = st.lists(st.text(alphabet="abcd", min_size=0, max_size=6), min_size=1, max_size=60)


@SETTINGS
@given(words_strategy, st.text(alphabet="abcde", max_size=7), st.integers(0, 3))
def test_bk_tree_search_equals_linear_scan(words, query, k):
    tree = BKTree(words)
    assert len(tree) == len(set(words))
    assert sorted(tree) == sorted(set(words))
    expected = sorted((Levenshtein.distance(query, w), w) for w in set(words) if Levenshtein.distance(query, w) <= k)
    found, visited = tree.search_counted(query, k)
    assert found == expected
    assert tree.search(query, k) == expected
    assert 1 <= visited <= len(tree)


@SETTINGS
@given(st.text(alphabet="abc", max_size=8), st.text(alphabet="abc", max_size=8))
def test_hand_written_levenshtein_equals_rapidfuzz(a, b):
    assert levenshtein(a, b) == Levenshtein.distance(a, b)


def test_bk_tree_visits_a_fraction_of_a_large_lexicon():
    rng = random.Random(0)
    words = {"".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(5000)}
    tree = BKTree(words)
    found, visited = tree.search_counted("hello", 1)
    assert visited < len(tree) / 2
    assert found == sorted((Levenshtein.distance("hello", w), w) for w in words if Levenshtein.distance("hello", w) <= 1)


def test_bk_tree_bad_input():
    with pytest.raises(TypeError, match="single str"):
        BKTree("hello")
    with pytest.raises(TypeError, match="str"):
        BKTree(["ok", 3])
    with pytest.raises(ValueError, match="max_distance"):
        BKTree(["a"]).search("a", -1)


def emit(word, charset, T, rng, confusion=None):
    """Peaked (T, C) log-probs spelling ``word`` (class 0 is blank), optionally with a misread frame."""
    C = len(charset) + 1
    logits = rng.normal(0, 0.5, (T, C))
    logits[:, 0] += 4
    positions = np.linspace(1, T - 2, len(word)).round().astype(int)
    for i, (t, ch) in enumerate(zip(positions, word)):
        k = charset.index(ch) + 1
        if confusion is not None and i == confusion[0]:
            # The network is unsure here: the wrong character wins the frame by a little.
            logits[t, k] += 7
            logits[t, charset.index(confusion[1]) + 1] += 7.5
        else:
            logits[t, k] += 9
    return logits - np.log(np.exp(logits).sum(1, keepdims=True))


def test_lexicon_decode_corrects_a_misread_character():
    charset = string.ascii_lowercase
    rng = np.random.default_rng(1)
    log_probs = emit("street", charset, 30, rng, confusion=(2, "o"))
    lexicon = ["street", "stoat", "strict", "straw", "sweet", "stream"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = lexicon_decode(log_probs, BKTree(lexicon), charset, max_distance=2)
    assert result.lexicon_free == "stoeet"
    assert result.word == "street"
    assert not result.fell_back
    # It scored only the near candidates, and the winner's score is its forward-algorithm likelihood.
    near = [w for w in lexicon if Levenshtein.distance("stoeet", w) <= 2]
    assert result.candidates == len(near)
    ids = [charset.index(c) + 1 for c in "street"]
    assert result.log_likelihood == pytest.approx(log_likelihood(log_probs, ids))
    # A charset with the blank's entry in place gives the same answer.
    same = lexicon_decode(log_probs, lexicon, "-" + charset, max_distance=2)
    assert same.word == "street"


def test_lexicon_decode_falls_back_and_says_so():
    charset = string.ascii_lowercase
    log_probs = emit("zzzzqq", charset, 30, np.random.default_rng(2))
    lexicon = ["apple", "zebra", "quiz"]
    with pytest.warns(LexiconFallbackWarning, match="scoring all 3 words"):
        result = lexicon_decode(log_probs, lexicon, charset, max_distance=1)
    assert result.fell_back and result.candidates == 3
    scores = {w: log_likelihood(log_probs, [charset.index(c) + 1 for c in w]) for w in lexicon}
    assert result.word == max(scores, key=scores.get)


def test_lexicon_decode_bad_input():
    lp = np.log(np.full((5, 4), 0.25))
    with pytest.raises(ValueError, match="charset must have C = 4"):
        lexicon_decode(lp, ["ab"], "abcdef")
    with pytest.raises(ValueError, match="empty"):
        lexicon_decode(lp, [], "abc")
    with pytest.raises(ValueError, match="max_distance"):
        lexicon_decode(lp, ["ab"], "abc", max_distance=-2)


def test_batch_log_likelihood_matches_single():
    rng = np.random.default_rng(4)
    log_probs = np.log(rng.dirichlet(np.ones(5), size=9))
    targets = [[1, 2], [], [3, 3, 3], [4, 4, 4, 4, 4, 4], [1, 2, 3, 4, 1]]
    batch = batch_log_likelihood(log_probs, targets, chunk=2)
    single = [log_likelihood(log_probs, t) for t in targets]
    np.testing.assert_allclose(batch, single, rtol=1e-12)
    assert batch[3] == -np.inf
