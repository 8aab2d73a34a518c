"""A deletion-neighbourhood index (SymSpell's "symmetric delete", Garbe 2012) for Levenshtein search.

Why it is exact: if d(q, w) <= k, take an optimal alignment with i insertions, e deletions and s
substitutions (i + e + s <= k). Deleting from q its e deleted and s substituted characters, and from w
its i inserted and s substituted ones, leaves the same string, with at most k deletions on each side. So
every word within k shares at least one "<= k deletions" variant with the query; looking the query's
variants up in a table of all words' variants finds a superset of the answer, and the true distance
(rapidfuzz) keeps exactly the words within k.

Why it is fast: a query of length m has at most sum_{j<=k} C(m, j) variants (56 for m = 10, k = 2), each
one hash look-up, and only the few words sharing a variant get a distance computed, where a BK-tree
computes distances at a third of its nodes at k = 2 and a linear scan at all of them. The price is the
build (every word's variants, once) and the table: one 64-bit hash and one word id per variant, in two
sorted numpy arrays rather than a dict of strings (a third of the memory, and no per-entry objects).
"""

from __future__ import annotations

from collections.abc import Iterable
import numpy as np
from rapidfuzz.distance import Levenshtein


def deletion_variants(word: str, max_deletions: int) -> set[str]:
    """Every string obtained from ``word`` by deleting at most ``max_deletions`` characters (itself included).

    Level by level: the strings with j + 1 deletions are those with j, less one more character."""
    out = {word}
    level = {word}
    for _ in range(max_deletions):
        level = {v[:i] + v[i + 1:] for v in level for i in range(len(v))}
        if not level:
            break
        out |= level
    return out


class DeletionIndex:
    """Exact Levenshtein search over a word list, up to ``max_distance`` edits (the build-time bound).

    ``search(word, k)`` returns the same list as :meth:`BKTree.search`: every word within k edits as
    ``(distance, word)``, sorted. A k above the build-time bound falls back to a linear scan (still exact).
    """

    __slots__ = ("_words", "_keys", "_ids", "_directory", "_shift", "max_distance")

    def __init__(self, words: Iterable[str], max_distance: int = 2):
        if isinstance(words, str):
            raise TypeError("words must be an iterable of str (a word list), got a single str; wrap it in a list")
        if isinstance(max_distance, bool) or not isinstance(max_distance, (int, np.integer)) or max_distance < 0:
            raise ValueError(f"max_distance must be a non-negative int, got {max_distance!r}")
        self.max_distance = int(max_distance)
        unique = []
        for w in dict.fromkeys(words):
            if not isinstance(w, str):
                raise TypeError(f"DeletionIndex holds str words, got {type(w).__name__}: {w!r}")
            unique.append(w)
        self._words = unique
        hashes, ids = [], []
        for i, w in enumerate(unique):
            vs = deletion_variants(w, self.max_distance)
            hashes.extend(map(hash, vs))
            ids.extend([i] * len(vs))
        keys = np.array(hashes, dtype=np.int64).view(np.uint64)
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._ids = np.array(ids, dtype=np.int32)[order]
        # A directory on the top bits of the hash: bucket b's keys are keys[directory[b]:directory[b + 1]].
        # With about 4 keys a bucket a look-up is two gathers, where a binary search over the whole
        # table would miss the cache at every one of its ~22 steps.
        bits = max(1, min(24, int(np.ceil(np.log2(max(2, self._keys.size / 4))))))
        self._shift = np.uint64(64 - bits)
        bucket = (self._keys >> self._shift).astype(np.int64)
        self._directory = np.searchsorted(bucket, np.arange(2**bits + 1)).astype(np.int64)

    def __len__(self) -> int:
        return len(self._words)

    def __iter__(self):
        return iter(self._words)

    @property
    def entries(self) -> int:
        """How many (variant, word) pairs the table holds."""
        return int(self._keys.size)

    def candidates(self, word: str, max_distance: int) -> np.ndarray:
        """Ids of the words sharing a deletion variant with ``word`` (a superset of the answer)."""
        probe = np.fromiter(map(hash, deletion_variants(word, max_distance)), dtype=np.int64).view(np.uint64)
        bucket = (probe >> self._shift).astype(np.int64)
        lo, hi = self._directory[bucket], self._directory[bucket + 1]
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int32)
        # Every key in the probes' buckets (concatenated ranges, no Python loop), kept where it matches.
        owner = np.repeat(np.arange(probe.size), counts)
        pos = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) + np.arange(total)
        match = self._keys[pos] == probe[owner]
        return np.unique(self._ids[pos[match]])

    def search(self, word: str, max_distance: int) -> list[tuple[int, str]]:
        """All words within ``max_distance`` edits of ``word`` as (distance, word), sorted."""
        if not isinstance(word, str):
            raise TypeError(f"word must be a str, got {type(word).__name__}")
        if isinstance(max_distance, bool) or not isinstance(max_distance, (int, np.integer)) or max_distance < 0:
            raise ValueError(f"max_distance must be a non-negative int, got {max_distance!r}")
        k = int(max_distance)
        words = self._words
        distance = Levenshtein.distance
        if k > self.max_distance:
            # Beyond what the table covers: a scan is the exact answer (rare; build with a larger bound).
            pool = words
        else:
            pool = [words[i] for i in self.candidates(word, k).tolist()]
        found = []
        for w in pool:
            d = distance(word, w, score_cutoff=k)
            if d <= k:
                found.append((d, w))
        found.sort()
        return found
