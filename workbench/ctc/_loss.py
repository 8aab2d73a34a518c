"""A batched CTC loss in torch, written out as the log-space alpha recursion and left to autograd.

The extended label sequence of every item is padded to the longest one; masks stop a padded position
from ever being reached, and an item's alpha is frozen once its own input length is used up. The
gradient comes from autograd through the recursion, which is what makes it a readable drop-in for
``torch.nn.functional.ctc_loss`` rather than a fast one. On CPU the default is the compiled fused
forward-backward of ``_fast_loss`` (same values and gradients), the readable recursion stays one argument
away (``gradient="autograd"``).
"""

from __future__ import annotations

import threading

import torch

_REDUCTIONS = ("none", "mean", "sum")
_GRADIENTS = ("auto", "fused", "alpha_beta", "autograd")


def _as_length_tensor(value, name: str, batch: int) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer lengths, got dtype {value.dtype}")
        lengths = value.detach().to("cpu", torch.long).reshape(-1)
    else:
        try:
            lengths = torch.as_tensor(value, dtype=torch.long).reshape(-1)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} must be a tensor or a sequence of ints, got {type(value).__name__}") from None
    if lengths.numel() != batch:
        raise ValueError(f"{name} must have one entry per batch item (N = {batch}), got {lengths.numel()}")
    if (lengths < 0).any():
        raise ValueError(f"{name} must be non-negative, got {lengths.tolist()}")
    return lengths


def _padded_targets(targets: torch.Tensor, target_lengths: torch.Tensor, batch: int) -> torch.Tensor:
    """Return (N, S_max) targets on CPU from the padded or the concatenated layout."""
    s_max = int(target_lengths.max()) if batch else 0
    targets = targets.detach().to("cpu", torch.long)
    if targets.dim() == 2:
        if targets.shape[0] != batch:
            raise ValueError(f"targets: padded layout must be (N, S) with N = {batch}, got {tuple(targets.shape)}")
        if s_max > targets.shape[1]:
            raise ValueError(
                f"target_lengths asks for {s_max} labels but padded targets have only S = {targets.shape[1]} "
                f"columns; fix target_lengths or pad the targets wider"
            )
        return targets[:, :s_max]
    if targets.dim() == 1:
        total = int(target_lengths.sum())
        if targets.numel() != total:
            raise ValueError(
                f"targets: concatenated layout must hold sum(target_lengths) = {total} labels, got "
                f"{targets.numel()}; pass (N, S) padded targets or concatenate exactly the used labels"
            )
        starts = torch.cumsum(target_lengths, 0) - target_lengths
        index = starts[:, None] + torch.arange(s_max)[None, :]
        valid = torch.arange(s_max)[None, :] < target_lengths[:, None]
        index = torch.where(valid, index, torch.zeros_like(index))
        return targets[index] if total else torch.zeros(batch, s_max, dtype=torch.long)
    raise ValueError(f"targets must be (N, S) padded or 1-D concatenated, got shape {tuple(targets.shape)}")


def ctc_loss(
    log_probs: torch.Tensor,
    targets,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
    *,
    gradient: str = "auto",
) -> torch.Tensor:
    """Connectionist temporal classification loss, a drop-in for ``torch.nn.functional.ctc_loss``.

    Parameters
    ----------
    log_probs : (T, N, C) log-softmax outputs (or (T, C) for one unbatched sequence).
    targets : (N, S) padded label ids, or 1-D concatenation of all targets (length sum(target_lengths)).
    input_lengths, target_lengths : (N,) ints (tensors, lists or tuples).
    blank : the blank class index.
    reduction : ``"none"`` (per-item losses), ``"sum"``, or ``"mean"`` (each loss divided by its
        target length, clamped to at least 1, then averaged over the batch, as torch does).
    zero_infinity : replace the ``inf`` loss of an impossible alignment (target too long for its
        input) by 0, with zero gradient.

    gradient : ``"auto"`` (default): ``"fused"`` on CPU, ``"autograd"`` elsewhere. ``"fused"`` runs a
        compiled (numba) forward-backward that returns ln p(l|y) and its analytic gradient in one call
        (CPU only; the fast path, within a small factor of torch's native kernel). ``"autograd"``
        differentiates the recursion itself with autograd (the readable version);
        ``"alpha_beta"`` runs the recursion without recording it and returns the analytic gradient
        from alpha and beta in one backward pass (Graves 2006, eqs. 14-16), as torch's kernel does:
        the same values, fewer small kernels. Both give first derivatives only (the stand-in for
        log 0 below makes second derivatives of logaddexp overflow).

    Differentiable by autograd and device-agnostic (runs where ``log_probs`` lives). Note that torch's
    native kernel returns as gradient w.r.t. ``log_probs`` the gradient w.r.t. the logits before the
    log-softmax (y - gamma); autograd here returns the true one (-gamma). Both agree once they pass
    back through ``log_softmax``. For an impossible item without ``zero_infinity`` torch's gradient is
    NaN; here it is zero (the loss there is the constant ``inf``).
    """
    if not isinstance(log_probs, torch.Tensor):
        raise TypeError(f"log_probs must be a torch.Tensor of shape (T, N, C), got {type(log_probs).__name__}")
    if not log_probs.is_floating_point():
        raise TypeError(f"log_probs must be floating point (log-softmax outputs), got dtype {log_probs.dtype}")
    if gradient not in _GRADIENTS:
        raise ValueError(f"gradient must be one of {_GRADIENTS}, got {gradient!r}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not isinstance(targets, torch.Tensor):
        targets = torch.as_tensor(targets, dtype=torch.long)
    if targets.is_floating_point():
        raise TypeError(f"targets must hold integer label ids, got dtype {targets.dtype}")
    unbatched = log_probs.dim() == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
        if targets.dim() != 1:
            raise ValueError(f"targets for unbatched (T, C) log_probs must be 1-D, got shape {tuple(targets.shape)}")
        targets = targets.unsqueeze(0)
    if log_probs.dim() != 3:
        raise ValueError(
            f"log_probs must be (T, N, C) (time first, as torch's ctc_loss), got shape {tuple(log_probs.shape)}"
        )
    T, N, C = log_probs.shape
    if isinstance(blank, bool) or not isinstance(blank, int) or not 0 <= blank < C:
        raise ValueError(f"blank must be an int with 0 <= blank < C = {C}, got {blank!r}")
    input_lengths = _as_length_tensor(input_lengths, "input_lengths", N)
    target_lengths = _as_length_tensor(target_lengths, "target_lengths", N)
    if N and int(input_lengths.max()) > T:
        raise ValueError(
            f"input_lengths must be <= T = {T} (the time dimension of log_probs), got max {int(input_lengths.max())}"
        )
    padded = _padded_targets(targets, target_lengths, N)
    s_max = padded.shape[1]
    valid = torch.arange(s_max)[None, :] < target_lengths[:, None]
    used = padded[valid]
    if used.numel():
        if int(used.min()) < 0 or int(used.max()) >= C:
            bad = used[(used < 0) | (used >= C)][0]
            raise ValueError(f"targets hold label id {int(bad)} but log_probs has C = {C} classes; ids must be in [0, {C})")
        if (used == blank).any():
            raise ValueError(f"targets contain the blank id {blank} within target_lengths; targets are labellings without blanks")

    device, dtype = log_probs.device, log_probs.dtype
    # A finite stand-in for log 0: logaddexp(-inf, -inf) has a NaN gradient, a huge negative number
    # has a zero one. Results below half of it are read back as "impossible".
    neg = torch.finfo(dtype).min / 8
    if gradient == "auto":
        gradient = "fused" if device.type == "cpu" and _have_numba() else "autograd"

    if T == 0 or N == 0:
        # No frames at all: only the empty target is possible (probability 1).
        empty = (target_lengths == 0).to(device)
        losses = torch.where(empty, 0.0, float("inf")).to(dtype) + log_probs.sum() * 0
        if zero_infinity:
            losses = torch.where(empty, losses, torch.zeros_like(losses))
    else:
        if gradient == "fused":
            if device.type != "cpu":
                raise ValueError(f"gradient='fused' runs on CPU only, log_probs is on {device}; "
                                 "use gradient='alpha_beta' or 'autograd' there")
            log_likelihood = _Fused.apply(log_probs, padded, input_lengths, target_lengths, blank)
        else:
            log_likelihood = _recursion_log_likelihood(log_probs, padded, valid, input_lengths, target_lengths,
                                                       blank, neg, gradient)
        # No frames and an empty target: the empty path emits it with probability 1.
        nothing = ((input_lengths == 0) & (target_lengths == 0)).to(device)
        log_likelihood = torch.where(nothing, torch.zeros_like(log_likelihood), log_likelihood)
        impossible = log_likelihood < neg / 2
        losses = torch.where(impossible, torch.full_like(log_likelihood, float("inf")), -log_likelihood)
        if zero_infinity:
            losses = torch.where(impossible, torch.zeros_like(losses), losses)

    if reduction == "none":
        return losses.squeeze(0) if unbatched else losses
    if reduction == "sum":
        return losses.sum()
    divisor = target_lengths.to(device=device, dtype=dtype).clamp_min(1)
    return (losses / divisor).mean()


def _recursion_log_likelihood(log_probs, padded, valid, input_lengths, target_lengths, blank, neg, gradient):
    """ln p(l|y) per item by the torch recursion: autograd through it, or the analytic alpha-beta backward."""
    T, N, C = log_probs.shape
    device, dtype = log_probs.device, log_probs.dtype
    L = 2 * padded.shape[1] + 1
    # Extended sequences l' (blank, l1, blank, ..., lS, blank); padding becomes blank so it is harmless.
    ext = torch.full((N, L), blank, dtype=torch.long)
    ext[:, 1::2] = torch.where(valid, padded, torch.full_like(padded, blank))
    skip = torch.zeros(N, L, dtype=torch.bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    ext_d, skip_d = ext.to(device), skip.to(device)
    skip_add = torch.where(skip_d, torch.zeros((), dtype=dtype, device=device), torch.full((), neg, dtype=dtype, device=device))
    active = (torch.arange(T)[:, None] < input_lengths[None, :]).to(device)  # (T, N)
    if gradient == "alpha_beta":
        return _AlphaBeta.apply(log_probs, ext_d, skip_add, active, input_lengths.to(device), target_lengths.to(device), neg)
    emit = log_probs.gather(2, ext_d.unsqueeze(0).expand(T, N, L)).clamp_min(neg)  # (T, N, L)
    return _log_likelihood_autograd(emit, skip_add, active, input_lengths, target_lengths, neg)


def _have_numba() -> bool:
    # numba is a dependency, but a broken or missing install should cost speed, not the loss.
    import importlib.util

    return importlib.util.find_spec("numba") is not None


_PARALLEL_LOCK = threading.Lock()  # numba's default thread pool must not be entered from two threads at once


class _Fused(torch.autograd.Function):
    """ln p(l|y) per item from the compiled kernel, which also returns the gradient (the occupancies)."""

    @staticmethod
    def forward(ctx, log_probs, padded, input_lengths, target_lengths, blank):
        from workbench.ctc import _fast_loss  # numba loads here, on first use only

        lp = log_probs.detach()
        if lp.dtype not in (torch.float32, torch.float64):
            lp = lp.float()
        lp = lp.contiguous().numpy()
        args = (lp, padded.contiguous().numpy(), input_lengths.numpy(), target_lengths.numpy(), int(blank))
        threads = torch.get_num_threads()
        # Threads pay off only past some work; a small batch would spend more on waking them.
        if threads > 1 and lp.shape[1] > 1 and lp.shape[0] * lp.shape[1] * (2 * padded.shape[1] + 1) >= 200_000:
            import numba

            with _PARALLEL_LOCK:
                before = numba.get_num_threads()
                numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
                try:
                    log_likelihood, grad = _fast_loss.fused_parallel(*args)
                finally:
                    numba.set_num_threads(before)
        else:
            log_likelihood, grad = _fast_loss.fused(*args)
        ctx.save_for_backward(torch.from_numpy(grad).to(log_probs.dtype))
        return torch.from_numpy(log_likelihood).to(log_probs.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_likelihood):
        (grad,) = ctx.saved_tensors
        return grad * grad_log_likelihood[None, :, None], None, None, None, None


def _log_likelihood_autograd(emit, skip_add, active, input_lengths, target_lengths, neg):
    """ln p(l|y) per item by the log-space alpha recursion, recorded for autograd. emit is (T, N, L)."""
    T, N, L = emit.shape
    dtype, device = emit.dtype, emit.device
    pad2 = torch.full((N, 2), neg, dtype=dtype, device=device)
    start = torch.full((N, L), neg, dtype=dtype, device=device)
    start_mask = torch.zeros(N, L, dtype=torch.bool, device=device)
    start_mask[:, : min(2, L)] = True
    # unbind, not emit[t]: indexing in the loop would make every step's backward allocate and fill
    # a zero gradient of the whole (T, N, L) tensor (quadratic in T); unbind's backward stacks once.
    emit_t = emit.unbind(0)
    alpha = torch.where(start_mask, emit_t[0], start)
    # Items with input length 0 never see a frame: keep them at log 0 everywhere.
    alpha = torch.where(active[0][:, None], alpha, start)
    # Freezing finished items costs one op per frame; skip it when every item uses all T frames.
    ragged = bool((input_lengths < T).any())
    for t in range(1, T):
        padded_alpha = torch.cat([pad2, alpha], dim=1)
        # Two fused logaddexp calls are cheaper than stack + logsumexp, forward and backward.
        stay_or_advance = torch.logaddexp(alpha, padded_alpha[:, 1:-1])
        new_alpha = torch.logaddexp(stay_or_advance, padded_alpha[:, :-2] + skip_add) + emit_t[t]
        alpha = torch.where(active[t][:, None], new_alpha, alpha) if ragged else new_alpha
    last = (2 * target_lengths).to(device)
    end_blank = alpha.gather(1, last[:, None]).squeeze(1)
    end_label = alpha.gather(1, (last - 1).clamp_min(0)[:, None]).squeeze(1)
    end_label = torch.where(target_lengths.to(device) > 0, end_label, torch.full_like(end_label, neg))
    log_likelihood = torch.logaddexp(end_blank, end_label)
    return log_likelihood


def _end_mask(target_lengths: torch.Tensor, L: int) -> torch.Tensor:
    """(N, L) True at the two positions a complete path may end on: the last label and the final blank."""
    s = torch.arange(L, device=target_lengths.device)[None, :]
    last = 2 * target_lengths[:, None]
    return (s == last) | ((s == last - 1) & (target_lengths[:, None] > 0))


class _AlphaBeta(torch.autograd.Function):
    """ln p(l|y) per item; backward from alpha and beta: d ln p / d ln y^t_k = gamma_t(k) (occupancy)."""

    @staticmethod
    def forward(ctx, log_probs, ext, skip_add, active, input_lengths, target_lengths, neg):
        T, N, C = log_probs.shape
        L = ext.shape[1]
        emit = log_probs.gather(2, ext.unsqueeze(0).expand(T, N, L)).clamp_min(neg)
        log_alpha = torch.empty(T, N, L, dtype=emit.dtype, device=emit.device)
        start = torch.full((N, L), neg, dtype=emit.dtype, device=emit.device)
        alpha = start.clone()
        alpha[:, : min(2, L)] = emit[0, :, : min(2, L)]
        alpha = torch.where(active[0][:, None], alpha, start)
        log_alpha[0] = alpha
        shifted = torch.full((N, L + 2), neg, dtype=emit.dtype, device=emit.device)
        for t in range(1, T):
            shifted[:, 2:] = alpha
            new_alpha = torch.logaddexp(torch.logaddexp(alpha, shifted[:, 1:-1]), shifted[:, :-2] + skip_add)
            new_alpha += emit[t]
            alpha = torch.where(active[t][:, None], new_alpha, alpha)
            log_alpha[t] = alpha
        end = _end_mask(target_lengths, L)
        log_likelihood = torch.logsumexp(torch.where(end, alpha, start), dim=1)
        ctx.save_for_backward(emit, log_alpha, ext, skip_add, active, input_lengths, target_lengths, log_likelihood)
        ctx.neg, ctx.num_classes = neg, C
        return log_likelihood

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_likelihood):
        emit, log_alpha, ext, skip_add, active, input_lengths, target_lengths, log_likelihood = ctx.saved_tensors
        neg = ctx.neg
        T, N, L = emit.shape
        # Moving s -> s+2 is allowed when the move s+2 <- s is allowed in the forward direction.
        skip_ahead = torch.full((N, L), neg, dtype=emit.dtype, device=emit.device)
        if L > 2:
            skip_ahead[:, :-2] = skip_add[:, 2:]
        nowhere = torch.full((N, L), neg, dtype=emit.dtype, device=emit.device)
        end = _end_mask(target_lengths, L)
        last_t = input_lengths - 1
        log_beta = torch.empty_like(log_alpha)
        beta = nowhere
        shifted = torch.full((N, L + 2), neg, dtype=emit.dtype, device=emit.device)
        for t in range(T - 1, -1, -1):
            shifted[:, :L] = beta
            recursed = torch.logaddexp(torch.logaddexp(beta, shifted[:, 1 : L + 1]), shifted[:, 2:] + skip_ahead) + emit[t]
            # An item's backward pass starts at its own last frame, on the two end positions.
            started = torch.where(end, emit[t], nowhere)
            beta = torch.where((t == last_t)[:, None], started, torch.where((t < last_t)[:, None], recursed, nowhere))
            log_beta[t] = beta
        possible = (log_likelihood > neg / 2)[None, :, None] & active[:, :, None]
        log_occupancy = log_alpha + log_beta - emit - log_likelihood[None, :, None]
        occupancy = torch.where(possible, log_occupancy.exp(), torch.zeros_like(log_occupancy))
        grad = torch.zeros(T, N, ctx.num_classes, dtype=emit.dtype, device=emit.device)
        grad.scatter_add_(2, ext.unsqueeze(0).expand(T, N, L), occupancy)
        grad *= grad_log_likelihood[None, :, None]
        return grad, None, None, None, None, None, None
