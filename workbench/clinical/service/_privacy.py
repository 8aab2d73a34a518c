"""The privacy check: no clear national id and no source-table name may enter or leave the service.

The check runs on *meaning*, not bytes: on every string of the decoded resource (keys too), on decoded
query parameters and on path ids. Before matching, a string is brought to one canonical form, so the
usual ways of hiding an id from a byte scanner do not work:

* JSON escapes (``\\u0041123456789``) are resolved by the JSON parser before the check sees the string;
* NFKC folds full-width and other compatibility forms (``Ａ１２３...``) to ASCII;
* format characters (zero-width space, joiners, soft hyphen) are removed;
* in a second pass, spaces and the separators ``- . _ / ·`` are removed too.

Case is *not* folded for ids: a national id is an upper-case letter and nine digits, and folding made
random lower-case hex (UUIDs in identifiers) match about once in 300 values. Names are matched after
case folding (they are CJK, so folding only matters for romanized ones).

A match of the id pattern whose check digit is right counts as a national id; a source-table name
counts when it occurs anywhere in the canonical form (names are a few CJK characters, so a substring
test is the right granularity). The service answers such a request with a refusal that quotes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

from workbench.clinical._national_id import is_valid_national_id

__all__ = ["PrivacyGuard", "iter_strings"]

_ID_SHAPE = re.compile(r"[A-Z][12][0-9]{8}")
_CACHED_LEN = 128
_SEPARATORS = re.compile(r"[\s\-._/\u00b7]+")


def _canonical(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text)
    if not folded.isascii():
        folded = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return folded


def iter_strings(value: object, max_items: int = 100_000) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included (iteratively: no recursion on deep input)."""
    stack = [value]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > max_items:
            raise ValueError("the document has too many values to check")
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, sub in item.items():
                yield key
                stack.append(sub)
        elif isinstance(item, list):
            stack.extend(item)


class PrivacyGuard:
    """Finds clear national ids and names of the source table in text. ``names`` come from the database."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        canonical = sorted({_SEPARATORS.sub("", _canonical(n)).casefold() for n in names if n and n.strip()},
                           key=len, reverse=True)  # fmt: skip
        # One alternation, longest first, compiled once: a single C scan per string whatever the cohort size.
        self._names = re.compile("|".join(map(re.escape, canonical))) if canonical else None
        self.name_count = len(canonical)
        # Query keys and values repeat (parameter names, codes, ids read again): the answer for a short string
        # is a pure function of the string and this guard's names, so it is remembered (bounded, C lru_cache).
        self._cached = lru_cache(maxsize=8192)(self._problem)

    def problem(self, text: str) -> str | None:
        """``"a national id"`` or ``"a patient name"`` when ``text`` carries one, else None."""
        if not text:
            return None
        if len(text) <= _CACHED_LEN:
            return self._cached(text)
        return self._problem(text)

    def _problem(self, text: str) -> str | None:
        canonical = _canonical(text)
        compact = _SEPARATORS.sub("", canonical)
        for form in (canonical, compact) if compact != canonical else (canonical,):
            if any(is_valid_national_id(m.group(0)) for m in _ID_SHAPE.finditer(form)):
                return "a national id"
        if self._names is not None and self._names.search(compact.casefold()):
            return "a patient name"
        return None

    def problem_in(self, strings: Iterable[str]) -> str | None:
        for text in strings:
            found = self.problem(text)
            if found:
                return found
        return None
