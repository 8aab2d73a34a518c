"""Suggest ICD-10-CM codes for a note: the main diagnosis, other diagnoses (CC) and status codes."""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.clinical.coding._index import CodeIndex, load_index
from workbench.clinical.coding.calibration import Calibration, features, load_calibration
from workbench.clinical.coding.ranker import Candidate, rank_text
from workbench.errors import UserError

__all__ = ["MAX_TEXT_CHARS", "CodingResult", "Suggestion", "suggest_codes"]

MAX_TEXT_CHARS = 5000  # a discharge summary's diagnosis section; whole records belong elsewhere


@dataclass(frozen=True)
class Suggestion:
    """One suggested code: ``probability`` calibrated, ``evidence`` the words of the note that matched."""

    code: str
    description: str
    probability: float
    score: float
    role: str  # "main", "secondary" (complication/comorbidity), "status" (history, s/p) or "alternative"
    matched_text: str  # the code-set text that matched (description or inclusion term)
    evidence: tuple[dict, ...]  # {"text", "start", "end"} spans of the note

    def to_dict(self) -> dict:
        return {
            "code": self.code, "description": self.description, "probability": round(self.probability, 4),
            "score": round(self.score, 4), "role": self.role, "matched_text": self.matched_text,
            "evidence": list(self.evidence),
        }  # fmt: skip


@dataclass(frozen=True)
class CodingResult:
    main: Suggestion | None
    secondary: tuple[Suggestion, ...]
    alternatives: tuple[Suggestion, ...]
    negated: tuple[dict, ...]  # spans left out because the note negates them
    corrected: dict = field(default_factory=dict)  # misspelled word -> vocabulary term used
    code_system_version: str = ""

    def to_dict(self) -> dict:
        return {
            "main": self.main.to_dict() if self.main else None,
            "secondary": [s.to_dict() for s in self.secondary],
            "alternatives": [s.to_dict() for s in self.alternatives],
            "negated": list(self.negated),
            "corrected": dict(self.corrected),
            "code_system": "http://hl7.org/fhir/sid/icd-10-cm",
            "code_system_version": self.code_system_version,
        }


def _spans(tokens) -> tuple[dict, ...]:
    seen, out = set(), []
    for tok in tokens:
        if (tok.start, tok.end) not in seen:
            seen.add((tok.start, tok.end))
            out.append({"text": tok.surface, "start": tok.start, "end": tok.end})
    return tuple(out)


def _suggestions(candidates: tuple[Candidate, ...], calibration: Calibration, role_of_first: str) -> list[Suggestion]:
    if not candidates:
        return []
    feats = features(candidates)
    out = []
    for i, (cand, (rel, margin)) in enumerate(zip(candidates, feats)):
        out.append(Suggestion(
            code=cand.code, description=cand.description, probability=calibration.probability(rel, margin),
            score=cand.score, role=role_of_first if i == 0 else "alternative", matched_text=cand.matched_text,
            evidence=_spans(cand.evidence),
        ))  # fmt: skip
    return out


def suggest_codes(
    text: str, *, k: int = 10, index: CodeIndex | None = None, calibration: Calibration | None = None
) -> CodingResult:
    """Code a clinical ``text``: the first clause that yields a code gives the main diagnosis; each
    further clause its best code as a secondary diagnosis (CC); "status post"/"history of" parts their
    best status code (chapter 21); the main clause's runners-up are the alternatives (up to ``k`` codes in all).

    >>> suggest_codes("left chronic otitis media status post").main.code        # doctest: +SKIP
    'H66.92'
    """
    if not isinstance(text, str):
        raise UserError(f"suggest_codes(text): expected a string, got {type(text).__name__}")
    if not text.strip():
        raise UserError("suggest_codes(text): the text is empty; paste the diagnosis or note to code")
    if len(text) > MAX_TEXT_CHARS:
        raise UserError(f"suggest_codes(text): {len(text)} characters, at most {MAX_TEXT_CHARS}; send the diagnosis section only")
    if not isinstance(k, int) or not 1 <= k <= 50:
        raise UserError(f"suggest_codes(k): expected an integer from 1 to 50, got {k!r}")
    index = index or load_index()
    calibration = calibration or load_calibration()
    rankings = rank_text(index, text, k=k)
    main, secondary, alternatives, negated, corrected = None, [], [], [], {}
    taken: set[str] = set()
    for ranking in rankings:
        corrected.update(ranking.corrected)
        negated.extend(_spans(ranking.clause.negated))
        ranked = _suggestions(ranking.candidates, calibration, "main" if main is None else "secondary")
        if ranked:
            if main is None:
                main, alternatives = ranked[0], ranked[1:]
                taken.add(main.code)
            elif ranked[0].code not in taken:
                secondary.append(ranked[0])
                taken.add(ranked[0].code)
        for status in _suggestions(ranking.status_candidates, calibration, "status")[:1]:
            if status.code not in taken:
                secondary.append(status)
                taken.add(status.code)
    room = max(k - 1 - len(secondary), 0)
    alternatives = [a for a in alternatives if a.code not in taken][:room]
    return CodingResult(main, tuple(secondary), tuple(alternatives), tuple(negated), corrected, index.version)
