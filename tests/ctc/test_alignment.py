"""collapse, forward_backward, brute force, ctc_grad: the single-sequence numpy side of CTC."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.ctc import (
    brute_force_log_likelihood,
    collapse,
    ctc_grad,
    extend_with_blanks,
    forward_backward,
    log_likelihood,
    minimal_input_length,
)

SETTINGS = settings(max_examples=50, deadline=None)


def random_log_probs(rng, T, C, concentration=1.0):
    return np.log(rng.dirichlet(np.full(C, concentration), size=T))


def test_collapse_hello_example():
    # The notes' alignment "--hh-e-l-ll-oo--" with '-' as blank.
    chars = "-helo"
    path = [chars.index(c) for c in "--hh-e-l-ll-oo--"]
    assert "".join(chars[k] for k in collapse(path)) == "hello"
    # Without the blank between the l's the repeat merges into one l.
    merged = [chars.index(c) for c in "--hh-e-llll-oo--"]
    assert "".join(chars[k] for k in collapse(merged)) == "helo"


def test_collapse_other_blank_and_inputs():
    assert collapse(np.array([3, 3, 1, 3, 2, 2]), blank=3) == [1, 2]
    assert collapse(torch.tensor([0, 1, 1, 0, 1])) == [1, 1]
    assert collapse([]) == []
    with pytest.raises(TypeError, match="path"):
        collapse(["a", "b"])
    with pytest.raises(ValueError, match="blank"):
        collapse([1, 2], blank=-1)


paths = st.lists(st.integers(0, 4), max_size=30)


@SETTINGS
@given(paths, st.integers(0, 4))
def test_collapse_invariants(path, blank):
    out = collapse(path, blank)
    assert blank not in out
    assert len(out) <= len(path)
    # Idempotent on a labelling whose neighbours differ; and B(B(path)) drops merged repeats only.
    assert collapse(out, blank) == [k for i, k in enumerate(out) if i == 0 or out[i - 1] != k]
    # Inserting blanks between every pair of symbols of a labelling and repeating symbols gives it back.
    spread = [s for k in out for s in (k, k, blank)]
    assert collapse(spread, blank) == out
    # Every non-blank symbol of the output comes from the path in order (subsequence).
    it = iter(path)
    assert all(any(k == p for p in it) for k in out)


def test_extended_sequence_and_minimal_length():
    assert extend_with_blanks([1, 2], blank=0).tolist() == [0, 1, 0, 2, 0]
    assert extend_with_blanks([]).tolist() == [0]
    assert minimal_input_length([1, 1, 2, 2, 2]) == 5 + 3
    assert minimal_input_length([]) == 0


@SETTINGS
@given(
    st.integers(1, 6),  # T
    st.integers(2, 4),  # C
    st.lists(st.integers(1, 3), max_size=4),
    st.integers(0, 2**32 - 1),
)
def test_recursion_matches_brute_force(T, C, target, seed):
    target = [min(k, C - 1) for k in target]
    log_probs = random_log_probs(np.random.default_rng(seed), T, C)
    brute = brute_force_log_likelihood(log_probs, target)
    if minimal_input_length(target) > T:
        assert brute == -np.inf
        assert log_likelihood(log_probs, target) == -np.inf
        with pytest.raises(ValueError, match="frames"):
            forward_backward(log_probs, target)
        return
    log_alpha, log_beta, ll = forward_backward(log_probs, target)
    assert ll == pytest.approx(brute, rel=1e-9, abs=1e-9)
    # alpha_t . beta_t / y_t sums to p(l|y) at every frame (Graves' convention: both include y_t).
    ext = extend_with_blanks(target)
    per_t = np.logaddexp.reduce(log_alpha + log_beta - log_probs[:, ext], axis=1)
    np.testing.assert_allclose(per_t, ll, rtol=1e-9, atol=1e-9)
    assert log_likelihood(log_probs, target) == pytest.approx(ll)


def test_blank_not_zero():
    rng = np.random.default_rng(1)
    log_probs = random_log_probs(rng, 5, 4)
    _, _, ll = forward_backward(log_probs, [0, 0, 1], blank=2)
    assert ll == pytest.approx(brute_force_log_likelihood(log_probs, [0, 0, 1], blank=2))


def test_forward_backward_is_finite_for_long_inputs():
    rng = np.random.default_rng(2)
    T, C = 1000, 30
    log_probs = random_log_probs(rng, T, C, concentration=0.2)
    target = rng.integers(1, C, size=200)
    log_alpha, log_beta, ll = forward_backward(log_probs, target)
    assert np.isfinite(ll)
    # In probability space this would be exp(ll), far below the smallest double.
    assert ll < -800
    ext = extend_with_blanks(target)
    per_t = np.logaddexp.reduce(log_alpha + log_beta - log_probs[:, ext], axis=1)
    np.testing.assert_allclose(per_t, ll, rtol=1e-9)
    torch_nll = F.ctc_loss(torch.from_numpy(log_probs)[:, None], torch.from_numpy(target)[None], [T], [len(target)], reduction="sum")
    assert -ll == pytest.approx(torch_nll.item(), rel=1e-9)


@pytest.mark.parametrize("target", [[1, 2, 3], [2, 2], [], [1, 1, 1, 2]])
def test_ctc_grad_matches_torch_autograd(target):
    rng = np.random.default_rng(3)
    T, C = 8, 4
    logits = torch.tensor(rng.normal(size=(T, C)), requires_grad=True)
    log_probs = logits.log_softmax(1)
    loss = F.ctc_loss(log_probs[:, None], torch.tensor([target], dtype=torch.long).reshape(1, -1), [T], [len(target)], reduction="sum")
    loss.backward()
    analytic = ctc_grad(log_probs.detach().numpy(), target)
    np.testing.assert_allclose(analytic, logits.grad.numpy(), atol=1e-10)
    # Every frame's gradient sums to zero: softmax outputs always sum to one.
    np.testing.assert_allclose(analytic.sum(axis=1), 0.0, atol=1e-12)


def test_ctc_grad_rejects_unnormalized_rows():
    with pytest.raises(ValueError, match="log_softmax"):
        ctc_grad(np.zeros((4, 3)), [1])


@pytest.mark.parametrize(
    ("log_probs", "target", "blank", "error", "match"),
    [
        (np.zeros((4, 3, 2)), [1], 0, ValueError, r"log_probs must be a 2-D \(T, C\)"),
        (np.zeros((4, 3), dtype=int), [1], 0, TypeError, "floats"),
        (np.full((4, 3), np.nan), [1], 0, ValueError, "NaN"),
        (np.log(np.full((4, 3), 1 / 3)), [3], 0, ValueError, "label id 3"),
        (np.log(np.full((4, 3), 1 / 3)), [0, 1], 0, ValueError, "blank id 0"),
        (np.log(np.full((4, 3), 1 / 3)), [1], 3, ValueError, "blank"),
        (np.log(np.full((4, 3), 1 / 3)), [1], 1.0, TypeError, "blank"),
        (np.log(np.full((4, 3), 1 / 3)), [1, 1, 1], 0, ValueError, "at least 5 frames"),
        (np.log(np.full((4, 3), 1 / 3)), [[1]], 0, ValueError, "1-D"),
        (np.log(np.full((4, 3), 1 / 3)), [1.5], 0, TypeError, "integer"),
    ],
)
def test_bad_input_names_the_problem(log_probs, target, blank, error, match):
    with pytest.raises(error, match=match):
        forward_backward(log_probs, target, blank=blank)


def test_brute_force_refuses_large_inputs():
    with pytest.raises(ValueError, match="paths"):
        brute_force_log_likelihood(np.log(np.full((20, 5), 0.2)), [1])
