"""Clinical text -> index terms: tokenizer, abbreviations, negation, "status post", laterality, clauses.

Every token keeps the character span it came from in the original note, so a suggestion can point at
its evidence. The same :func:`normalize_term` runs on the code set's descriptions and on queries, so the
two sides meet on one vocabulary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ABBREVIATIONS",
    "Clause",
    "Token",
    "analyze",
    "laterality_of",
    "normalize_term",
    "split_clauses",
    "tokenize",
]

# Common clinical abbreviations (lower-case keys). Ear/eye Latin sides (AS/AD/AU, OS/OD/OU) are kept
# because otology and ophthalmology notes use them for laterality.
ABBREVIATIONS: dict[str, str] = {
    "com": "chronic otitis media", "aom": "acute otitis media", "ome": "otitis media with effusion",
    "om": "otitis media", "csom": "chronic suppurative otitis media",
    "htn": "hypertension", "dm": "diabetes mellitus", "t2dm": "type 2 diabetes mellitus",
    "dm2": "type 2 diabetes mellitus", "t1dm": "type 1 diabetes mellitus", "dm1": "type 1 diabetes mellitus",
    "ckd": "chronic kidney disease", "aki": "acute kidney failure", "chf": "congestive heart failure",
    "hf": "heart failure", "cad": "coronary artery disease", "mi": "myocardial infarction",
    "ami": "acute myocardial infarction", "copd": "chronic obstructive pulmonary disease",
    "uti": "urinary tract infection", "uri": "upper respiratory infection", "cva": "cerebral infarction",
    "tia": "transient ischemic attack", "gerd": "gastro-esophageal reflux disease", "af": "atrial fibrillation",
    "afib": "atrial fibrillation", "dvt": "deep vein thrombosis", "oa": "osteoarthritis",
    "ra": "rheumatoid arthritis", "bph": "benign prostatic hyperplasia", "sob": "shortness of breath",
    "cp": "chest pain", "lbp": "low back pain", "fx": "fracture", "ha": "headache",
    "cabg": "aortocoronary bypass", "tkr": "knee replacement", "thr": "hip replacement",
    "ptca": "coronary angioplasty", "hx": "history", "pmh": "history", "osa": "obstructive sleep apnea",
    "ibs": "irritable bowel syndrome", "pud": "peptic ulcer", "ards": "acute respiratory distress syndrome",
    "nstemi": "non-st elevation myocardial infarction", "stemi": "st elevation myocardial infarction",
    "lt": "left", "rt": "right", "l": "left", "r": "right", "bilat": "bilateral", "bil": "bilateral",
    "as": "left ear", "ad": "right ear", "au": "bilateral ear", "os": "left eye", "od": "right eye",
    "ou": "bilateral eye",
    # Lay and clinical synonyms of the code set's wording: the word is kept and the code set's added.
    "cancer": "cancer malignant neoplasm", "carcinoma": "carcinoma malignant neoplasm",
    "tumor": "tumor neoplasm", "tumour": "tumor neoplasm", "malignancy": "malignant neoplasm",
    "hypertensive": "hypertensive hypertension", "kidney": "kidney renal", "renal": "renal kidney",
}  # fmt: skip
# Slash forms are rewritten before tokenizing (the tokenizer would split them).
_SLASH_FORMS = {"s/p": " status post ", "w/o": " without ", "w/": " with ", "h/o": " history of ",
                "c/o": " complains of ", "r/o": " rule out "}  # fmt: skip

# Words that carry no coding signal. "nos" (not otherwise specified) and "unspecified" stay out of the
# bag of words; the hierarchy step reads "unspecified" from the descriptions itself. "other" stays in:
# "Other hypertension" is a residual class and should not match a bare "hypertension" fully.
STOPWORDS = frozenset(
    "a an the of and or in on at to for by from as is was were be been are this that these those "
    "patient pt presents presenting complains complaining noted due nos unspecified site has have had".split()
)
_NEGATION = re.compile(r"\b(?:no|not|denies|denied|negative for|free of|absence of|absent|without evidence of"
                       r"|no evidence of|no history of|no signs? of|rule[sd]? out|ruled out)\b")  # fmt: skip
_STATUS_POST = re.compile(r"\b(?:status post|post[- ]op(?:erative)?|history of|hx of)\b")
_SCOPE_END = re.compile(r"\b(?:but|however|although|except|presents? with|now with|complains? of)\b")
_LATERAL = {"left": "L", "right": "R", "bilateral": "B", "both": "B"}
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CLAUSE_BREAK = re.compile(r"[.;\n]+(?=\s|$)|[.;\n]{2,}")


@dataclass(frozen=True)
class Token:
    """One index term of a note: ``term`` (normalized), its span ``start:end`` in the original text."""

    term: str
    start: int
    end: int
    surface: str


@dataclass(frozen=True)
class Clause:
    """One clause of a note, split into what it asserts, what it negates and its "status post" part."""

    text: str
    start: int
    end: int
    asserted: tuple[Token, ...]
    negated: tuple[Token, ...]
    status_post: tuple[Token, ...]
    laterality: str | None  # "L", "R", "B" or None


def _stem(word: str) -> str:
    # A light plural/suffix stripper: enough to meet "fractures"/"fracture", "ears"/"ear", not a Porter
    # stemmer (which would also merge "otitis" with unrelated words ending alike).
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ous")):
        return word[:-1]
    return word


def normalize_term(word: str) -> str:
    """The index form of one lower-case word (light stemming)."""
    return _stem(word.lower())


def tokenize(text: str, *, expand: bool = True, keep_stopwords: bool = False) -> list[Token]:
    """Words of ``text`` as :class:`Token` s with spans; abbreviations expanded to their words (same span)."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize(text): expected a string, got {type(text).__name__}")
    lowered = text.lower()
    tokens: list[Token] = []
    for match in _TOKEN.finditer(lowered):
        word = match.group().replace("'s", "")
        start, end = match.span()
        surface = text[start:end]
        expansion = ABBREVIATIONS.get(word) if expand else None
        words = expansion.split() if expansion else [word]
        for w in words:
            if not keep_stopwords and w in STOPWORDS:
                continue
            tokens.append(Token(normalize_term(w), start, end, surface))
    return tokens


def laterality_of(words: list[str] | tuple[str, ...]) -> str | None:
    """The side named by ``words`` ("L", "R", "B"), None when none; left and right together mean bilateral."""
    sides = {_LATERAL[w] for w in words if w in _LATERAL}
    if not sides:
        return None
    if "B" in sides or sides >= {"L", "R"}:
        return "B"
    return sides.pop()


def _spans(pattern: re.Pattern, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def split_clauses(text: str) -> list[tuple[int, int]]:
    """Character spans of the clauses of ``text`` (split at sentence ends, semicolons and new lines)."""
    spans, start = [], 0
    for match in _CLAUSE_BREAK.finditer(text):
        if text[start : match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _expand_slash_forms(text: str) -> tuple[str, list[int]]:
    """Text with ``s/p``-style forms spelled out, plus for each output character its input offset."""
    out, origin, i, lowered = [], [], 0, text.lower()
    while i < len(text):
        for form, spelled in _SLASH_FORMS.items():
            if lowered.startswith(form, i) and (i == 0 or not lowered[i - 1].isalnum()):
                out.append(spelled)
                origin.extend([i] * len(spelled))
                i += len(form)
                break
        else:
            out.append(text[i])
            origin.append(i)
            i += 1
    origin.append(len(text))
    return "".join(out), origin


def analyze(text: str) -> list[Clause]:
    """Split a note into clauses and each clause's tokens into asserted, negated and "status post" ones.

    Negation (NegEx-style, Chapman et al. 2001): a trigger ("no", "denies", "negative for", "ruled out"
    ...) negates the words after it up to the end of the clause or a scope breaker ("but", "however").
    "status post" / "history of" moves the words after it to the clause's status part, coded as a
    history or status (chapter 21) rather than a current disease. Laterality words are taken out of the
    bag of words and kept as the clause's side, which steers to the left/right/bilateral child code.
    """
    spelled, origin = _expand_slash_forms(text)
    clauses = []
    for c_start, c_end in split_clauses(spelled):
        piece = spelled[c_start:c_end].lower()
        marks = sorted([(s, "neg", e) for s, e in _spans(_NEGATION, piece)]
                       + [(s, "post", e) for s, e in _spans(_STATUS_POST, piece)]
                       + [(s, "end", e) for s, e in _spans(_SCOPE_END, piece)])  # fmt: skip
        tokens = tokenize(piece, keep_stopwords=False)
        asserted, negated, status, sides = [], [], [], []
        for tok in tokens:
            state = "asserted"
            for s, kind, e in marks:
                if s >= tok.start:
                    break
                if e <= tok.start:
                    state = {"neg": "negated", "post": "status", "end": "asserted"}[kind]
            trigger = next((kind for s, kind, e in marks if s <= tok.start < e), None)
            if trigger == "post" and tok.term == "history":
                state = "status"  # "history" is part of what status codes say ("Personal history of ...")
            elif trigger is not None:
                continue  # other trigger words are not evidence
            lo, hi = origin[c_start + tok.start], origin[c_start + tok.end - 1] + 1
            mapped = Token(tok.term, lo, hi, text[lo:hi])
            if tok.term in _LATERAL:
                if state == "asserted":
                    sides.append(tok.term)
                continue
            {"asserted": asserted, "negated": negated, "status": status}[state].append(mapped)
        lo, hi = origin[c_start], origin[c_end - 1] + 1 if c_end > c_start else origin[c_start]
        clauses.append(Clause(text[lo:hi], lo, hi, tuple(asserted), tuple(negated), tuple(status), laterality_of(sides)))
    return clauses
