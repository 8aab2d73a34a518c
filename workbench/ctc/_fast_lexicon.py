"""Compiled (numba) deletion variants for ``DeletionIndex``: build and look-up without Python strings.

Imported only when a ``DeletionIndex`` is first built (``import workbench.ctc`` must not pay for numba).
A word is its code points (UTF-32) in one flat array of all words; a deletion variant is never
materialised as a string, only hashed: a polynomial over the kept code points, finished by splitmix64's
mixer (so that the top bits, which the index's directory uses, are as random as the low ones). The hash
is deterministic, unlike Python's ``hash(str)`` (salted per process), and :func:`variant_hash` is the same
hash of a Python string, which the tests use to check the compiled variants against ``deletion_variants``.
Two distinct variants that collide only add a candidate: ``search`` computes every candidate's true
distance, so the answer stays exact.
"""

from __future__ import annotations

import numba
import numpy as np

MASK = (1 << 64) - 1
SEED = 0x243F6A8885A308D3  # any fixed odd constant (pi's hex digits)
BASE = 0x100000001B3  # the 64-bit FNV prime, an odd multiplier


def _mix_py(h: int) -> int:
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & MASK
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & MASK
    return h ^ (h >> 31)


def variant_hash(s: str) -> int:
    """The hash the compiled code gives string ``s`` (as uint64): the reference for the tests."""
    h = SEED
    for ch in s:
        h = (h * BASE + ord(ch) + 1) & MASK  # + 1: a NUL character still changes the hash
    return _mix_py((h + len(s)) & MASK)


def encode(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All words' code points in one uint32 array and each word's start (offsets[-1] is the end)."""
    codes = np.frombuffer("".join(words).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=len(words)), out=offsets[1:])
    return codes, offsets


@numba.njit(cache=True, inline="always")
def _mix(h):
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@numba.njit(cache=True)
def _n_variants(m, k):
    """sum_{d <= min(k, m)} C(m, d): the variants enumerated for a word of length m (repeats included)."""
    total, c = 0, 1
    for d in range(min(k, m) + 1):
        total += c
        c = c * (m - d) // (d + 1)
    return total


@numba.njit(cache=True)
def _word_variants(codes, start, stop, k, out, at, unique):
    """Hash every variant of codes[start:stop] with at most k deletions into out[at:]; returns the new at.
    The deleted positions run over all combinations of d = 0..k positions (in lexicographic order). With
    ``unique`` the word's hashes are sorted and each kept once ("aab" less either "a" is one variant)."""
    begin = at
    m = stop - start
    drop = np.empty(max(k, 1), np.int64)
    for d in range(min(k, m) + 1):
        for i in range(d):
            drop[i] = i
        while True:
            h = np.uint64(SEED)
            nxt = 0  # index into drop of the next deleted position
            for p in range(m):
                if nxt < d and drop[nxt] == p:
                    nxt += 1
                    continue
                h = h * np.uint64(BASE) + np.uint64(codes[start + p]) + np.uint64(1)
            out[at] = _mix(h + np.uint64(m - d))
            at += 1
            # Next combination of d positions out of m: raise the rightmost one that can still move.
            i = d - 1
            while i >= 0 and drop[i] == m - d + i:
                i -= 1
            if i < 0:
                break
            drop[i] += 1
            for r in range(i + 1, d):
                drop[r] = drop[r - 1] + 1
    if not unique or at - begin < 2:
        return at
    for a in range(begin + 1, at):  # insertion sort: a few dozen hashes
        h = out[a]
        z = a - 1
        while z >= begin and out[z] > h:
            out[z + 1] = out[z]
            z -= 1
        out[z + 1] = h
    kept = begin + 1
    for a in range(begin + 1, at):
        if out[a] != out[kept - 1]:
            out[kept] = out[a]
            kept += 1
    return kept


@numba.njit(cache=True)
def build_table(codes, offsets, k):
    """The index's table: (variant hashes, their word ids, directory, shift), each (variant, word) pair
    once. The table is bucketed on the top bits of the hash, not sorted: bucket b's entries are
    ``directory[b]:directory[b + 1]`` (word order inside), placed by one counting sort, O(entries). About
    4 entries a bucket: a look-up is two gathers and a short scan, where a binary search over the whole
    table would miss the cache at every one of its ~22 steps (and a full sort of 4.6 million hashes
    costs more than generating them)."""
    n = offsets.shape[0] - 1
    size = 0
    for w in range(n):
        size += _n_variants(offsets[w + 1] - offsets[w], k)
    raw = np.empty(size, np.uint64)
    owner = np.empty(size, np.int32)
    at = 0
    for w in range(n):
        end = _word_variants(codes, offsets[w], offsets[w + 1], k, raw, at, True)
        for i in range(at, end):
            owner[i] = w
        at = end
    bits = 1
    while bits < 24 and (1 << bits) * 4 < at:
        bits += 1
    shift = np.uint64(64 - bits)
    directory = np.zeros((1 << bits) + 1, np.int64)
    for i in range(at):
        directory[np.int64(raw[i] >> shift) + 1] += 1
    for b in range(1 << bits):
        directory[b + 1] += directory[b]
    fill = directory[:-1].copy()
    keys = np.empty(at, np.uint64)
    ids = np.empty(at, np.int32)
    for i in range(at):
        b = np.int64(raw[i] >> shift)
        keys[fill[b]] = raw[i]
        ids[fill[b]] = owner[i]
        fill[b] += 1
    return keys, ids, directory, shift


@numba.njit(cache=True)
def lookup(query, k, keys, ids, table_directory, shift):
    """Sorted unique ids of the words sharing a variant (at most k deletions) with ``query`` (code points)."""
    m = query.shape[0]
    probes = np.empty(_n_variants(m, k), np.uint64)
    n = _word_variants(query, 0, m, k, probes, 0, False)
    found = []
    for i in range(n):
        h = probes[i]
        b = np.int64(h >> shift)
        for j in range(table_directory[b], table_directory[b + 1]):
            if keys[j] == h:
                found.append(ids[j])
    out = np.empty(len(found), np.int32)
    for i in range(len(found)):
        out[i] = found[i]
    return np.unique(out)
