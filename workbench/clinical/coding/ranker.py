"""Rank billable ICD-10-CM codes for a clinical text.

Per clause of the note (see :func:`._text.analyze`):

1. the asserted words (negated ones dropped, "status post" ones set aside), abbreviations expanded and
   unknown words spelling-corrected against the index vocabulary (one or two edits, rapidfuzz);
2. BM25 over every description and inclusion term, times the document's *coverage* (the idf share of
   its words the query contains) so "Chronic otitis media NOS" beats the longer "Chronic serous otitis
   media" for the words "chronic otitis media";
3. each billable leaf takes the best score of its own texts and its ancestors' (slightly decayed per
   level, so the nearest text wins ties): the hierarchy puts every match on a codable leaf;
4. laterality steering: a side named in the clause favours the child for that side, penalises the
   other sides, and keeps "unspecified side" in between; no side named favours the unspecified child;
5. the "status post" words are ranked again against chapter 21 (Z77-Z99, status and history codes).

Scores become probabilities with :mod:`.calibration`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from workbench.clinical.coding._index import CodeIndex
from workbench.clinical.coding._text import Clause, Token, analyze

__all__ = ["Candidate", "ClauseRanking", "rank_clause", "rank_terms"]

COVERAGE_POWER = 1.0
ANCESTOR_DECAY = 0.97
SIDE_MATCH, SIDE_UNSPECIFIED, SIDE_OTHER = 1.0, 0.90, 0.55
NO_SIDE_NAMED_LATERAL = 0.93  # no side in the text: the unspecified child is the right code
STATUS_CHAPTER = ("Z77", "Z99")  # categories of personal history and status codes
# Chapter 15 (O: pregnancy) and 16 (P: perinatal) codes apply only in their context (ICD-10-CM
# guidelines I.C.15.a, I.C.16.a); without a context word in the clause they are damped.
CONTEXT_GATES = {
    "O": ("pregnan", "gestation", "trimester", "obstetric", "maternal", "puerper", "postpartum", "labor",
          "delivery", "antepartum", "abortion", "ectopic", "fetus", "fetal", "childbirth"),
    "P": ("newborn", "neonat", "perinatal", "fetus", "fetal", "birth", "infant", "congenital", "preterm"),
}
CONTEXT_DAMPING = 0.6
# Words that contradict each other in a code's text: a text saying "acute" for a note saying
# "chronic" is damped (not removed: notes can say both).
ANTONYMS = (("acute", "chronic"), ("with", "without"), ("primary", "secondary"), ("benign", "malignant"),
            ("upper", "lower"), ("open", "closed"), ("initial", "subsequent"), ("congenital", "acquired"),
            ("displaced", "nondisplaced"), ("intractable", "not intractable"))
CONTRADICTION_DAMPING = 0.7


@dataclass(frozen=True)
class Candidate:
    """One ranked leaf: ``score`` (raw), the document that matched and the query tokens it matched."""

    code: str
    description: str
    score: float
    relative_score: float  # score / the query's best possible BM25 (sum of its terms' idf weights)
    matched_text: str
    evidence: tuple[Token, ...]


@dataclass(frozen=True)
class ClauseRanking:
    clause: Clause
    candidates: tuple[Candidate, ...]
    status_candidates: tuple[Candidate, ...]
    corrected: dict  # misspelled word -> the vocabulary term used


def _correct(index: CodeIndex, tokens: tuple[Token, ...]) -> tuple[list[tuple[int, Token]], dict]:
    """Map tokens to vocabulary columns, correcting unknown words of 4+ letters by edit distance."""
    from rapidfuzz import process
    from rapidfuzz.distance import OSA  # optimal string alignment: a swap of two letters is one edit

    vocab = index.vocabulary
    out, corrected = [], {}
    names = _vocab_names(index)
    for tok in tokens:
        col = vocab.get(tok.term)
        if col is None and len(tok.term) >= 4 and tok.term.isalpha():
            limit = 1 if len(tok.term) < 8 else 2
            hits = process.extract(tok.term, names, scorer=OSA.distance, score_cutoff=limit, limit=8)
            if hits:
                best = min(hits, key=lambda h: (h[1], -index.term_df[vocab[h[0]]]))
                col = vocab[best[0]]
                corrected[tok.surface] = best[0]
        if col is not None:
            out.append((col, tok))
    return out, corrected


_NAMES: dict[int, list[str]] = {}


def _vocab_names(index: CodeIndex) -> list[str]:
    key = id(index.vocabulary)
    if key not in _NAMES:
        _NAMES[key] = list(index.vocabulary)
    return _NAMES[key]


def _doc_scores(index: CodeIndex, cols: list[int]) -> np.ndarray:
    bm25 = np.asarray(index.weights[:, cols].sum(axis=1)).ravel()
    covered = np.asarray(index.idf_incidence[:, cols].sum(axis=1)).ravel()
    coverage = np.divide(covered, index.doc_idf_total, out=np.zeros_like(covered), where=index.doc_idf_total > 0)
    coverage = np.minimum(coverage, 1.0)
    score = bm25 * coverage**COVERAGE_POWER
    query = {_vocab_names(index)[c] for c in cols}
    for a, b in ANTONYMS:
        for said, other in ((a, b), (b, a)):
            if said in query and other not in query and other in index.vocabulary and " " not in other:
                contradicting = index.weights[:, index.vocabulary[other]].nonzero()[0]
                score[contradicting] *= CONTRADICTION_DAMPING
    return score


def _leaf_scores(index: CodeIndex, doc_score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best score per leaf over its and its ancestors' documents; also which document and which level."""
    n_nodes = len(index.nodes)
    node_score = np.zeros(n_nodes)
    node_doc = np.full(n_nodes, -1)
    hit = np.flatnonzero(doc_score > 0)
    if hit.size:
        # Best document per node: sort hits by score, the last write per node wins.
        order = hit[np.argsort(doc_score[hit], kind="stable")]
        node_score[index.doc_node[order]] = doc_score[order]
        node_doc[index.doc_node[order]] = order
    anc = index.leaf_ancestors
    valid = anc >= 0
    levels = np.where(valid, node_score[np.where(valid, anc, 0)], 0.0) * ANCESTOR_DECAY ** np.arange(anc.shape[1])
    best_level = levels.argmax(axis=1)
    rows = np.arange(len(anc))
    best_node = anc[rows, best_level]
    return levels[rows, best_level], node_doc[best_node], node_score[index.leaves]


def _side_factor(index: CodeIndex, side: str | None) -> np.ndarray:
    leaf_side = index.leaf_side
    factor = np.ones(len(leaf_side))
    if side is None:
        factor[np.isin(leaf_side, ["L", "R", "B", "S"])] = NO_SIDE_NAMED_LATERAL
        return factor
    factor[leaf_side == "U"] = SIDE_UNSPECIFIED
    factor[np.isin(leaf_side, ["L", "R", "B"]) & (leaf_side != side)] = SIDE_OTHER
    # "unilateral" is one side of unknown name: fine for left/right, wrong for bilateral.
    factor[leaf_side == "S"] = SIDE_OTHER if side == "B" else SIDE_UNSPECIFIED
    # Leaves with no side at all (most of the code set) are untouched: the side is not theirs to match.
    return factor


def rank_terms(
    index: CodeIndex, tokens: tuple[Token, ...], side: str | None, *, k: int = 10, restrict: np.ndarray | None = None
) -> tuple[list[Candidate], dict]:
    """The ``k`` best leaves for the bag of ``tokens`` (optionally only the leaves where ``restrict``)."""
    mapped, corrected = _correct(index, tokens)
    cols = sorted({c for c, _ in mapped})
    if not cols:
        return [], corrected
    doc_score = _doc_scores(index, cols)
    leaf_score, leaf_doc, own_score = _leaf_scores(index, doc_score)
    extended = index.leaf_extension != ""
    # A 7th-character code's own text is its parent's plus the encounter; rank the encounter by the
    # default instead ("A", initial encounter), not by which extension text happens to be shortest.
    own_score = np.where(extended, 0.0, own_score) + np.where(index.leaf_extension == "A", 2e-5, 0.0)
    # Ties between siblings inheriting one ancestor text go to the one whose own text matches more,
    # then to the "unspecified" one (the code for a text that says nothing more specific).
    final = leaf_score * _side_factor(index, side) + 1e-3 * own_score + 1e-5 * index.leaf_unspecified
    final = final * _context_factor(index, tokens)
    if restrict is not None:
        final = np.where(restrict, final, 0.0)
    top = np.argpartition(-final, min(k, len(final) - 1))[:k]
    top = top[np.argsort(-final[top], kind="stable")]
    best_possible = float(index.idf[cols].sum() * (1 + 1e-9))
    out = []
    for leaf in top:
        if final[leaf] <= 0:
            break
        doc = int(leaf_doc[leaf])
        doc_cols = set(sp.csr_matrix(index.weights[doc]).indices) if doc >= 0 else set()
        evidence = tuple(tok for c, tok in mapped if c in doc_cols)
        out.append(Candidate(
            code=index.leaf_code(leaf), description=index.node_description[index.leaves[leaf]],
            score=float(final[leaf]), relative_score=float(final[leaf] / best_possible),
            matched_text=index.doc_text[doc] if doc >= 0 else "", evidence=evidence,
        ))  # fmt: skip
    return out, corrected


_CHAPTER: dict[int, np.ndarray] = {}


def _context_factor(index: CodeIndex, tokens: tuple[Token, ...]) -> np.ndarray | float:
    key = id(index.leaves)
    if key not in _CHAPTER:
        _CHAPTER[key] = np.array([index.nodes[i][0] for i in index.leaves])
    letters = _CHAPTER[key]
    factor = np.ones(len(letters))
    for letter, words in CONTEXT_GATES.items():
        if not any(tok.term.startswith(words) for tok in tokens):
            factor[letters == letter] = CONTEXT_DAMPING
    return factor


_STATUS_MASK: dict[int, np.ndarray] = {}


def _status_mask(index: CodeIndex) -> np.ndarray:
    key = id(index.leaves)
    if key not in _STATUS_MASK:
        cats = np.array([index.nodes[i][:3] for i in index.leaves])
        _STATUS_MASK[key] = (cats >= STATUS_CHAPTER[0]) & (cats <= STATUS_CHAPTER[1])
    return _STATUS_MASK[key]


def rank_clause(index: CodeIndex, clause: Clause, *, k: int = 10) -> ClauseRanking:
    """Rank one analysed clause: its asserted words, and its "status post" words among status codes."""
    candidates, corrected = rank_terms(index, clause.asserted, clause.laterality, k=k)
    status, corrected_status = ([], {})
    if clause.status_post:
        status, corrected_status = rank_terms(index, clause.status_post, None, k=3, restrict=_status_mask(index))
    return ClauseRanking(clause, tuple(candidates), tuple(status), corrected | corrected_status)


def rank_text(index: CodeIndex, text: str, *, k: int = 10) -> list[ClauseRanking]:
    """Every clause of ``text`` ranked (clauses with nothing asserted or status-post still appear)."""
    return [rank_clause(index, clause, k=k) for clause in analyze(text)]
