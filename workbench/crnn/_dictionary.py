"""Dictionary correction: a word prior over the CTC output, applied word by word with a margin.

The paper's lexicon-based transcription (sec. 2.3.3, ``Recognizer(lexicon=...)``) forces every word onto its
nearest lexicon word, which suits a closed vocabulary (a form's field, a product list) and breaks numbers,
names and codes. Open text needs the softer rule a dictionary-backed reader applies: a word the network reads
is kept when the dictionary knows it, and an unknown word is replaced by a dictionary word only when the CTC
output finds that word nearly as likely,

    ln p(w* | frames) >= ln p(reading | frames) - margin,   w* = argmax over dictionary words near the reading,

both scored by the forward algorithm over the word's own frames (``workbench.ctc.batch_log_likelihood``).
``margin`` is the log prior odds of "a dictionary word" against "this exact unknown string"; it is tuned on
held-out-font lines of our own renderer (``python -m workbench.crnn.calibrate``), never on the
benchmark's images. Case follows the frames: every candidate is scored as printed lower, Capitalized and UPPER.
An unknown word may also be two known words run together (a space the network missed): the reading with the
space put back is one more candidate, under the same margin. Two look-alike rules use the same test: a
letter inside a number (``I4,822``, ``$4.0r``) is tried as the digit it resembles, and a digit glued to a word
(``4venue``) is searched as a letter.

The default word list is Debian's ``wamerican`` (``/usr/share/dict/american-english``, installed by ``make
setup``), independent of the training corpus.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

SYSTEM_WORDS = Path("/usr/share/dict/american-english")
#: ln-odds margin for models without a tuned one (`calibrate.py` tunes and stores it per checkpoint).
DEFAULT_MARGIN = 4.0
#: Words shorter than this are never corrected: one- and two-letter strings are all within reach of some word.
DEFAULT_MIN_LENGTH = 3


def path_characters(lp: np.ndarray, charset: str) -> list[tuple[str, int, int]]:
    """The best path's characters with the frames each owns: ``(char, first, end)``; repeats merged, blanks
    skipped (class 0 is the blank, class k is ``charset[k - 1]``)."""
    path = np.asarray(lp).argmax(1)
    chars: list[tuple[str, int, int]] = []
    prev = 0
    for t, k in enumerate(path.tolist()):
        if k != 0 and k != prev:
            chars.append((charset[k - 1], t, t + 1))
        elif k != 0 and chars:
            chars[-1] = (chars[-1][0], chars[-1][1], t + 1)
        prev = k
    return chars


def word_spans(chars: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    """``[i, j)`` ranges of ``chars`` that form words: letters, with apostrophes between letters (``can't``)."""
    spans, i, n = [], 0, len(chars)
    while i < n:
        if not chars[i][0].isalpha():
            i += 1
            continue
        j = i + 1
        while j < n and (chars[j][0].isalpha() or (chars[j][0] == "'" and j + 1 < n and chars[j + 1][0].isalpha())):
            j += 1
        spans.append((i, j))
        i = j
    return spans


#: Letters a network may read for a digit of the same shape, and the digits they stand for.
DIGIT_LOOKALIKES = {"I": "1", "l": "1", "i": "1", "r": "1", "O": "0", "o": "0", "D": "0", "Q": "0", "S": "5",
                    "s": "5", "B": "8", "Z": "2", "z": "2", "g": "9", "q": "9", "G": "6", "b": "6", "T": "7",
                    "A": "4"}
#: Digits a network may read for a letter of the same shape (a word such as ``4venue`` or ``s0``).
LETTER_LOOKALIKES = {"0": "oO", "1": "lI", "4": "aA", "5": "sS", "8": "B", "2": "zZ", "9": "g", "6": "bG"}
_NUMBER_CHARS = set("0123456789.,:$%#()+-/")


def glued_digit_spans(chars, spans) -> list[tuple[int, int]]:
    """Word spans widened over one digit glued to them (``4venue``, ``hous3``) when that digit has a letter
    look-alike and the word has three or more letters; other spans as they are."""
    out = []
    for i, j in spans:
        if j - i >= 3:
            if i > 0 and chars[i - 1][0] in LETTER_LOOKALIKES and (i == 1 or not chars[i - 2][0].isalnum()):
                i -= 1
            elif j < len(chars) and chars[j][0] in LETTER_LOOKALIKES and (j + 1 == len(chars) or not chars[j + 1][0].isalnum()):
                j += 1
        out.append((i, j))
    return out


def number_spans(text: str) -> list[tuple[int, int]]:
    """``[i, j)`` of space-delimited chunks that read as numbers with one or two letters in them (``I4,822``,
    ``$4.0r``, ``9:s6``): two or more digits, every other character a number's punctuation or a single
    letter with a digit look-alike (no two letters side by side: ``12th``, ``5pm`` are left alone)."""
    spans, pos = [], 0
    for chunk in text.split(" "):
        i, j = pos, pos + len(chunk)
        pos = j + 1
        letters = [k for k, c in enumerate(chunk) if c.isalpha()]
        digits = sum(c.isdigit() for c in chunk)
        if (digits >= 2 and 1 <= len(letters) <= 2 and digits > len(letters)
                and all(chunk[k] in DIGIT_LOOKALIKES for k in letters)
                and all(c in _NUMBER_CHARS or c.isalpha() for c in chunk)
                and all(b - a > 1 for a, b in zip(letters, letters[1:]))):
            spans.append((i, j))
    return spans


def segment_frames(chars, i: int, j: int, frames: int) -> tuple[int, int]:
    """A word's frames: from just after the previous character to just before the next one."""
    lo = chars[i - 1][2] if i > 0 else 0
    hi = chars[j][1] if j < len(chars) else frames
    return lo, hi


@functools.lru_cache(maxsize=8)
def _class_ids(charset: str) -> dict[str, int]:
    """Character -> class id (class 0 is the blank), built once per charset instead of once per word."""
    return {c: k + 1 for k, c in enumerate(charset)}


_HOST_DOT = re.compile(r"[A-Za-z]\.[A-Za-z]")


def is_address(text: str, i: int, j: int) -> bool:
    """Whether ``text[i:j]`` lies in a whitespace-delimited chunk that reads as an address: it holds ``@`` or
    ``/``, or a dot between letters (``uni.edu``, ``www.example``)."""
    lo = text.rfind(" ", 0, i) + 1
    hi = text.find(" ", j)
    chunk = text[lo : hi if hi >= 0 else len(text)]
    return "@" in chunk or "/" in chunk or _HOST_DOT.search(chunk) is not None


def consistent_case(word: str) -> str:
    """``word`` with capital I and lower-case l made to agree with the other letters' case: ``lD`` -> ``ID``,
    ``HeIlo`` -> ``Hello`` (a leading capital stays: ``Isn't``). Words of only I and l are left alone; so are
    mixed-case words. A name such as ``McIntosh`` would become ``Mclntosh``: the caller keeps the change only
    when the frames find it nearly as likely (one glyph in many sans faces, two distinct ones elsewhere)."""
    others = [c for c in word if c.isalpha() and c not in "Il"]
    if others and all(c.isupper() for c in others):
        return word.replace("l", "I")
    rest = [c for c in word[1:] if c.isalpha() and c not in "Il"]
    if rest and all(c.islower() for c in rest):
        return word[:1] + word[1:].replace("I", "l")
    return word


class Dictionary:
    """A word list and the rule for correcting unknown words to it (see the module docstring).

    ``words``: any iterable of words (case is folded); ``margin``: ln-odds, larger corrects more;
    ``min_length``: shorter readings are left alone; ``max_distance``: edits searched (1 for words of up to
    four letters, this above).
    """

    def __init__(self, words, margin: float = DEFAULT_MARGIN, min_length: int = DEFAULT_MIN_LENGTH,
                 max_distance: int = 2, name: str = "custom"):
        from workbench.ctc import DeletionIndex

        if isinstance(words, str):
            raise TypeError("words: expected an iterable of words, got one str; wrap it in a list")
        vocab = {w.strip().lower() for w in words if isinstance(w, str) and w.strip()}
        if not vocab:
            raise ValueError("words: the dictionary holds no words; pass a non-empty word list")
        if not np.isfinite(margin) or margin < 0:
            raise ValueError(f"margin: expected a finite number >= 0, got {margin!r}")
        self.vocab = frozenset(vocab)
        self.margin = float(margin)
        self.min_length = int(min_length)
        self.max_distance = int(max_distance)
        self.name = name
        self._index = DeletionIndex(sorted(vocab), max_distance=self.max_distance)

    @classmethod
    def system(cls, path=None, **kw) -> "Dictionary":
        """The system word list (Debian's wamerican by default); a one-line error when it is missing."""
        from workbench.errors import UserError

        path = Path(path) if path is not None else SYSTEM_WORDS
        try:
            words = path.read_text(encoding="utf-8").split()
        except (OSError, UnicodeDecodeError) as err:
            hint = "install it with `apt-get install wamerican` (make setup does)" if path == SYSTEM_WORDS else \
                "pass a UTF-8 text file with one word per line"
            raise UserError(f"--dictionary: cannot read {path} ({type(err).__name__}); {hint}") from None
        if not words:
            raise UserError(f"--dictionary: {path} holds no words; pass a text file with one word per line")
        return cls(words, name=str(path), **kw)

    def __repr__(self) -> str:
        return f"Dictionary({self.name!r}, {len(self.vocab)} words, margin={self.margin})"

    def candidates(self, word: str) -> list[str]:
        """Dictionary words near ``word`` in the three printed cases, nearest first."""
        low = word.lower()
        k = 1 if len(low) <= 4 else self.max_distance
        out: dict[str, None] = {}
        for _, w in self._index.search(low, k):
            for v in (w, w[:1].upper() + w[1:], w.upper()):
                out.setdefault(v, None)
        return list(out)

    def correct_word(self, lp: np.ndarray, word: str, charset: str) -> str:
        """``word`` (read from the frames ``lp``) or the word that replaces it: first the case rule for
        capital I and lower-case l (one glyph in many sans faces), then the dictionary."""
        ids = _class_ids(charset)
        word = self._choose(lp, word, [consistent_case(word)], ids)
        if len(word) < self.min_length or word.lower() in self.vocab:
            return word
        return self._choose(lp, word, self.candidates(word) + self.splits(word), ids)

    def splits(self, word: str) -> list[str]:
        """``word`` with one space inserted where both sides are dictionary words of three or more letters
        (``TELLVERY`` -> ``TELL VERY``): a space the network missed between words set close together. (Two
        letters are too few: nearly every pair is in a large word list, ``Ralance`` -> ``Ra lance``.)"""
        low = word.lower()
        return [f"{word[:p]} {word[p:]}" for p in range(3, len(word) - 2)
                if word[p - 1] != "'" and word[p] != "'" and low[:p] in self.vocab and low[p:] in self.vocab]

    def _choose(self, lp, word: str, candidates, ids) -> str:
        """The likeliest candidate if the frames find it within ``margin`` nats of ``word``, else ``word``."""
        cands = [c for c in candidates if c != word and all(ch in ids for ch in c)]
        if not cands:
            return word
        from workbench.ctc import batch_log_likelihood

        scores = batch_log_likelihood(lp, [[ids[ch] for ch in w] for w in [word, *cands]])
        best = int(np.argmax(scores[1:]))
        return cands[best] if scores[1 + best] >= scores[0] - self.margin else word

    def correct(self, lp: np.ndarray, charset: str) -> str:
        """The best-path reading of one line's ``(T, C)`` log-probabilities, unknown words corrected.

        Words inside an address (an e-mail, a URL, a dotted host name such as ``uni.edu``) are left as read:
        their parts are names, not words."""
        chars = path_characters(lp, charset)
        text = [c for c, _, _ in chars]
        ids = _class_ids(charset)
        # Numbers first, on the reading as the network gave it: a letter in a number becomes its digit
        # look-alike when the frames find the all-digit reading nearly as likely.
        for i, j in number_spans("".join(text)):
            chunk = "".join(text[i:j])
            lo, hi = segment_frames(chars, i, j, len(lp))
            fixed = self._choose(lp[lo:hi], chunk, [_as_digits(chunk)], ids)
            if fixed != chunk:
                text[i:j] = list(fixed)
        read = "".join(text)  # one character per entry until a word is replaced: positions as in chars
        for i, j in glued_digit_spans(chars, word_spans(chars)):
            if is_address(read, i, j):
                continue
            word = "".join(text[i:j])
            lo, hi = segment_frames(chars, i, j, len(lp))
            fixed = self.correct_word(lp[lo:hi], word, charset)
            if fixed != word:
                text[i:j] = [fixed] + [""] * (j - i - 1)
        return "".join(text)


def _as_digits(chunk: str) -> str:
    return "".join(DIGIT_LOOKALIKES.get(c, c) if c.isalpha() else c for c in chunk)
