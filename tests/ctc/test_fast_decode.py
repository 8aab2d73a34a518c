"""The compiled, batched prefix beam search against the readable one: same labellings, scores to 1e-9."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.ctc import prefix_beam_search, prefix_beam_search_batch

SETTINGS = settings(max_examples=60, deadline=None)


def assert_same(readable, compiled):
    assert [lab for lab, _ in compiled] == [lab for lab, _ in readable]
    np.testing.assert_allclose([s for _, s in compiled], [s for _, s in readable], rtol=0, atol=1e-9)


def peaked(rng, T, C, blank=0):
    """CTC-like outputs: blank-dominated frames with a few confident labels (where pruning matters)."""
    logits = rng.normal(0, 1.5, (T, C))
    logits[:, blank] += 3
    for t in range(0, T, 3):
        logits[t, rng.integers(0, C)] += 6
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


@SETTINGS
@given(st.integers(1, 25), st.integers(2, 9), st.integers(0, 8), st.integers(1, 12), st.integers(1, 5),
       st.sampled_from([None, -1.0, -4.0]), st.integers(0, 2**32 - 1))
def test_compiled_equals_readable(T, C, blank, beam_width, top_n, token_min_logp, seed):
    blank = blank % C
    rng = np.random.default_rng(seed)
    x = np.log(rng.dirichlet(np.full(C, 0.6), size=T)) if seed % 2 else peaked(rng, T, C, blank)
    readable = prefix_beam_search(x, beam_width, blank, top_n, token_min_logp=token_min_logp)
    (compiled,) = prefix_beam_search_batch(x, None, beam_width, blank, top_n, token_min_logp=token_min_logp)
    assert_same(readable, compiled)


def test_a_ragged_batch_equals_item_by_item_in_every_layout():
    rng = np.random.default_rng(1)
    items = [peaked(rng, int(T), 12) for T in rng.integers(1, 40, size=17)]
    expected = [prefix_beam_search(x, 8, top_n=3) for x in items]
    T = max(len(x) for x in items)
    padded = np.full((len(items), T, 12), np.log(1 / 12))  # padding must never be read
    for i, x in enumerate(items):
        padded[i, : len(x)] = x
    lengths = np.array([len(x) for x in items])
    for got in (prefix_beam_search_batch(items, beam_width=8, top_n=3),
                prefix_beam_search_batch(padded, lengths, beam_width=8, top_n=3),
                prefix_beam_search_batch(padded, lengths, beam_width=8, top_n=3, threads=2)):
        assert len(got) == len(items)
        for readable, compiled in zip(expected, got):
            assert_same(readable, compiled)
    # float32 input (a network's own dtype) is read as float64, like the readable version does.
    single = [x.astype(np.float32) for x in items]
    for readable, compiled in zip((prefix_beam_search(x, 8, top_n=3) for x in single),
                                  prefix_beam_search_batch(single, beam_width=8, top_n=3)):
        assert_same(readable, compiled)


def test_merging_prefixes_is_what_makes_the_score_exact():
    # Two frames (blank, a): "a" collects a-a, a-blank and blank-a = 0.64 only if the beam merges them.
    x = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    ((labelling, score),) = prefix_beam_search_batch(x, beam_width=4)[0]
    assert labelling == (1,)
    assert np.exp(score) == pytest.approx(0.64, abs=1e-12)


def test_top_n_is_bounded_by_the_surviving_prefixes():
    x = np.log(np.array([[0.9, 0.1]]))
    assert [lab for lab, _ in prefix_beam_search_batch(x, beam_width=5, top_n=5)[0]] == [(), (1,)]


@pytest.mark.parametrize("kwargs, match", [
    ({"log_probs": np.zeros((2, 3, 4, 5))}, "N, T, C"),
    ({"log_probs": np.zeros((2, 3, 4)), "lengths": [3, 4]}, "lengths must lie"),
    ({"log_probs": np.zeros((2, 3, 4)), "lengths": [3]}, "one per item"),
    ({"log_probs": [np.zeros((3, 4)), np.zeros((3, 5))]}, "same C"),
    ({"log_probs": [np.zeros((3, 4))], "lengths": [3]}, "padded"),
    ({"log_probs": np.zeros((3, 4)), "beam_width": 0}, "beam_width"),
    ({"log_probs": np.zeros((3, 4)), "threads": 0}, "threads"),
    ({"log_probs": np.full((3, 4), np.nan)}, "NaN"),
])
def test_bad_input_names_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        prefix_beam_search_batch(**kwargs)


def test_importing_the_package_does_not_load_numba():
    code = "import sys, workbench.ctc; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("blank", [0, 2, 4])
def test_pruning_keeps_the_frame_best_label_when_nothing_passes_the_threshold(blank):
    # Frames where no label reaches token_min_logp: the readable version still extends by the frame's
    # argmax (the first of equal maxima) when it is not the blank. Frame 1 ties a label with the blank:
    # with the blank at 2 or 4 the label below it is the argmax and must be kept; with blank 0 it is not.
    C = 5
    x = np.full((3, C), np.log(0.2))
    x[0] = np.log([0.1, 0.3, 0.2, 0.2, 0.2])  # label 1 beats everything, but below e^-0.5
    x[1] = np.log(0.2)  # all equal: argmax is class 0
    x[2] = np.log([0.26, 0.26, 0.16, 0.16, 0.16])
    for beam_width in (1, 3, 6):
        for top_n in (1, 4):
            readable = prefix_beam_search(x, beam_width, blank, top_n, token_min_logp=-0.5)
            (compiled,) = prefix_beam_search_batch(x, beam_width=beam_width, blank=blank, top_n=top_n, token_min_logp=-0.5)
            assert_same(readable, compiled)


def test_a_nan_frame_is_caught_with_pruning_on_and_off():
    x = np.log(np.full((4, 3), 1 / 3))
    x[2, 1] = np.nan
    for pruning in (None, -5.0):
        with pytest.raises(ValueError, match=r"log_probs\[1\] contains NaN"):
            prefix_beam_search_batch([x[:2], x], token_min_logp=pruning)
