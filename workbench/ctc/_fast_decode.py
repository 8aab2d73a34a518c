"""Compiled CTC prefix beam search (numba), the same algorithm as ``_decode.prefix_beam_search``.

Imported only when a compiled decoder is first called (``import workbench.ctc`` must not pay for numba).
The readable version keeps prefixes as tuples and rebuilds a dict of them every frame; here a prefix is a
node of a trie that lives for one sequence, so "prefix + c" is a hash look-up and two beam entries can
never spell the same prefix under two names. Everything else follows the readable version step by step,
with the same floating-point operations in the same order (scores agree to rounding, 1e-9 in the tests):

- per beam entry: total = logaddexp(p_blank, p_label); stay by blank and stay by repeating the last label;
- per candidate label c: extend from the whole prefix, or only from its blank-ending part if c repeats;
- an extension that spells a prefix already in the beam merges into that entry's label-ending mass;
- keep the ``beam_width`` best finite scores (a bounded min-heap instead of a sort of all candidates).
"""

from __future__ import annotations

import math

import numba
import numpy as np

NEG_INF = -np.inf
LOG2 = math.log(2.0)


@numba.njit(cache=True, inline="always")
def _logaddexp(x, y):
    # numpy's npy_logaddexp, so that results match the readable version's np.logaddexp. The -inf
    # shortcuts return exactly what the formula would (x + log1p(0)) without paying for exp and log1p.
    if y == NEG_INF:
        return x
    if x == NEG_INF:
        return y
    if x == y:
        return x + LOG2
    tmp = x - y
    # Past a gap of 30 the smaller term adds under 1e-13 (so a score over 10^4 frames stays within 1e-9
    # of numpy's): skip exp and log. log(1 + z) instead of log1p(z): cheaper, and off by at most 1.1e-16
    # absolute, which is all the accuracy an absolute 1e-9 agreement needs.
    if tmp > 0:
        return x if tmp > 30.0 else x + math.log(1.0 + math.exp(-tmp))
    if tmp <= 0:
        return y if tmp < -30.0 else y + math.log(1.0 + math.exp(tmp))
    return tmp


@numba.njit(cache=True, inline="always")
def _heap_push(heap_s, heap_i, size, cap, score, idx):
    """Keep the ``cap`` largest scores in a min-heap; returns the new size."""
    if size < cap:
        pos = size
        size += 1
        while pos > 0:
            up = (pos - 1) >> 1
            if heap_s[up] <= score:
                break
            heap_s[pos] = heap_s[up]
            heap_i[pos] = heap_i[up]
            pos = up
        heap_s[pos] = score
        heap_i[pos] = idx
        return size
    if score <= heap_s[0]:
        return size
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and heap_s[left + 1] < heap_s[left]:
            child = left + 1
        if heap_s[child] >= score:
            break
        heap_s[pos] = heap_s[child]
        heap_i[pos] = heap_i[child]
        pos = child
    heap_s[pos] = score
    heap_i[pos] = idx
    return size


@numba.njit(cache=True)
def _child(table, keys, parent, char, num_classes, n_nodes, node_parent, node_char, node_slot):
    """The trie node for node ``parent`` + ``char`` (created if new), from an open-addressing table."""
    key = parent * num_classes + char
    mask = table.shape[0] - 1
    h = (key * 0x9E3779B1) & mask
    while True:
        slot = table[h]
        if slot < 0:
            table[h] = n_nodes
            node_slot[n_nodes] = h
            keys[h] = key
            node_parent[n_nodes] = parent
            node_char[n_nodes] = char
            return n_nodes, n_nodes + 1
        if keys[h] == key:
            return slot, n_nodes
        h = (h + 1) & mask


@numba.njit(cache=True)
def _workspace(T, W, C):
    """Scratch arrays for one sequence of up to T frames, allocated once per batch (or per thread)."""
    max_nodes = 1 + T * W
    cap = 1
    while cap < 2 * max_nodes:
        cap <<= 1
    ints = np.empty((6, W), np.int64)  # node, last, heap index, new node, new last, spare
    floats = np.empty((8, W), np.float64)  # p_blank, p_label, total, stay_pb, stay_pnb, heap score, new_pb, new_pnb
    return (np.empty(max_nodes, np.int64), np.empty(max_nodes, np.int64), np.full(cap, -1, np.int64),
            np.empty(cap, np.int64), np.full(max_nodes, -1, np.int64), np.empty(max_nodes, np.int64),
            np.empty(C, np.int64), np.full(C, -1, np.int64), np.empty((W, C), np.float64), ints, floats)


@numba.njit(cache=True)
def _search_one(y, length, beam_width, blank, top_n, use_pruning, min_logp, out_labels, out_lengths, out_scores,
                work):
    """Beam search over frames [0, length) of y (T, C); writes the best ``top_n`` into the out arrays and
    returns how many were written. ``work`` comes from :func:`_workspace` and is left clean for reuse."""
    C = y.shape[1]
    W = beam_width
    node_parent, node_char, table, keys, pos_of, node_slot, cand, cand_pos, ext, ints, floats = work
    node_parent[0] = -1
    node_char[0] = -1
    n_nodes = 1
    node, last, heap_i, new_node, new_last = ints[0], ints[1], ints[2], ints[3], ints[4]
    pb, pnb, total, stay_pb, stay_pnb = floats[0], floats[1], floats[2], floats[3], floats[4]
    heap_s, new_pb, new_pnb = floats[5], floats[6], floats[7]
    # Beam: node, p ending in blank, p ending in a label, last label (-1 for the empty prefix).
    node[0] = 0
    pb[0] = 0.0
    pnb[0] = NEG_INF
    total[0] = 0.0
    last[0] = -1
    B = 1
    nan = False  # NaN anywhere in the input sets this: the caller's check, at no extra pass

    for t in range(length):
        row = y[t]
        # Candidate labels of this frame (all labels, or those above the pruning threshold).
        n_cand = 0
        if use_pruning:
            # One branch-free (vectorizable) pass counts the labels above the threshold and those that beat
            # the blank; most frames of a trained model have neither and cost only this pass.
            yb = row[blank]
            n_ge = 0
            n_beat = 0
            bad = False
            for k in range(C):
                v = row[k]
                n_ge += v >= min_logp
                n_beat += v > yb
                bad |= v != v
            nan |= bad
            if yb >= min_logp:
                n_ge -= 1  # the blank is never a candidate
            for k in range(blank):
                n_beat += row[k] == yb  # argmax takes the first of equal maxima
            if n_ge > 0:
                # The frame's best class is then above the threshold too (or the blank): no insertion.
                for k in range(C):
                    if k != blank and row[k] >= min_logp:
                        cand[n_cand] = k
                        n_cand += 1
            elif n_beat > 0:
                # Nothing above the threshold, but a label beats the blank: keep the frame's best class.
                best = 0
                for k in range(1, C):
                    if row[k] > row[best]:
                        best = k
                cand[0] = best
                n_cand = 1
        else:
            for k in range(C):
                nan |= row[k] != row[k]
                if k != blank:
                    cand[n_cand] = k
                    n_cand += 1
        for b in range(B):
            # total[b] = logaddexp(pb[b], pnb[b]) is carried over from the last frame (see below).
            stay_pb[b] = total[b] + row[blank]
            stay_pnb[b] = pnb[b] + row[last[b]] if last[b] >= 0 else NEG_INF
        if n_cand == 0:
            for b in range(B):
                pb[b] = stay_pb[b]
                pnb[b] = stay_pnb[b]
                total[b] = _logaddexp(stay_pb[b], stay_pnb[b])
            continue
        for j in range(n_cand):
            cand_pos[cand[j]] = j
        for b in range(B):
            for j in range(n_cand):
                c = cand[j]
                if c == last[b]:
                    ext[b, j] = pb[b] + row[c]
                else:
                    ext[b, j] = total[b] + row[c]
        # Merge: an entry whose parent is also in the beam absorbs the parent's extension by its last label.
        for b in range(B):
            pos_of[node[b]] = b
        for b in range(B):
            nb = node[b]
            if nb == 0:
                continue
            p = pos_of[node_parent[nb]]
            if p >= 0:
                j = cand_pos[node_char[nb]]
                if j >= 0:
                    stay_pnb[b] = _logaddexp(stay_pnb[b], ext[p, j])
                    ext[p, j] = NEG_INF
        for b in range(B):
            pos_of[node[b]] = -1
        for j in range(n_cand):
            cand_pos[cand[j]] = -1
        # Keep the W best finite scores: index b < B is "stay", B + b * n_cand + j is "extend b by cand[j]".
        size = 0
        for b in range(B):
            s = _logaddexp(stay_pb[b], stay_pnb[b])
            if s > NEG_INF:
                size = _heap_push(heap_s, heap_i, size, W, s, b)
        for b in range(B):
            for j in range(n_cand):
                s = ext[b, j]
                if s > NEG_INF:
                    size = _heap_push(heap_s, heap_i, size, W, s, B + b * n_cand + j)
        if size == 0:
            # Nothing finite left: the readable version keeps one entry, the first stay.
            heap_i[0] = 0
            heap_s[0] = NEG_INF
            size = 1
        # Best first, so the final ranking's ties resolve by beam order as a stable sort would.
        for a in range(1, size):
            s, i = heap_s[a], heap_i[a]
            z = a - 1
            while z >= 0 and (heap_s[z] < s or (heap_s[z] == s and heap_i[z] > i)):
                heap_s[z + 1] = heap_s[z]
                heap_i[z + 1] = heap_i[z]
                z -= 1
            heap_s[z + 1] = s
            heap_i[z + 1] = i
        for a in range(size):
            i = heap_i[a]
            if i < B:
                new_node[a] = node[i]
                new_pb[a] = stay_pb[i]
                new_pnb[a] = stay_pnb[i]
                new_last[a] = last[i]
            else:
                b = (i - B) // n_cand
                c = cand[(i - B) % n_cand]
                child, n_nodes = _child(table, keys, node[b], c, C, n_nodes, node_parent, node_char, node_slot)
                new_node[a] = child
                new_pb[a] = NEG_INF
                new_pnb[a] = ext[b, (i - B) % n_cand]
                new_last[a] = c
        B = size
        for a in range(B):
            node[a] = new_node[a]
            pb[a] = new_pb[a]
            pnb[a] = new_pnb[a]
            last[a] = new_last[a]
            # The selection score is the entry's total, logaddexp(pb, pnb), exactly (for an extension
            # pb = -inf and the total is pnb): the next frame needs it and need not compute it again.
            total[a] = heap_s[a]

    for i in range(1, n_nodes):
        table[node_slot[i]] = -1  # leave the workspace clean for the next sequence
    # Final ranking: stable sort by total probability, best first.
    final = np.empty(B, np.float64)
    for b in range(B):
        final[b] = total[b]
    order = np.argsort(-final, kind="mergesort")
    n_out = min(top_n, B)
    for r in range(n_out):
        b = order[r]
        out_scores[r] = final[b]
        # Walk up the trie; the labelling is the chars from the root down.
        depth = 0
        n = node[b]
        while n != 0:
            depth += 1
            n = node_parent[n]
        out_lengths[r] = depth
        n = node[b]
        for d in range(depth - 1, -1, -1):
            out_labels[r, d] = node_char[n]
            n = node_parent[n]
    if nan:
        return -1
    return n_out


@numba.njit(cache=True)
def _compact(labels, starts, lengths, label_lengths, found, top_n):
    """Item n's r-th labelling sits at ``top_n * starts[n] + r * lengths[n]`` of ``labels``; gather them
    all into one flat array, item by item and best first, with each labelling's offset there (the
    caller turns only the labels found into Python objects, not the whole frame-sized scratch)."""
    N = starts.shape[0]
    offsets = np.empty(N * top_n + 1, np.int64)
    total = 0
    for n in range(N):
        for r in range(top_n):
            offsets[n * top_n + r] = total
            if r < found[n]:
                total += label_lengths[n, r]
    offsets[N * top_n] = total
    flat = np.empty(total, np.int64)
    for n in range(N):
        for r in range(min(top_n, max(found[n], 0))):
            src = top_n * starts[n] + r * lengths[n]
            dst = offsets[n * top_n + r]
            for d in range(label_lengths[n, r]):
                flat[dst + d] = labels[src + d]
    return flat, offsets


@numba.njit(cache=True)
def search_batch(frames, starts, lengths, beam_width, blank, top_n, use_pruning, min_logp):
    """All items in one compiled call, one after another. Item n is frames[starts[n]:starts[n] + lengths[n]].

    Returns flat labels with offsets (item n's r-th labelling is ``flat[offsets[n * top_n + r]:offsets[n *
    top_n + r + 1]]``), scores (N, top_n) and how many labellings each item has (-1: its input has NaN).
    """
    N = starts.shape[0]
    C = frames.shape[1]
    labels = np.empty(frames.shape[0] * top_n, np.int64)
    label_lengths = np.zeros((N, top_n), np.int64)
    scores = np.full((N, top_n), NEG_INF)
    found = np.zeros(N, np.int64)
    work = _workspace(max(1, lengths.max()) if N else 1, beam_width, C)
    for n in range(N):
        s, T = starts[n], lengths[n]
        out = labels[s * top_n : (s + T) * top_n].reshape((top_n, T))
        found[n] = _search_one(frames[s : s + T], T, beam_width, blank, top_n, use_pruning, min_logp,
                               out, label_lengths[n], scores[n], work)
    flat, offsets = _compact(labels, starts, lengths, label_lengths, found, top_n)
    return flat, offsets, scores, found


@numba.njit(cache=True, parallel=True)
def search_batch_parallel(frames, starts, lengths, beam_width, blank, top_n, use_pruning, min_logp):
    """As :func:`search_batch`, the items spread over numba's threads (``numba.set_num_threads``)."""
    N = starts.shape[0]
    C = frames.shape[1]
    labels = np.empty(frames.shape[0] * top_n, np.int64)
    label_lengths = np.zeros((N, top_n), np.int64)
    scores = np.full((N, top_n), NEG_INF)
    found = np.zeros(N, np.int64)
    for n in numba.prange(N):
        s, T = starts[n], lengths[n]
        work = _workspace(T, beam_width, C)
        out = labels[s * top_n : (s + T) * top_n].reshape((top_n, T))
        found[n] = _search_one(frames[s : s + T], T, beam_width, blank, top_n, use_pruning, min_logp,
                               out, label_lengths[n], scores[n], work)
    flat, offsets = _compact(labels, starts, lengths, label_lengths, found, top_n)
    return flat, offsets, scores, found
