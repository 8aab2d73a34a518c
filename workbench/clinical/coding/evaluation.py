"""An honest evaluation: held-out inclusion terms, perturbed queries, a rapidfuzz baseline.

Inclusion terms are the code set's own synonyms for a code ("Chronic otitis media NOS" under H66.9),
so they make queries whose right answer is known. A sample of them is *removed from the index* before
querying with it, so the ranker cannot simply find the text it was given. (The package ships no
alphabetic index, so index entries cannot be held out as well.) Each held-out term is asked four ways:

* ``verbatim``; ``word_order`` (its words shuffled); ``typo`` (one edit in up to two words of five or
  more letters); ``abbreviation`` (a phrase replaced by its clinical abbreviation, only where one
  applies: these come from the ranker's own table, so this row measures that the expansion works and
  is no fair comparison with the baseline).

A prediction is right at the *billable* level when it is the term's own code (terms attached to a
billable leaf), or a billable code under it (terms attached to a category or subcategory, where the
term does not say which child applies); at the *category* level when it has the term's three-character
category.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import numpy as np

from workbench.clinical.coding._index import CodeIndex, build_index
from workbench.clinical.coding._text import ABBREVIATIONS, analyze
from workbench.clinical.coding.calibration import features
from workbench.clinical.coding.ranker import rank_terms

__all__ = ["HeldOutTerm", "PERTURBATIONS", "evaluate", "held_out_terms", "perturb", "rapidfuzz_baseline"]

PERTURBATIONS = ("verbatim", "word_order", "typo", "abbreviation")
BASELINE = "rapidfuzz token_set_ratio"
_PHRASES = sorted(((v, k) for k, v in ABBREVIATIONS.items() if " " in v or len(v) > 5), key=lambda p: -len(p[0]))


@dataclass(frozen=True)
class HeldOutTerm:
    code: str  # the node the term belongs to
    term: str
    is_leaf: bool


def held_out_terms(n: int, seed: int = 0) -> list[HeldOutTerm]:
    """``n`` inclusion terms drawn at random (seeded) from the whole code set."""
    import simple_icd_10_cm as icd

    pairs = [(c, t) for c in icd.get_all_codes(with_dots=True) if not icd.is_chapter_or_block(c)
             for t in icd.get_inclusion_term(c) if len(re.findall(r"[A-Za-z]{3,}", t)) >= 1]  # fmt: skip
    rng = random.Random(seed)
    chosen = rng.sample(pairs, min(n, len(pairs)))
    return [HeldOutTerm(c, t, icd.is_leaf(c)) for c, t in chosen]


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("delete", "substitute", "transpose", "insert"))
    letters = "abcdefghijklmnopqrstuvwxyz"
    if kind == "delete":
        return word[:i] + word[i + 1 :]
    if kind == "substitute":
        return word[:i] + rng.choice(letters.replace(word[i].lower(), "")) + word[i + 1 :]
    if kind == "transpose":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :] if word[i] != word[i + 1] else word[:i] + word[i + 2 :] + word[i]
    return word[:i] + rng.choice(letters) + word[i:]


def perturb(term: str, kind: str, rng: random.Random) -> str | None:
    """``term`` perturbed one way (None when the perturbation does not apply, e.g. no abbreviation)."""
    if kind == "verbatim":
        return term
    words = term.split()
    if kind == "word_order":
        if len(words) < 2:
            return None
        shuffled = words[:]
        while shuffled == words:
            rng.shuffle(shuffled)
        return " ".join(shuffled)
    if kind == "typo":
        long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if not long_words:
            return None
        for i in rng.sample(long_words, min(2, len(long_words))):
            words[i] = _typo(words[i], rng)
        return " ".join(words)
    if kind == "abbreviation":
        lowered = term.lower()
        for phrase, abbreviation in _PHRASES:
            match = re.search(rf"\b{re.escape(phrase)}\b", lowered)
            if match:
                return term[: match.start()] + abbreviation.upper() + term[match.end() :]
        return None
    raise ValueError(f"perturb(kind): expected one of {PERTURBATIONS}, got {kind!r}")


def rapidfuzz_baseline(index: CodeIndex, queries: list[str], k: int = 5, scorer=None) -> list[list[str]]:
    """Best-match baseline: rapidfuzz ``token_set_ratio`` (default) of the query against every billable
    code's description, both through ``default_process`` (done once for the descriptions).

    ``token_set_ratio`` is the strongest of rapidfuzz's scorers here: on 60 held-out terms it found
    30 % of codes first, ``ratio`` 22 %, ``token_sort_ratio`` 18 %, ``WRatio`` 8 % (and 5x slower).
    """
    from rapidfuzz import fuzz, process, utils

    scorer = scorer or fuzz.token_set_ratio
    key = id(index.leaves)
    if key not in _BASELINE_CHOICES:
        _BASELINE_CHOICES[key] = [utils.default_process(index.node_description[i]) for i in index.leaves]
    descriptions = _BASELINE_CHOICES[key]
    out = []
    for query in queries:
        hits = process.extract(utils.default_process(query), descriptions, scorer=scorer, processor=None, limit=k)
        out.append([index.leaf_code(h[2]) for h in hits])
    return out


_BASELINE_CHOICES: dict[int, list[str]] = {}


def _right(predicted: str, gold: HeldOutTerm, level: str) -> bool:
    if level == "category":
        return predicted[:3] == gold.code[:3]
    if gold.is_leaf:
        return predicted == gold.code
    return predicted.startswith(gold.code)  # ICD-10-CM codes nest by prefix


def _ranker_top(index: CodeIndex, query: str, k: int):
    tokens, side = [], None
    for clause in analyze(query):
        tokens.extend(clause.asserted + clause.status_post)  # a held-out term is one diagnosis: all of it
        side = side or clause.laterality
    candidates, _ = rank_terms(index, tuple(tokens), side, k=k)
    return candidates


def evaluate(
    n_terms: int = 400, seed: int = 0, *, baseline: bool = True, index: CodeIndex | None = None,
    perturbations: tuple[str, ...] = PERTURBATIONS,
) -> dict:
    """Hold out ``n_terms`` inclusion terms, query the ranker (and the baseline) with each perturbation.

    Returns ``{"rows": [...], "examples": [...], "calibration_data": {...}}``; rows carry top-1/top-5
    accuracy per (system, perturbation, level) and the number of queries.
    """
    terms = held_out_terms(n_terms, seed)
    index = index or build_index(exclude=[(t.code, t.term) for t in terms])
    missing = [t for t in terms if (t.code, t.term) not in index.held_out]
    if missing:
        raise ValueError(f"evaluate: the index still holds {len(missing)} of the held-out terms")
    rng = random.Random(seed + 1)
    position = {t: i for i, t in enumerate(terms)}
    rows, examples, calib = [], [], {"x": [], "y": [], "term": [], "rank": []}
    for kind in perturbations:
        queries = [(t, perturb(t.term, kind, rng)) for t in terms]
        queries = [(t, q) for t, q in queries if q]
        if not queries:
            continue
        ours = []
        for t, q in queries:
            candidates = _ranker_top(index, q, 10)
            ours.append([c.code for c in candidates])
            if candidates:
                for rank, (feat, cand) in enumerate(zip(features(candidates), candidates)):
                    calib["x"].append(feat.tolist())
                    calib["y"].append(int(_right(cand.code, t, "billable")))
                    calib["term"].append(position[t])
                    calib["rank"].append(rank)
            if len(examples) < 12 and kind != "verbatim":
                examples.append({"perturbation": kind, "query": q, "gold": t.code, "ours": ours[-1][:3]})
        systems = {"ranker": ours}
        if baseline:
            systems[BASELINE] = rapidfuzz_baseline(index, [q for _, q in queries])
        for system, predictions in systems.items():
            for level in ("billable", "category"):
                top1 = np.mean([bool(p) and _right(p[0], t, level) for (t, _), p in zip(queries, predictions)])
                top5 = np.mean([any(_right(c, t, level) for c in p[:5]) for (t, _), p in zip(queries, predictions)])
                rows.append({"system": system, "perturbation": kind, "level": level, "queries": len(queries),
                             "top1": float(top1), "top5": float(top5)})  # fmt: skip
    calib = {name: np.array(values) for name, values in calib.items()}
    return {"rows": rows, "examples": examples, "calibration_data": calib, "terms": terms, "index": index}
