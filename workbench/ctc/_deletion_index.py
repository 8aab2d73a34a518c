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
build (every word's variants, once, compiled: ``_fast_lexicon``) and the table: one 64-bit hash and one
word id per variant, in two sorted numpy arrays rather than a dict of strings (a third of the memory, and
no per-entry objects). The hash is a fixed function of the string, not Python's salted ``hash``.
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
        from workbench.ctc import _fast_lexicon  # numba loads here, on first use only

        # Compiled: every word's variants hashed straight from its code points, no string per variant
        # (the Python set-of-strings build took 20 s for 104k words at k = 2).
        codes, offsets = _fast_lexicon.encode(unique)
        self._keys, self._ids, self._directory, self._shift = _fast_lexicon.build_table(codes, offsets, self.max_distance)

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
        from workbench.ctc import _fast_lexicon

        query = np.frombuffer(word.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        return _fast_lexicon.lookup(query, int(max_distance), self._keys, self._ids, self._directory, self._shift)

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
