"""Lexicon-based transcription (CRNN paper, Shi et al. 2015, sec. 2.3.3) with a BK-tree over the lexicon."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from rapidfuzz.distance import Levenshtein

from workbench.ctc._alignment import _check_blank, _check_log_probs, minimal_input_length
from workbench.ctc._decode import best_path_decode
from workbench.ctc._deletion_index import DeletionIndex


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) by the textbook dynamic programme.

    Written out for the lesson; :class:`BKTree` uses rapidfuzz's implementation of the same metric.
    """
    if not isinstance(a, str) or not isinstance(b, str):
        raise TypeError(f"levenshtein compares two str, got {type(a).__name__} and {type(b).__name__}")
    previous = list(range(len(b) + 1))  # row i-1 of the DP table: distance from a[:i-1] to b[:j]
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


class BKTree:
    """Burkhard-Keller tree over a word list under the Levenshtein metric (rapidfuzz).

    Every child hangs off its parent at edge label d = distance(parent, child). A search for words within
    k of a query that finds d(query, node) = d only needs children with edge labels in [d - k, d + k]
    (triangle inequality), so it visits a small part of the lexicon for small k.
    """

    __slots__ = ("_root", "_size")

    def __init__(self, words: Iterable[str]):
        self._root = None  # node = [word, {edge_distance: child_node}]
        self._size = 0
        if isinstance(words, str):
            raise TypeError("words must be an iterable of str (a word list), got a single str; wrap it in a list")
        for word in words:
            self.add(word)

    def add(self, word: str) -> bool:
        """Insert ``word``; returns False when it was already present."""
        if not isinstance(word, str):
            raise TypeError(f"BKTree holds str words, got {type(word).__name__}: {word!r}")
        if self._root is None:
            self._root = [word, {}]
            self._size = 1
            return True
        node = self._root
        distance = Levenshtein.distance
        while True:
            d = distance(word, node[0])
            if d == 0:
                return False
            child = node[1].get(d)
            if child is None:
                node[1][d] = [word, {}]
                self._size += 1
                return True
            node = child

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        stack = [self._root] if self._root is not None else []
        while stack:
            node = stack.pop()
            yield node[0]
            stack.extend(node[1].values())

    def search_counted(self, word: str, max_distance: int) -> tuple[list[tuple[int, str]], int]:
        """Like :meth:`search`, also returning how many distances were computed (nodes visited)."""
        if not isinstance(word, str):
            raise TypeError(f"word must be a str, got {type(word).__name__}")
        if isinstance(max_distance, bool) or not isinstance(max_distance, (int, np.integer)) or max_distance < 0:
            raise ValueError(f"max_distance must be a non-negative int, got {max_distance!r}")
        found: list[tuple[int, str]] = []
        visited = 0
        if self._root is None:
            return found, visited
        distance = Levenshtein.distance
        stack = [self._root]
        while stack:
            node = stack.pop()
            d = distance(word, node[0])
            visited += 1
            if d <= max_distance:
                found.append((d, node[0]))
            low, high = d - max_distance, d + max_distance
            for edge, child in node[1].items():
                if low <= edge <= high:
                    stack.append(child)
        found.sort()
        return found, visited

    def search(self, word: str, max_distance: int) -> list[tuple[int, str]]:
        """All lexicon words within ``max_distance`` edits of ``word`` as (distance, word), sorted."""
        return self.search_counted(word, max_distance)[0]


class LexiconDecodeResult(NamedTuple):
    """What :func:`lexicon_decode` found.

    word: the chosen lexicon word; log_likelihood: its ln p(word | y) (``-inf`` if no word can be
    emitted); lexicon_free: the best-path transcription it started from; candidates: how many lexicon
    words were scored; fell_back: True when no word was within ``max_distance`` and the whole lexicon
    was scored instead.
    """

    word: str
    log_likelihood: float
    lexicon_free: str
    candidates: int
    fell_back: bool


class LexiconFallbackWarning(UserWarning):
    """No lexicon word lies within max_distance of the lexicon-free transcription; the whole lexicon was scored."""


def _charset_lookup(charset: Sequence[str], num_classes: int, blank: int) -> tuple[dict[str, int], list[str]]:
    """Map characters to class ids and ids to characters.

    ``charset`` either has C entries indexed by class id (the entry at ``blank`` is ignored) or C - 1
    entries for the non-blank classes in order.
    """
    chars = list(charset)
    if len(chars) == num_classes:
        id_to_char = [c if i != blank else "" for i, c in enumerate(chars)]
    elif len(chars) == num_classes - 1:
        id_to_char = chars[:blank] + [""] + chars[blank:]
    else:
        raise ValueError(
            f"charset must have C = {num_classes} entries (one per class, blank's ignored) or C - 1 = "
            f"{num_classes - 1} (the non-blank classes in order), got {len(chars)}"
        )
    for c in id_to_char:
        if not isinstance(c, str):
            raise TypeError(f"charset entries must be str, got {type(c).__name__}")
    char_to_id = {c: i for i, c in enumerate(id_to_char) if i != blank}
    return char_to_id, id_to_char


def batch_log_likelihood(log_probs, targets: Sequence[Sequence[int]], blank: int = 0, chunk: int = 4096) -> np.ndarray:
    """ln p(l | y) for many labellings of one (T, C) output at once (numpy forward recursion, batched).

    Labellings that need more frames than T get ``-inf``. Used to score lexicon candidates.
    """
    log_probs = _check_log_probs(log_probs)
    T, C = log_probs.shape
    blank = _check_blank(blank, C)
    out = np.full(len(targets), -np.inf)
    for begin in range(0, len(targets), chunk):
        batch = [np.asarray(t, dtype=np.int64).reshape(-1) for t in targets[begin : begin + chunk]]
        s_max = max((len(t) for t in batch), default=0)
        L = 2 * s_max + 1
        ext = np.full((len(batch), L), blank, dtype=np.int64)
        for i, t in enumerate(batch):
            if ((t < 0) | (t >= C) | (t == blank)).any():
                raise ValueError(f"targets[{begin + i}] holds ids outside [0, {C}) or the blank {blank}")
            ext[i, 1 : 2 * len(t) : 2] = t
        lengths = np.array([len(t) for t in batch])
        skip = np.zeros_like(ext, dtype=bool)
        skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
        alpha = np.full(ext.shape, -np.inf)
        alpha[:, 0] = log_probs[0, ext[:, 0]]
        if L > 1:
            alpha[:, 1] = log_probs[0, ext[:, 1]]
        for t in range(1, T):
            cur = alpha.copy()
            cur[:, 1:] = np.logaddexp(cur[:, 1:], alpha[:, :-1])
            if L > 2:
                cur[:, 2:] = np.where(skip[:, 2:], np.logaddexp(cur[:, 2:], alpha[:, :-2]), cur[:, 2:])
            alpha = cur + log_probs[t, ext]
        rows = np.arange(len(batch))
        end = np.logaddexp(alpha[rows, 2 * lengths], np.where(lengths > 0, alpha[rows, np.maximum(2 * lengths - 1, 0)], -np.inf))
        feasible = np.array([minimal_input_length(t) <= T for t in batch])
        out[begin : begin + len(batch)] = np.where(feasible, end, -np.inf)
    return out


def lexicon_decode(
    log_probs,
    lexicon: BKTree | DeletionIndex | Iterable[str],
    charset: Sequence[str],
    max_distance: int = 2,
    blank: int = 0,
) -> LexiconDecodeResult:
    """Lexicon-based transcription as in the CRNN paper (sec. 2.3.3).

    1. Lexicon-free transcription l' by best path decoding.
    2. Candidates N_delta(l'): lexicon words within ``max_distance`` edits of l', found with a BK-tree.
    3. Return the candidate with the highest p(l | y), computed by the forward algorithm.

    When no word is that close, every lexicon word is scored instead, a :class:`LexiconFallbackWarning`
    is issued and the result has ``fell_back=True``. Words with characters outside ``charset`` cannot be
    emitted and are skipped. Pass a prebuilt :class:`BKTree` (or the faster :class:`DeletionIndex`, same
    candidates) as ``lexicon`` to decode many lines against the same lexicon; a plain word list is turned
    into a tree on every call.

    ``charset`` gives each class's character: C entries indexed by class id (the blank's entry is
    ignored) or C - 1 entries for the non-blank classes in order.
    """
    log_probs = _check_log_probs(log_probs)
    T, C = log_probs.shape
    blank = _check_blank(blank, C)
    if isinstance(max_distance, bool) or not isinstance(max_distance, (int, np.integer)) or max_distance < 0:
        raise ValueError(f"max_distance must be a non-negative int, got {max_distance!r}")
    char_to_id, id_to_char = _charset_lookup(charset, C, blank)
    tree = lexicon if isinstance(lexicon, (BKTree, DeletionIndex)) else BKTree(lexicon)
    if len(tree) == 0:
        raise ValueError("lexicon is empty; pass at least one word")
    lexicon_free = "".join(id_to_char[k] for k in best_path_decode(log_probs, blank))
    near = [w for _, w in tree.search(lexicon_free, max_distance)]
    fell_back = False
    words = [w for w in near if all(c in char_to_id for c in w)]
    if not words:
        fell_back = True
        warnings.warn(
            f"no lexicon word within {max_distance} edits of {lexicon_free!r}; scoring all {len(tree)} words",
            LexiconFallbackWarning,
            stacklevel=2,
        )
        words = [w for w in tree if all(c in char_to_id for c in w)]
        if not words:
            raise ValueError("no lexicon word can be spelled with charset; check that charset matches the model")
    words.sort()  # a fixed order makes ties resolve the same way on every run
    scores = batch_log_likelihood(log_probs, [[char_to_id[c] for c in w] for w in words], blank)
    best = int(np.argmax(scores))
    return LexiconDecodeResult(words[best], float(scores[best]), lexicon_free, len(words), fell_back)
