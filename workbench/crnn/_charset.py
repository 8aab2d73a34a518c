"""The recognizer's alphabet and the label <-> class-index codec.

Class 0 is the CTC blank; character ``CHARSET[i]`` is class ``i + 1``. The order is fixed and stored
in every checkpoint, so a model trained today decodes the same way after the constant changes.
"""

from __future__ import annotations

import numpy as np

#: Digits, lower case, upper case, space, the punctuation of dates, amounts and percentages, then the
#: punctuation of running text and forms. The first 71 characters keep the order of the first release, so
#: its classes map one to one onto the same indices (``train --init`` relies on it only by character).
CHARSET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,-/:$%'" + '!?;()"&#@+*=[]'

BLANK = 0


def _check_charset(charset: str) -> str:
    if not isinstance(charset, str) or not charset:
        raise TypeError(f"charset: expected a non-empty str of distinct characters, got {charset!r}")
    if len(set(charset)) != len(charset):
        dupes = sorted({c for c in charset if charset.count(c) > 1})
        raise ValueError(f"charset: characters must be distinct, {dupes!r} repeat; remove the duplicates")
    return charset


def label_to_array(label: str, charset: str = CHARSET, source: str | None = None) -> np.ndarray:
    """Encode ``label`` as an int64 array of class indices (blank = 0, ``charset[i]`` -> ``i + 1``).

    ``source`` names where the label came from (a file name) so that an error can point at it.
    """
    if not isinstance(label, str):
        raise TypeError(f"label: expected str, got {type(label).__name__}")
    _check_charset(charset)
    index = {c: i + 1 for i, c in enumerate(charset)}
    out = np.empty(len(label), dtype=np.int64)
    for k, ch in enumerate(label):
        try:
            out[k] = index[ch]
        except KeyError:
            where = f" in {source!r}" if source else ""
            raise ValueError(
                f"label {label!r}{where}: character {ch!r} (position {k}) is not in the charset "
                f"{charset!r}; fix the label or train with a charset that contains it"
            ) from None
    return out


def array_to_label(indices, charset: str = CHARSET) -> str:
    """Decode class indices (already collapsed, blanks removed) back to a string."""
    _check_charset(charset)
    out = []
    for i in np.asarray(indices, dtype=np.int64).ravel():
        if not 1 <= i <= len(charset):
            raise ValueError(
                f"indices: class {int(i)} is outside 1..{len(charset)} for a charset of {len(charset)} "
                "characters (0 is the blank and must be removed before decoding)"
            )
        out.append(charset[i - 1])
    return "".join(out)


# File names cannot hold '/', and on some systems ':' or '%'; the loader's convention escapes them
# as %XX (the hex code point), like URL quoting, and '%' itself as %25 so decoding is unambiguous.
_UNSAFE = set('/\\:%*?"<>|_')


def escape_label(label: str) -> str:
    """Escape ``label`` for use as the ``<label>`` part of a file name ``<label>_<anything>.<ext>``.

    ``/``, ``\\``, ``:``, ``%``, ``_`` (the separator) and other characters file systems reject
    become ``%XX``; :func:`unescape_label` inverts it.
    """
    if not isinstance(label, str):
        raise TypeError(f"label: expected str, got {type(label).__name__}")
    return "".join(f"%{ord(c):02X}" if c in _UNSAFE or ord(c) < 32 else c for c in label)


def unescape_label(text: str) -> str:
    """Invert :func:`escape_label`; a malformed ``%`` escape raises ``ValueError``."""
    out, k = [], 0
    while k < len(text):
        c = text[k]
        if c == "%":
            code = text[k + 1 : k + 3]
            if len(code) != 2 or any(h not in "0123456789abcdefABCDEF" for h in code):
                raise ValueError(
                    f"file label {text!r}: '%' at position {k} must be followed by two hex digits "
                    "(write a literal '%' as %25)"
                )
            out.append(chr(int(code, 16)))
            k += 3
        else:
            out.append(c)
            k += 1
    return "".join(out)
