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
    # numpy's npy_logaddexp, so that results match the readable version's np.logaddexp.
    if x == y:
        return x + LOG2
    tmp = x - y
    if tmp > 0:
        return x + math.log1p(math.exp(-tmp))
    if tmp <= 0:
        return y + math.log1p(math.exp(tmp))
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
def _child(table, keys, parent, char, num_classes, n_nodes, node_parent, node_char, create):
    """Trie look-up of node ``parent`` + ``char`` in an open-addressing table; -1 if absent and not created."""
    key = parent * num_classes + char
    mask = table.shape[0] - 1
    h = (key * 0x9E3779B1) & mask
    while True:
        slot = table[h]
        if slot < 0:
            if not create:
                return -1, n_nodes
            table[h] = n_nodes
            keys[h] = key
            node_parent[n_nodes] = parent
            node_char[n_nodes] = char
            return n_nodes, n_nodes + 1
        if keys[h] == key:
            return slot, n_nodes
        h = (h + 1) & mask


@numba.njit(cache=True)
def _search_one(y, length, beam_width, blank, top_n, use_pruning, min_logp, out_labels, out_lengths, out_scores):
    """Beam search over frames [0, length) of y (T, C); writes the best ``top_n`` into the out arrays and
    returns how many were written."""
    C = y.shape[1]
    W = beam_width
    max_nodes = 1 + length * W
    node_parent = np.empty(max_nodes, np.int64)
    node_char = np.empty(max_nodes, np.int64)
    cap = 1
    while cap < 2 * max_nodes:
        cap <<= 1
    table = np.full(cap, -1, np.int64)
    keys = np.empty(cap, np.int64)
    node_parent[0] = -1
    node_char[0] = -1
    n_nodes = 1
    pos_of = np.full(max_nodes, -1, np.int64)  # node -> position in the current beam

    # Beam: node, p ending in blank, p ending in a label, last label (-1 for the empty prefix).
    node = np.empty(W, np.int64)
    pb = np.empty(W, np.float64)
    pnb = np.empty(W, np.float64)
    last = np.empty(W, np.int64)
    node[0] = 0
    pb[0] = 0.0
    pnb[0] = NEG_INF
    last[0] = -1
    B = 1

    total = np.empty(W, np.float64)
    stay_pb = np.empty(W, np.float64)
    stay_pnb = np.empty(W, np.float64)
    cand = np.empty(C, np.int64)
    cand_pos = np.full(C, -1, np.int64)
    ext = np.empty((W, C), np.float64)
    heap_s = np.empty(W, np.float64)
    heap_i = np.empty(W, np.int64)
    new_node = np.empty(W, np.int64)
    new_pb = np.empty(W, np.float64)
    new_pnb = np.empty(W, np.float64)
    new_last = np.empty(W, np.int64)

    for t in range(length):
        row = y[t]
        # Candidate labels of this frame (all labels, or those above the pruning threshold).
        n_cand = 0
        if use_pruning:
            best = 0
            for k in range(1, C):
                if row[k] > row[best]:
                    best = k
            for k in range(C):
                if k != blank and (row[k] >= min_logp or k == best):
                    cand[n_cand] = k
                    n_cand += 1
        else:
            for k in range(C):
                if k != blank:
                    cand[n_cand] = k
                    n_cand += 1
        for b in range(B):
            total[b] = _logaddexp(pb[b], pnb[b])
            stay_pb[b] = total[b] + row[blank]
            stay_pnb[b] = pnb[b] + row[last[b]] if last[b] >= 0 else NEG_INF
        if n_cand == 0:
            for b in range(B):
                pb[b] = stay_pb[b]
                pnb[b] = stay_pnb[b]
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
                child, n_nodes = _child(table, keys, node[b], c, C, n_nodes, node_parent, node_char, True)
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

    # Final ranking: stable sort by total probability, best first.
    final = np.empty(B, np.float64)
    for b in range(B):
        final[b] = _logaddexp(pb[b], pnb[b])
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
    return n_out


@numba.njit(cache=True)
def search_batch(log_probs, lengths, beam_width, blank, top_n, use_pruning, min_logp):
    """All items of a padded (N, T, C) batch in one compiled call, one after another."""
    N, T, _ = log_probs.shape
    labels = np.zeros((N, top_n, T), np.int64)
    label_lengths = np.zeros((N, top_n), np.int64)
    scores = np.full((N, top_n), NEG_INF)
    found = np.zeros(N, np.int64)
    for n in range(N):
        found[n] = _search_one(log_probs[n], lengths[n], beam_width, blank, top_n, use_pruning, min_logp,
                               labels[n], label_lengths[n], scores[n])
    return labels, label_lengths, scores, found


@numba.njit(cache=True, parallel=True)
def search_batch_parallel(log_probs, lengths, beam_width, blank, top_n, use_pruning, min_logp):
    """As :func:`search_batch`, the items spread over numba's threads (``numba.set_num_threads``)."""
    N, T, _ = log_probs.shape
    labels = np.zeros((N, top_n, T), np.int64)
    label_lengths = np.zeros((N, top_n), np.int64)
    scores = np.full((N, top_n), NEG_INF)
    found = np.zeros(N, np.int64)
    for n in numba.prange(N):
        found[n] = _search_one(log_probs[n], lengths[n], beam_width, blank, top_n, use_pruning, min_logp,
                               labels[n], label_lengths[n], scores[n])
    return labels, label_lengths, scores, found
