"""Decoders from per-frame log-probabilities to labellings: best path and prefix beam search."""

from __future__ import annotations

import numpy as np

from workbench.ctc._alignment import _check_blank, _check_log_probs, collapse


def best_path_decode(log_probs, blank: int = 0) -> list[int]:
    """Best path decoding: the most probable class per frame, then the map B.

    Fast but approximate: it returns B of the single most probable path, which is not always the most
    probable labelling (many paths can add up for another labelling).
    """
    log_probs = _check_log_probs(log_probs)
    blank = _check_blank(blank, log_probs.shape[1])
    return collapse(np.argmax(log_probs, axis=1), blank)


def prefix_beam_search(
    log_probs,
    beam_width: int = 10,
    blank: int = 0,
    top_n: int = 1,
    *,
    token_min_logp: float | None = None,
) -> list[tuple[tuple[int, ...], float]]:
    """CTC prefix beam search (Graves 2006 sec. 3.2; Hannun et al. 2014, without a language model).

    Each prefix carries two log-probabilities, of the paths so far ending in blank and ending in its
    last label; extending by the same label is only possible from the blank-ending part. Prefixes that
    become equal merge by adding their probabilities. Each frame keeps the ``beam_width`` most
    probable prefixes.

    Parameters
    ----------
    log_probs : (T, C) per-frame log-softmax outputs.
    beam_width : prefixes kept per frame; with a beam at least as wide as the number of reachable
        prefixes the search is exact.
    top_n : how many labellings to return (at most the number of surviving prefixes).
    token_min_logp : optional pruning. When set, a frame only extends prefixes by labels whose
        log-probability there is at least this value (the frame's most probable label is always kept
        if it is not the blank). A frame where the blank dominates then costs almost nothing. This is
        pyctcdecode's ``token_min_logp`` (default -5 there); ``None`` (default) prunes nothing.

    Returns
    -------
    A list of ``(labelling, log_prob)`` pairs, best first; ``labelling`` is a tuple of label ids and
    ``log_prob`` is ln p(labelling | y) as accumulated over the paths the beam kept (exact when nothing
    was pruned).
    """
    log_probs = _check_log_probs(log_probs)
    T, C = log_probs.shape
    blank = _check_blank(blank, C)
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive int, got {beam_width!r}")
    if isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)) or top_n < 1:
        raise ValueError(f"top_n must be a positive int, got {top_n!r}")
    if token_min_logp is not None and not np.isfinite(token_min_logp):
        raise ValueError(f"token_min_logp must be a finite float or None, got {token_min_logp!r}")

    neg_inf = -np.inf
    labels = np.array([k for k in range(C) if k != blank], dtype=np.int64)
    # Beam state: prefixes (tuples), log p ending in blank, log p ending in a label, last label (-1: empty).
    prefixes: list[tuple[int, ...]] = [()]
    log_pb = np.array([0.0])
    log_pnb = np.array([neg_inf])
    last = np.array([-1], dtype=np.int64)
    merge = _merge_plan(prefixes)
    candidates = None
    if token_min_logp is not None:
        # Per frame, the labels worth extending by, chosen for all frames at once.
        keep = log_probs[:, labels] >= token_min_logp
        best = np.argmax(log_probs, axis=1)
        best_is_label = best != blank
        keep[np.nonzero(best_is_label)[0], (best - (best > blank))[best_is_label]] = True
        candidates = [labels[row] for row in keep]
    # With no prefix ending in a label, y[last] must read as log 0: pad the frame with a -inf column.
    padded = np.concatenate([log_probs, np.full((T, 1), neg_inf)], axis=1)
    with np.errstate(invalid="ignore"):
        for t in range(T):
            y = padded[t]
            log_total = np.logaddexp(log_pb, log_pnb)
            stay_pb = log_total + y[blank]
            stay_pnb = log_pnb + y[last]  # last == -1 picks the -inf column
            cand = labels if candidates is None else candidates[t]
            if cand.size == 0:
                log_pb, log_pnb = stay_pb, stay_pnb
                continue
            # Extending prefix b by label c: from all of it, or only from its blank-ending part if c repeats.
            ext = log_total[:, None] + y[cand][None, :]
            same = cand[None, :] == last[:, None]
            ext = np.where(same, log_pb[:, None] + y[cand][None, :], ext)
            child, parent, char = merge
            if child.size:
                position = np.full(C + 1, -1, dtype=np.int64)
                position[cand] = np.arange(cand.size)
                k = position[char]
                hit = k >= 0
                if hit.any():
                    # prefix+c already exists in the beam: its label-ending mass absorbs the extension.
                    c_idx, p_idx, k_idx = child[hit], parent[hit], k[hit]
                    stay_pnb[c_idx] = np.logaddexp(stay_pnb[c_idx], ext[p_idx, k_idx])
                    ext[p_idx, k_idx] = neg_inf
            stay_score = np.logaddexp(stay_pb, stay_pnb)
            scores = np.concatenate([stay_score, ext.ravel()])
            n_keep = min(beam_width, int(np.count_nonzero(scores > neg_inf)) or 1)
            if n_keep < scores.size:
                chosen = np.argpartition(-scores, n_keep - 1)[:n_keep]
            else:
                chosen = np.arange(scores.size)
            B = len(prefixes)
            from_stay = chosen[chosen < B]
            from_ext = chosen[chosen >= B] - B
            ext_parent, ext_k = np.divmod(from_ext, cand.size)
            new_chars = cand[ext_k]
            if from_ext.size == 0 and from_stay.size == B:
                log_pb, log_pnb = stay_pb, stay_pnb
                continue
            prefixes = [prefixes[i] for i in from_stay.tolist()] + [
                prefixes[p] + (c,) for p, c in zip(ext_parent.tolist(), new_chars.tolist())
            ]
            log_pb = np.concatenate([stay_pb[from_stay], np.full(from_ext.size, neg_inf)])
            log_pnb = np.concatenate([stay_pnb[from_stay], ext.ravel()[from_ext]])
            last = np.concatenate([last[from_stay], new_chars])
            merge = _merge_plan(prefixes)

    final = np.logaddexp(log_pb, log_pnb)
    order = np.argsort(-final, kind="stable")[:top_n]
    return [(prefixes[i], float(final[i])) for i in order.tolist()]


def _merge_plan(prefixes: list[tuple[int, ...]]):
    """For every prefix whose parent (prefix minus its last label) is also in the beam: (child, parent, label)."""
    index = {p: i for i, p in enumerate(prefixes)}
    child, parent, char = [], [], []
    for i, p in enumerate(prefixes):
        if p:
            j = index.get(p[:-1])
            if j is not None:
                child.append(i)
                parent.append(j)
                char.append(p[-1])
    return (np.array(child, dtype=np.int64), np.array(parent, dtype=np.int64), np.array(char, dtype=np.int64))


def prefix_beam_search_batch(
    log_probs,
    lengths=None,
    beam_width: int = 10,
    blank: int = 0,
    top_n: int = 1,
    *,
    token_min_logp: float | None = None,
    threads: int | None = None,
) -> list[list[tuple[tuple[int, ...], float]]]:
    """:func:`prefix_beam_search` compiled (numba) and run over a whole batch in one call.

    The same algorithm and the same results (scores equal to rounding) as the readable version, which
    stays the one to read. ``log_probs`` is a padded (N, T, C) array (or tensor), a list of (T_i, C)
    arrays, or one (T, C) array (a batch of one); ``lengths`` gives each item's frame count for a padded
    array (default: all T). ``threads`` > 1 spreads the items over numba's threads (default 1, so that
    one call uses one core, like the peers it is benchmarked against). The first call compiles the
    kernel (cached on disk afterwards). Returns one :func:`prefix_beam_search` result list per item.
    """
    frames, starts, lengths, blank = _check_batch(log_probs, lengths, blank)
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive int, got {beam_width!r}")
    if isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)) or top_n < 1:
        raise ValueError(f"top_n must be a positive int, got {top_n!r}")
    if token_min_logp is not None and not np.isfinite(token_min_logp):
        raise ValueError(f"token_min_logp must be a finite float or None, got {token_min_logp!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    from workbench.ctc import _fast_decode  # numba loads here, on first use only

    top_n = int(top_n)
    args = (frames, starts, lengths, int(beam_width), blank, top_n, token_min_logp is not None,
            float(token_min_logp) if token_min_logp is not None else 0.0)
    if threads is not None and threads > 1:
        import numba

        before = numba.get_num_threads()
        numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
        try:
            flat, offsets, scores, found = _fast_decode.search_batch_parallel(*args)
        finally:
            numba.set_num_threads(before)
    else:
        flat, offsets, scores, found = _fast_decode.search_batch(*args)
    if (found < 0).any():
        bad = int(np.flatnonzero(found < 0)[0])
        raise ValueError(f"log_probs[{bad}] contains NaN; check the network output before the log-softmax")
    flat, offsets, scores = flat.tolist(), offsets.tolist(), scores.tolist()
    if top_n == 1:  # the common case, without the inner loop
        return [[(tuple(flat[a:b]), sc[0])] for a, b, sc in zip(offsets, offsets[1:], scores)]
    return [[(tuple(flat[offsets[n * top_n + r] : offsets[n * top_n + r + 1]]), scores[n][r]) for r in range(k)]
            for n, k in enumerate(found.tolist())]


def _check_batch(log_probs, lengths, blank):
    """(frames (sum T_i, C) float64, starts, lengths, blank) or an error naming the fix. NaN is checked
    by the kernel as it reads the frames (a separate pass would cost more than decoding a short line)."""
    if hasattr(log_probs, "detach"):
        log_probs = log_probs.detach().cpu().numpy()
    if isinstance(log_probs, (list, tuple)):
        if lengths is not None:
            raise ValueError("lengths is only for a padded (N, T, C) array; a list of arrays carries its own lengths")
        if not log_probs:
            raise ValueError("log_probs is an empty list; pass at least one (T, C) array")
        items = [x if type(x) is np.ndarray else x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
                 for x in log_probs]
        for i, x in enumerate(items):
            # dtype.kind, not np.issubdtype: this loop runs once per line and must cost next to nothing.
            if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 2 or x.dtype.kind != "f":
                _check_log_probs(x, f"log_probs[{i}]")  # raises, naming what is wrong with this item
        C = items[0].shape[1]
        if any(x.shape[1] != C for x in items):
            raise ValueError(f"every item of log_probs must have the same C; got {sorted({x.shape[1] for x in items})}")
        lengths = np.array([x.shape[0] for x in items], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        # float32 stays float32 (the kernel widens each value as it reads it, exactly, as astype would).
        dtype = np.float32 if all(x.dtype == np.float32 for x in items) else np.float64
        frames = np.concatenate(items, axis=0, dtype=dtype)
        return frames, starts, lengths, _check_blank(blank, C)
    arr = np.asarray(log_probs)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"log_probs must be (N, T, C), a list of (T, C) arrays or one (T, C) array, got shape {arr.shape}; "
                         "a network's (T, N, C) output needs .transpose(1, 0, 2)")
    N, T, C = arr.shape
    if N < 1 or T < 1 or C < 2 or not np.issubdtype(arr.dtype, np.floating):
        _check_log_probs(arr.reshape(N * T, C) if N * T else np.zeros((0, C)))  # raises, naming the problem
        raise ValueError(f"log_probs must have N >= 1 items, got shape {arr.shape}")
    blank = _check_blank(blank, C)
    if lengths is None:
        lengths = np.full(N, T, dtype=np.int64)
    else:
        if hasattr(lengths, "detach"):
            lengths = lengths.detach().cpu().numpy()
        lengths = np.asarray(lengths)
        if lengths.shape != (N,) or not np.issubdtype(lengths.dtype, np.integer):
            raise ValueError(f"lengths must be N = {N} ints, one per item, got {lengths.dtype} shape {lengths.shape}")
        if (lengths < 1).any() or (lengths > T).any():
            raise ValueError(f"lengths must lie in [1, T = {T}], got min {lengths.min()} max {lengths.max()}")
        lengths = lengths.astype(np.int64)
    frames = np.ascontiguousarray(arr, dtype=np.float32 if arr.dtype == np.float32 else np.float64).reshape(N * T, C)
    return frames, np.arange(N, dtype=np.int64) * T, lengths, blank
