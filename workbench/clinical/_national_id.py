"""Taiwanese national identification numbers (國民身分證統一編號): checksum, synthesis, id space.

Layout: one letter (the household-registration area where the number was first issued), a sex digit
(1 = male, 2 = female), seven serial digits and one check digit, e.g. ``A123456789``.

Checksum: the letter becomes a two-digit area code (A=10 ... H=17, J=18 ... N=22, P=23 ... V=29,
X=30, Y=31, W=32, Z=33, I=34, O=35: the letters I, O, W, Z were added later and got the high
codes). Writing the code as digits ``c1 c2`` and the remaining nine digits as ``d1 .. d9``,

    c1*1 + c2*9 + d1*8 + d2*7 + d3*6 + d4*5 + d5*4 + d6*3 + d7*2 + d8*1 + d9*1  ≡ 0  (mod 10)

so the check digit ``d9`` is fixed by the other digits and the valid space has
26 letters x 2 sex digits x 10**7 serials = 520 000 000 numbers. That small size is why a plain
(unkeyed) hash of an id is no pseudonym: every hash can be recomputed for every candidate.

Every id made here is synthetic (drawn from a seeded generator); none refers to a person.
"""

from __future__ import annotations

import re

import numpy as np

AREA_CODES: dict[str, int] = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34, "J": 18,
    "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25, "S": 26, "T": 27,
    "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}  # fmt: skip
# Weights of the nine digits after the letter (sex digit, seven serial digits, check digit).
DIGIT_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 1, 1)
SEX_DIGITS = {"M": "1", "F": "2"}
NATIONAL_ID_PATTERN = re.compile(r"[A-Z][12][0-9]{8}")
SERIAL_DIGITS = 7


def _letter_sum(letter: str) -> int:
    code = AREA_CODES[letter]
    return (code // 10) * 1 + (code % 10) * 9


def check_digit(prefix: str) -> str:
    """Return the check digit completing a 9-character ``prefix`` (letter, sex digit, 7 serial digits)."""
    if not isinstance(prefix, str) or re.fullmatch(r"[A-Z][12][0-9]{7}", prefix) is None:
        raise ValueError(
            f"check_digit(prefix): expected a letter A-Z, a sex digit 1/2 and seven digits "
            f"(9 characters, e.g. 'A12345678'), got {prefix!r}"
        )
    total = _letter_sum(prefix[0]) + sum(int(d) * w for d, w in zip(prefix[1:], DIGIT_WEIGHTS))
    return str((10 - total % 10) % 10)


def is_valid_national_id(value: object) -> bool:
    """True when ``value`` is a well-formed Taiwanese national id whose check digit is right."""
    if not isinstance(value, str) or NATIONAL_ID_PATTERN.fullmatch(value) is None:
        return False
    return check_digit(value[:9]) == value[9]


def valid_id_space_size(letters: int = len(AREA_CODES), sex_digits: int = 2) -> int:
    """Number of valid ids: letters x sex digits x 10**7 serials (the check digit adds nothing)."""
    return letters * sex_digits * 10**SERIAL_DIGITS


def synthetic_national_ids(n: int, sexes: list[str] | np.ndarray, rng: np.random.Generator) -> list[str]:
    """Draw ``n`` distinct, checksum-valid synthetic ids; ``sexes[i]`` ("M"/"F") sets the sex digit."""
    if len(sexes) != n:
        raise ValueError(f"synthetic_national_ids: sexes has {len(sexes)} entries, expected n={n}")
    letters = np.array(sorted(AREA_CODES))
    ids: list[str] = []
    seen: set[str] = set()
    for sex in sexes:
        if sex not in SEX_DIGITS:
            raise ValueError(f"synthetic_national_ids: sex must be 'M' or 'F', got {sex!r}")
        while True:
            prefix = f"{rng.choice(letters)}{SEX_DIGITS[sex]}{int(rng.integers(0, 10**SERIAL_DIGITS)):07d}"
            candidate = prefix + check_digit(prefix)
            if candidate not in seen:
                seen.add(candidate)
                ids.append(candidate)
                break
    return ids


def candidate_ids(letter: str, sex_digit: str, start: int = 0, stop: int = 10**SERIAL_DIGITS) -> np.ndarray:
    """All valid ids with this ``letter`` and ``sex_digit`` whose serial lies in [start, stop).

    Returned as an ``(stop - start, 10)`` uint8 array of ASCII codes, built with array arithmetic
    (no Python loop), ready for a vectorized hash.
    """
    if letter not in AREA_CODES:
        raise ValueError(f"candidate_ids(letter): expected one of A-Z, got {letter!r}")
    if sex_digit not in ("1", "2"):
        raise ValueError(f"candidate_ids(sex_digit): expected '1' (male) or '2' (female), got {sex_digit!r}")
    if not 0 <= start <= stop <= 10**SERIAL_DIGITS:
        raise ValueError(f"candidate_ids: need 0 <= start <= stop <= 10**7, got start={start}, stop={stop}")
    serial = np.arange(start, stop, dtype=np.int64)
    # Digits of the serial, most significant first: shape (n, 7).
    powers = 10 ** np.arange(SERIAL_DIGITS - 1, -1, -1, dtype=np.int64)
    digits = (serial[:, None] // powers) % 10
    weights = np.array(DIGIT_WEIGHTS[1:8], dtype=np.int64)
    total = _letter_sum(letter) + int(sex_digit) * DIGIT_WEIGHTS[0] + digits @ weights
    check = (10 - total % 10) % 10
    out = np.empty((serial.size, 10), dtype=np.uint8)
    out[:, 0] = ord(letter)
    out[:, 1] = ord(sex_digit)
    out[:, 2:9] = digits + ord("0")
    out[:, 9] = check + ord("0")
    return out
