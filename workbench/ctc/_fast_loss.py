"""Compiled (numba) fused CTC forward-backward: ln p(l|y) and its gradient in one call per batch.

Imported only when ``ctc_loss(..., gradient="fused")`` (the CPU default) first runs. Per item it runs the
log-space alpha recursion, the beta recursion, and sums the occupancies gamma_t(s) = alpha_t(s) beta_t(s) /
(y_t(l'_s) p(l|y)) into the gradient d ln p / d ln y_k^t (Graves 2006, eqs. 14-16), the same quantities
``_AlphaBeta`` computes with torch ops, without the ~190 small kernels per frame. Only the states that can
still be reached from the start and can still reach the end are visited (s in [lo(t), hi(t)]).
"""

from __future__ import annotations

import math

import numba
import numpy as np

NEG_INF = -np.inf


@numba.njit(cache=True, inline="always")
def _lse2(a, b):
    m = a if a > b else b
    if m == NEG_INF:
        return NEG_INF
    return m + math.log(math.exp(a - m) + math.exp(b - m))


@numba.njit(cache=True, inline="always")
def _lse3(a, b, c):
    m = a if a > b else b
    m = m if m > c else c
    if m == NEG_INF:
        return NEG_INF
    return m + math.log(math.exp(a - m) + math.exp(b - m) + math.exp(c - m))


@numba.njit(cache=True)
def _one(lp, n, target, T, S, blank, alpha, beta, grad):
    """ln p(target | lp[:T, n]) and, into grad[:T, n], its gradient w.r.t. lp; alpha/beta are scratch."""
    if T == 0:
        return 0.0 if S == 0 else NEG_INF
    L = 2 * S + 1
    # Extended labels l' and whether the skip s-2 -> s is allowed (a label unlike the one two back).
    ext = np.empty(L, np.int64)
    for s in range(L):
        ext[s] = blank if s % 2 == 0 else target[s // 2]
    skip = np.zeros(L, np.bool_)
    for s in range(2, L):
        skip[s] = ext[s] != blank and ext[s] != ext[s - 2]
    # Repeats need a blank between them, so the shortest path has S + (number of repeats) frames.
    if S + np.sum((ext[1:L:2][1:] == ext[1:L:2][:-1])) > T:
        return NEG_INF
    for t in range(T):
        for s in range(L):
            alpha[t, s] = NEG_INF
            beta[t, s] = NEG_INF
    alpha[0, 0] = lp[0, n, blank]
    if L > 1:
        alpha[0, 1] = lp[0, n, ext[1]]
    hi = min(L, 2)
    for t in range(1, T):
        # States that can still reach the end in the frames left: s >= L - 2 (T - t) (a loose bound, safe).
        lo = max(0, L - 2 * (T - t))
        hi = min(L, hi + 2)
        row = lp[t, n]
        for s in range(lo, hi):
            a = alpha[t - 1, s]
            b = alpha[t - 1, s - 1] if s >= 1 else NEG_INF
            if skip[s]:
                v = _lse3(a, b, alpha[t - 1, s - 2])
            else:
                v = _lse2(a, b)
            alpha[t, s] = v + row[ext[s]] if v > NEG_INF else NEG_INF
    end = alpha[T - 1, L - 1]
    if L > 1:
        end = _lse2(end, alpha[T - 1, L - 2])
    if end == NEG_INF:
        return NEG_INF
    beta[T - 1, L - 1] = lp[T - 1, n, blank]
    if L > 1:
        beta[T - 1, L - 2] = lp[T - 1, n, ext[L - 2]]
    lo = max(0, L - 2)
    for t in range(T - 2, -1, -1):
        lo = max(0, lo - 2)
        hi = min(L, 2 * (t + 1))  # states reachable from the start by frame t
        row = lp[t, n]
        for s in range(lo, hi):
            a = beta[t + 1, s]
            b = beta[t + 1, s + 1] if s + 1 < L else NEG_INF
            if s + 2 < L and skip[s + 2]:
                v = _lse3(a, b, beta[t + 1, s + 2])
            else:
                v = _lse2(a, b)
            beta[t, s] = v + row[ext[s]] if v > NEG_INF else NEG_INF
    for t in range(T):
        row = lp[t, n]
        g = grad[t, n]
        for s in range(L):
            ab = alpha[t, s] + beta[t, s]
            if ab > NEG_INF:
                g[ext[s]] += math.exp(ab - row[ext[s]] - end)
    return end


@numba.njit(cache=True)
def fused(lp, targets, input_lengths, target_lengths, blank):
    """(log-likelihood per item (N,), gradient of each item's log-likelihood w.r.t. lp (T, N, C))."""
    T, N, C = lp.shape
    S_max = targets.shape[1]
    out = np.empty(N, np.float64)
    grad = np.zeros((T, N, C), lp.dtype)
    alpha = np.empty((T, 2 * S_max + 1), np.float64)
    beta = np.empty((T, 2 * S_max + 1), np.float64)
    for n in range(N):
        out[n] = _one(lp, n, targets[n], input_lengths[n], target_lengths[n], blank, alpha, beta, grad)
    return out, grad


@numba.njit(cache=True, parallel=True)
def fused_parallel(lp, targets, input_lengths, target_lengths, blank):
    """As :func:`fused`, items spread over numba's threads; each item has its own scratch."""
    T, N, C = lp.shape
    S_max = targets.shape[1]
    out = np.empty(N, np.float64)
    grad = np.zeros((T, N, C), lp.dtype)
    for n in numba.prange(N):
        alpha = np.empty((T, 2 * S_max + 1), np.float64)
        beta = np.empty((T, 2 * S_max + 1), np.float64)
        out[n] = _one(lp, n, targets[n], input_lengths[n], target_lengths[n], blank, alpha, beta, grad)
    return out, grad
