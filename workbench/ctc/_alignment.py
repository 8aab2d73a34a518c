"""The many-to-one map B and the forward-backward recursion over the extended label sequence.

Everything here works on one sequence with numpy arrays in log space: these are the functions the
derivation notebook builds step by step. The batched, differentiable loss lives in ``_loss.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

# Brute force enumerates C**T paths; beyond this it would run for minutes, so refuse early.
_BRUTE_FORCE_MAX_PATHS = 2_000_000


def _check_blank(blank, num_classes: int | None = None, name: str = "blank") -> int:
    if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)):
        raise TypeError(f"{name} must be an int class index, got {type(blank).__name__}; pass e.g. blank=0")
    blank = int(blank)
    if blank < 0 or (num_classes is not None and blank >= num_classes):
        bound = f"0 <= {name} < C = {num_classes}" if num_classes is not None else f"{name} >= 0"
        raise ValueError(f"{name} must satisfy {bound}, got {blank}; pass the index of the blank class")
    return blank


def _check_log_probs(log_probs, name: str = "log_probs") -> np.ndarray:
    """Return ``log_probs`` as a float64 (T, C) array or raise naming what is wrong."""
    if hasattr(log_probs, "detach"):  # a torch tensor: accept it, the lesson mixes both worlds
        log_probs = log_probs.detach().cpu().numpy()
    arr = np.asarray(log_probs)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (T, C) array of per-frame log-probabilities, got shape {arr.shape}; "
            f"for a batch from the network pick one sequence, e.g. log_probs[:, n, :]"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name} must hold floats (log-probabilities), got dtype {arr.dtype}")
    if arr.shape[0] < 1 or arr.shape[1] < 2:
        raise ValueError(f"{name} must have T >= 1 frames and C >= 2 classes (blank plus labels), got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; check the network output before the log-softmax")
    return arr.astype(np.float64, copy=False)


def _check_target(target, num_classes: int, blank: int, name: str = "target") -> np.ndarray:
    """Return ``target`` as a 1-D int64 array of label ids, none equal to blank, all < C."""
    if hasattr(target, "detach"):
        target = target.detach().cpu().numpy()
    arr = np.asarray(target)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of label ids, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer label ids, got dtype {arr.dtype}; encode characters first")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= num_classes)
    if bad.any():
        raise ValueError(
            f"{name} holds label id {int(arr[bad][0])} but log_probs has C = {num_classes} classes; "
            f"every label id must satisfy 0 <= id < {num_classes}"
        )
    if (arr == blank).any():
        raise ValueError(
            f"{name} contains the blank id {blank}; a target is a labelling without blanks "
            f"(apply collapse() to a path first)"
        )
    return arr


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """The CTC many-to-one map B: merge consecutive repeats, then remove blanks.

    ``collapse([0, 1, 1, 0, 2, 0, 2]) == [1, 2, 2]`` with blank 0. The order matters: a blank
    between two equal labels keeps both, which is why repeated characters need a blank between them.
    """
    blank = _check_blank(blank)
    if hasattr(path, "detach"):
        path = path.detach().cpu().numpy()
    if isinstance(path, np.ndarray):
        if path.ndim > 1:
            raise ValueError(f"path must be 1-D, got shape {path.shape}")
        path = path.tolist()
    out: list[int] = []
    previous = None
    for symbol in path:
        if isinstance(symbol, bool) or not isinstance(symbol, (int, np.integer)):
            raise TypeError(f"path must hold int class ids, got {symbol!r}; encode characters first")
        symbol = int(symbol)
        if symbol != previous and symbol != blank:
            out.append(symbol)
        previous = symbol
    return out


def extend_with_blanks(target: Sequence[int], blank: int = 0) -> np.ndarray:
    """The extended label sequence l' = (blank, l1, blank, l2, ..., lS, blank) of length 2S + 1."""
    target = np.asarray(target, dtype=np.int64).reshape(-1)
    ext = np.full(2 * len(target) + 1, blank, dtype=np.int64)
    ext[1::2] = target
    return ext


def minimal_input_length(target: Sequence[int]) -> int:
    """The fewest frames T that can emit ``target``: S labels plus one blank per repeated pair."""
    target = list(np.asarray(target, dtype=np.int64).reshape(-1))
    repeats = sum(1 for a, b in zip(target, target[1:]) if a == b)
    return len(target) + repeats


def _skip_allowed(ext: np.ndarray, blank: int) -> np.ndarray:
    """skip[s]: may a path jump from s-2 to s? Only onto a label that differs from the one two back."""
    skip = np.zeros(len(ext), dtype=bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    return skip


def _log_alpha(log_probs: np.ndarray, ext: np.ndarray, skip: np.ndarray) -> np.ndarray:
    T, L = log_probs.shape[0], len(ext)
    emit = log_probs[:, ext]  # (T, L): y^t_{l'_s}
    log_alpha = np.full((T, L), -np.inf)
    log_alpha[0, 0] = emit[0, 0]
    if L > 1:
        log_alpha[0, 1] = emit[0, 1]
    skip_rest = skip[2:]
    for t in range(1, T):
        prev = log_alpha[t - 1]
        cur = prev.copy()
        cur[1:] = np.logaddexp(cur[1:], prev[:-1])
        if L > 2:
            cur[2:] = np.where(skip_rest, np.logaddexp(cur[2:], prev[:-2]), cur[2:])
        log_alpha[t] = cur + emit[t]
    return log_alpha


def _log_beta(log_probs: np.ndarray, ext: np.ndarray, skip: np.ndarray) -> np.ndarray:
    T, L = log_probs.shape[0], len(ext)
    emit = log_probs[:, ext]
    log_beta = np.full((T, L), -np.inf)
    log_beta[T - 1, L - 1] = emit[T - 1, L - 1]
    if L > 1:
        log_beta[T - 1, L - 2] = emit[T - 1, L - 2]
    skip_rest = skip[2:]
    for t in range(T - 2, -1, -1):
        nxt = log_beta[t + 1]
        cur = nxt.copy()
        cur[:-1] = np.logaddexp(cur[:-1], nxt[1:])
        if L > 2:
            cur[:-2] = np.where(skip_rest, np.logaddexp(cur[:-2], nxt[2:]), cur[:-2])
        log_beta[t] = cur + emit[t]
    return log_beta


def _final_log_likelihood(log_alpha: np.ndarray) -> float:
    last = log_alpha[-1]
    if len(last) == 1:
        return float(last[0])
    return float(np.logaddexp(last[-1], last[-2]))


def _prepare(log_probs, target, blank):
    log_probs = _check_log_probs(log_probs)
    blank = _check_blank(blank, log_probs.shape[1])
    target = _check_target(target, log_probs.shape[1], blank)
    needed = minimal_input_length(target)
    if needed > log_probs.shape[0]:
        raise ValueError(
            f"target of length {len(target)} needs at least {needed} frames (one per label plus a blank "
            f"between each repeated pair) but log_probs has T = {log_probs.shape[0]}; use a wider input "
            f"or a shorter target"
        )
    return log_probs, target, blank


def forward_backward(log_probs, target, blank: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Log-space forward and backward variables of CTC for one sequence (Graves et al. 2006, sec. 4.1).

    Parameters
    ----------
    log_probs : (T, C) array of per-frame log-softmax outputs.
    target : the labelling l (label ids without blanks), length S.
    blank : index of the blank class.

    Returns
    -------
    log_alpha, log_beta : (T, 2S+1) arrays over the extended sequence l'. Both include the emission at
        their own frame (Graves' convention), so for every t
        ``logsumexp(log_alpha[t] + log_beta[t] - log_probs[t, l'])`` equals the log-likelihood.
    log_likelihood : ln p(l | y).

    Raises ``ValueError`` when the target needs more frames than T (see :func:`minimal_input_length`).
    """
    log_probs, target, blank = _prepare(log_probs, target, blank)
    ext = extend_with_blanks(target, blank)
    skip = _skip_allowed(ext, blank)
    log_alpha = _log_alpha(log_probs, ext, skip)
    log_beta = _log_beta(log_probs, ext, skip)
    return log_alpha, log_beta, _final_log_likelihood(log_alpha)


def log_likelihood(log_probs, target, blank: int = 0) -> float:
    """ln p(l | y) by the forward recursion alone; ``-inf`` when the target cannot fit in T frames."""
    log_probs = _check_log_probs(log_probs)
    blank = _check_blank(blank, log_probs.shape[1])
    target = _check_target(target, log_probs.shape[1], blank)
    if minimal_input_length(target) > log_probs.shape[0]:
        return -math.inf
    ext = extend_with_blanks(target, blank)
    return _final_log_likelihood(_log_alpha(log_probs, ext, _skip_allowed(ext, blank)))


def brute_force_log_likelihood(log_probs, target, blank: int = 0) -> float:
    """ln p(l | y) by Eq. 1 of the CRNN paper: sum over every path pi with B(pi) = l of prod_t y^t_{pi_t}.

    Enumerates all C**T paths, so it is only for tiny T and C (at most 2,000,000 paths); it exists to
    check the recursion. Returns ``-inf`` when no path collapses to ``target``.
    """
    log_probs = _check_log_probs(log_probs)
    T, C = log_probs.shape
    blank = _check_blank(blank, C)
    target = _check_target(target, C, blank).tolist()
    if C**T > _BRUTE_FORCE_MAX_PATHS:
        raise ValueError(
            f"brute force would enumerate C**T = {C}**{T} paths (limit {_BRUTE_FORCE_MAX_PATHS}); "
            f"use tiny inputs here and forward_backward() for real ones"
        )
    path_log_probs = []
    for path in itertools.product(range(C), repeat=T):
        if collapse(path, blank) == target:
            path_log_probs.append(sum(log_probs[t, k] for t, k in enumerate(path)))
    if not path_log_probs:
        return -math.inf
    values = np.array(path_log_probs)
    top = values.max()
    if not np.isfinite(top):
        return -math.inf
    return float(top + np.log(np.exp(values - top).sum()))


def ctc_grad(log_probs, target, blank: int = 0) -> np.ndarray:
    """Analytic gradient of the loss -ln p(l|y) with respect to the unnormalized activations u.

    Assumes ``log_probs = log_softmax(u)`` per frame. Graves et al. 2006, eq. 16:
    dO/du^t_k = y^t_k - 1/(y^t_k Z_t) * sum_{s : l'_s = k} alpha_t(s) beta_t(s), with
    Z_t = sum_s alpha_t(s) beta_t(s) / y^t_{l'_s} (= p(l|y) for every t). Computed in log space.
    Returns a (T, C) array.
    """
    log_probs, target, blank = _prepare(log_probs, target, blank)
    row_mass = np.exp(log_probs).sum(axis=1)
    if not np.allclose(row_mass, 1.0, atol=1e-4):
        raise ValueError(
            "log_probs rows must be normalized log-probabilities (each frame's exp sums to 1, found "
            f"sums from {row_mass.min():.4g} to {row_mass.max():.4g}); apply log_softmax over classes first"
        )
    ext = extend_with_blanks(target, blank)
    skip = _skip_allowed(ext, blank)
    log_alpha = _log_alpha(log_probs, ext, skip)
    log_beta = _log_beta(log_probs, ext, skip)
    log_ab = log_alpha + log_beta  # alpha_t(s) beta_t(s), emission at t counted twice
    log_z = _logsumexp_rows(log_ab - log_probs[:, ext])  # (T,), ln p(l|y) at every t
    grad = np.exp(log_probs)
    for k in np.unique(ext):
        log_sum_k = _logsumexp_rows(log_ab[:, ext == k])
        grad[:, k] -= np.exp(log_sum_k - log_probs[:, k] - log_z)
    return grad


def _logsumexp_rows(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=1)
    safe_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe_top + np.log(np.exp(x - safe_top[:, None]).sum(axis=1))
