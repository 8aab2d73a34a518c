"""Check functions for the exercises of notebook 01: each runs a reader's function on small cases and says
what is wrong in words (which rule of CTC it breaks), not just that it is wrong.

Every check prints its verdict and returns True when all cases pass; under ``workbench grade`` the verdict is
also logged for the score table (the convention of :mod:`workbench.exercises`).
"""

from __future__ import annotations

import numpy as np

from workbench.ctc._alignment import _skip_allowed, collapse, extend_with_blanks
from workbench.exercises import attempt as _call
from workbench.exercises import report


def _merge_repeats(seq):
    return [int(k) for i, k in enumerate(seq) if i == 0 or seq[i - 1] != k]


def check_collapse(fn) -> bool:
    """Check an implementation ``fn(path, blank) -> list[int]`` of the map B."""
    cases = [
        ([0, 1, 1, 0, 2, 0, 2], 0),
        ([1, 1, 0, 1], 0),  # a blank between equal labels keeps both
        ([1, 1, 1, 2, 2], 0),  # repeats without blank merge
        ([0, 0, 0], 0),
        ([], 0),
        ([3, 1, 3, 1, 1, 2], 3),  # blank is not always 0
    ]
    for path, blank in cases:
        got, error = _call(fn, list(path), blank)
        want = collapse(path, blank)
        if error:
            return report("collapse", False, f"fn({path}, blank={blank}): {error}")
        got_list = list(got) if got is not None else None
        if got_list == want:
            continue
        no_blanks = [k for k in path if k != blank]
        if got_list == _merge_repeats(no_blanks):
            hint = ("you removed the blanks before merging repeats, so the blank in between no longer separates "
                    "two equal labels; merge repeats first, then drop blanks")
        elif got_list == no_blanks:
            hint = "you removed blanks but did not merge repeated labels (B merges consecutive repeats)"
        elif got_list == _merge_repeats(path):
            hint = "you merged repeats but kept the blanks; B removes them afterwards"
        elif got_list == collapse(path, 0) and blank != 0:
            hint = f"you treated 0 as the blank, but this case uses blank={blank}"
        else:
            hint = "compare with the definition: merge consecutive repeats, then remove blanks"
        return report("collapse", False, f"B({path}) with blank={blank} should be {want}, got {got_list}: {hint}")
    return report("collapse", True, f"B is right on all {len(cases)} cases, including a repeat separated by a blank")


def _alpha_step_variants(prev, log_probs_t, ext, blank):
    L = len(ext)
    shift1 = np.concatenate([[-np.inf], prev[:-1]])
    shift2 = np.concatenate([[-np.inf, -np.inf], prev[:-2]]) if L > 2 else np.full(L, -np.inf)
    skip = _skip_allowed(ext, blank)
    emit = log_probs_t[ext]
    correct = np.logaddexp(np.logaddexp(prev, shift1), np.where(skip, shift2, -np.inf)) + emit
    always_skip = np.logaddexp(np.logaddexp(prev, shift1), shift2) + emit
    never_skip = np.logaddexp(prev, shift1) + emit
    no_emission = np.logaddexp(np.logaddexp(prev, shift1), np.where(skip, shift2, -np.inf))
    with np.errstate(over="ignore", invalid="ignore"):
        prob_space = (prev + shift1 + np.where(skip, shift2, 0)) * emit
    return correct, {
        "always_skip": always_skip,
        "never_skip": never_skip,
        "no_emission": no_emission,
        "prob_space": prob_space,
    }


_ALPHA_HINTS = {
    "always_skip": ("you allow the jump from s-2 to s everywhere; it is only allowed onto a label that differs "
                    "from l'_{s-2} (never onto a blank, never between two equal labels, which must keep a blank between them)"),
    "never_skip": ("you never jump from s-2 to s; a path may skip the blank between two different labels, "
                   "otherwise a label sequence would need a blank after every character"),
    "no_emission": "the three incoming terms are right but you forgot to add log y^t_{l'_s}, the emission at frame t",
    "prob_space": "you added log-probabilities where probabilities add: in log space a sum is np.logaddexp, a product is +",
}


def check_alpha_step(fn) -> bool:
    """Check ``fn(log_alpha_prev, log_probs_t, ext, blank) -> log_alpha_t``, one step of the forward recursion.

    ``log_alpha_prev`` is alpha at t-1 over the extended sequence ``ext`` (length 2S+1), ``log_probs_t`` the
    frame's (C,) log-probabilities.
    """
    rng = np.random.default_rng(0)
    cases = [([1, 2, 3], 0), ([1, 1, 2], 0), ([2, 2, 2], 0), ([0, 1], 2)]
    for target, blank in cases:
        ext = extend_with_blanks(target, blank)
        prev = np.log(rng.dirichlet(np.ones(len(ext)))) - 3.0
        prev[-1] = -np.inf  # an unreachable state must stay unreachable
        log_probs_t = np.log(rng.dirichlet(np.ones(4)))
        correct, variants = _alpha_step_variants(prev, log_probs_t, ext, blank)
        got, error = _call(fn, prev.copy(), log_probs_t.copy(), ext.copy(), blank)
        if error:
            return report("alpha_step", False, f"on target {target} (ext {ext.tolist()}) your step failed: {error}")
        got = np.asarray(got, dtype=float)
        if got.shape != correct.shape:
            return report("alpha_step", False, f"alpha_t must have one entry per extended position ({correct.shape}), got shape {got.shape}")
        if np.allclose(got, correct):  # -inf (unreachable) compares equal to -inf here
            continue
        for name, variant in variants.items():
            if np.allclose(got, variant, equal_nan=True) and not np.allclose(variant, correct):
                return report("alpha_step", False, f"on target {target} (extended {ext.tolist()}): {_ALPHA_HINTS[name]}")
        worst = int(np.nanargmax(np.abs(np.nan_to_num(got - correct, nan=np.inf, posinf=np.inf, neginf=np.inf))))
        return report("alpha_step", False, f"on target {target} (extended {ext.tolist()}) position s={worst} should be "
                              f"{correct[worst]:.4f}, got {got[worst]:.4f}; alpha_t(s) = (alpha_(t-1)(s) + alpha_(t-1)(s-1) "
                              f"[+ alpha_(t-1)(s-2) if allowed]) * y^t_(l'_s)")
    return report("alpha_step", True, f"one alpha step is right on all {len(cases)} targets, repeated labels included")


def check_best_path(fn) -> bool:
    """Check ``fn(log_probs, blank) -> list[int]``, best path decoding of a (T, C) array."""
    p = np.array([
        [0.1, 0.7, 0.1, 0.1],
        [0.1, 0.7, 0.1, 0.1],
        [0.7, 0.1, 0.1, 0.1],
        [0.1, 0.7, 0.1, 0.1],
        [0.1, 0.1, 0.1, 0.7],
        [0.6, 0.1, 0.2, 0.1],
    ])
    cases = [(np.log(p), 0), (np.log(p), 3), (np.log(p[:, ::-1].copy()), 0)]
    for log_probs, blank in cases:
        want = collapse(np.argmax(log_probs, axis=1), blank)
        got, error = _call(fn, log_probs.copy(), blank)
        if error:
            return report("best_path", False, f"your decoder failed: {error}")
        got = [int(k) for k in got] if got is not None else None
        if got == want:
            continue
        path = np.argmax(log_probs, axis=1).tolist()
        if got == path:
            hint = "you returned the best path itself; apply B (merge repeats, remove blanks) to get the labelling"
        elif got == collapse(np.argmax(log_probs, axis=0), blank):
            hint = "you took the argmax over time (axis 0); the choice is per frame, over classes (axis 1)"
        elif got == [k for k in path if k != blank]:
            hint = "you removed blanks but did not merge repeated frames"
        elif got == _merge_repeats([k for k in path if k != blank]):
            hint = "you removed blanks before merging repeats, which merges the two 1s that a blank separates"
        else:
            hint = "take the most probable class per frame, then apply B"
        return report("best_path", False, f"with blank={blank} the best path {path} decodes to {want}, got {got}: {hint}")
    return report("best_path", True, f"best path decoding is right on all {len(cases)} cases")
