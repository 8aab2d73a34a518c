"""Why an unkeyed hash of a national id is not a pseudonym: recover the id from its MD5.

Knowing (or guessing) the area letter and the sex leaves 10**7 serial numbers, the check digit
being fixed by them. Hashing all of them is a few seconds of vectorized numpy (:mod:`._md5`);
all 52 letter/sex pairs take a minute or so on one core, and a GPU or hashcat far less.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from workbench.clinical._md5 import hex_to_words, md5_words
from workbench.clinical._national_id import AREA_CODES, SERIAL_DIGITS, candidate_ids


def md5_hex_of(identifier: str) -> str:
    """The plain MD5 hex digest of ``identifier`` (UTF-8): what a naive "anonymization" stores."""
    if not isinstance(identifier, str):
        raise TypeError(f"md5_hex_of(identifier): expected a string, got {type(identifier).__name__}")
    return hashlib.md5(identifier.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Md5Recovery:
    """The outcome of :func:`recover_id_from_md5`: the id found (or ``None``) and the work done."""

    national_id: str | None
    candidates_tried: int
    letters: tuple[str, ...]
    sex_digits: tuple[str, ...]


def recover_id_from_md5(
    md5_hex: str,
    letters: str | tuple[str, ...] = tuple(sorted(AREA_CODES)),
    sex_digits: str | tuple[str, ...] = ("1", "2"),
    chunk: int = 1_000_000,
) -> Md5Recovery:
    """Find the national id whose MD5 is ``md5_hex`` by hashing every valid candidate.

    Enumerates the given area ``letters`` and ``sex_digits`` (all 52 combinations by default; one
    letter and one sex digit is what an attacker who knows the birth place and the sex needs), in
    chunks of ``chunk`` serial numbers, stopping at the first match.
    """
    target = hex_to_words(md5_hex.lower())
    letters = tuple(letters)
    sex_digits = tuple(sex_digits)
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"recover_id_from_md5(chunk): expected a positive int, got {chunk!r}")
    tried = 0
    for letter in letters:
        for sex in sex_digits:
            for start in range(0, 10**SERIAL_DIGITS, chunk):
                stop = min(start + chunk, 10**SERIAL_DIGITS)
                candidates = candidate_ids(letter, sex, start, stop)
                words = md5_words(candidates)
                hit = np.flatnonzero((words == target).all(axis=1))
                if hit.size:
                    tried += int(hit[0]) + 1
                    found = bytes(candidates[hit[0]]).decode("ascii")
                    return Md5Recovery(found, tried, letters, sex_digits)
                tried += stop - start
    return Md5Recovery(None, tried, letters, sex_digits)
