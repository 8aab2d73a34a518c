"""The ICD-10-CM retrieval index: BM25 weights over descriptions and inclusion terms, and the hierarchy.

One *document* per text the code set attaches to a code (its description, each inclusion term), for
every category, subcategory and billable leaf; chapters and blocks are too broad to code to. Billable
leaves inherit the texts of their ancestors up to the three-character category, so "Chronic otitis
media NOS" (an inclusion term of H66.9) reaches H66.92 "Otitis media, unspecified, left ear".

Building takes a few seconds; the full index (nothing held out) is cached as a pickle under
``$WORKBENCH_CACHE`` (default ``~/.cache/workbench``), keyed by the package version and this module's
format version, so tests and the service start quickly.
"""

from __future__ import annotations

import hashlib
import os
import re
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from workbench.clinical.coding._text import _LATERAL, STOPWORDS, normalize_term

__all__ = ["CodeIndex", "build_index", "load_index"]

FORMAT_VERSION = 9
BM25_K1, BM25_B = 1.2, 0.75
MAX_DEPTH = 5  # leaf plus up to four ancestors reach the category (e.g. S52.501A -> S52)
_SIDE_OF_WORD = {"left": "L", "right": "R", "bilateral": "B"}
# ", unspecified organism" / "of unspecified part": the word after names what a note need not say, so a
# query without it still covers the text. (Not "Unspecified maternal hypertension": there the word is
# the disease.)
_QUALIFIED = re.compile(r"(?:,|\bof|\bin|\bto)\s+unspecified\s+([a-z]+)", re.IGNORECASE)
# "without complications", "not intractable": the default a note that says nothing more is coded to
# (E11.9 for "type 2 diabetes"), so the words are optional; "with ..." or "in ..." ends the span.
_DEFAULT_QUALIFIER = re.compile(r"\bwithout\b.*?(?=\bwith\b|\bin\b|$)|\bnot intractable\b", re.IGNORECASE)
_NOT_SPECIFIED = re.compile(r"\b(?:site )?not (?:otherwise )?specified\b|\bnot elsewhere classified\b", re.IGNORECASE)


@dataclass
class CodeIndex:
    """Documents, BM25 weights and the hierarchy arrays the ranker scores against."""

    version: str
    nodes: list[str]  # codes of categories, subcategories and leaves
    node_description: list[str]
    leaves: np.ndarray  # node indices of the billable leaves
    leaf_ancestors: np.ndarray  # [n_leaves, MAX_DEPTH] node indices, own node first, -1 padded
    leaf_side: np.ndarray  # "L", "R", "B", "S" (unilateral), "U" (a sided family's unsided member) or ""
    leaf_extension: np.ndarray  # the 7th character of extended codes ("A" initial encounter ...), else ""
    leaf_unspecified: np.ndarray  # own description says "unspecified"
    doc_text: list[str]
    doc_node: np.ndarray
    doc_kind: np.ndarray  # 0 description, 1 inclusion term, 2 an "Includes:" note
    vocabulary: dict[str, int]
    idf: np.ndarray
    weights: sp.csc_matrix = field(repr=False)  # docs x terms, BM25 term weights
    idf_incidence: sp.csc_matrix = field(repr=False)  # docs x terms, idf where a required term occurs
    doc_idf_total: np.ndarray = field(repr=False)
    term_df: np.ndarray = field(repr=False)
    held_out: frozenset = frozenset()

    @property
    def n_leaves(self) -> int:
        return len(self.leaves)

    def leaf_code(self, i: int) -> str:
        return self.nodes[self.leaves[i]]


def doc_terms(text: str) -> tuple[list[str], list[str], str | None]:
    """Index terms of a code-set text: required ones, optional ones, and the side it names.

    Words in parentheses are ICD-10-CM's *nonessential modifiers* ("Hypertension (arterial) (benign)
    (essential)"): they may be present or not without changing the code, so they are indexed but a
    query need not contain them to cover the text. Stopwords and side words are removed.
    """
    text = _NOT_SPECIFIED.sub(" ", text)
    optional_spans = [m.span() for m in re.finditer(r"\([^)]*\)", text)]
    optional_spans += [(m.start(1), m.end(1)) for m in _QUALIFIED.finditer(text)]
    optional_spans += [m.span() for m in _DEFAULT_QUALIFIER.finditer(text)]
    required, optional, side_words = [], [], []
    for m in re.finditer(r"[a-z0-9]+", text.lower()):
        w = m.group()
        if w in _SIDE_OF_WORD:
            side_words.append(w)
        if w in STOPWORDS or w in _LATERAL or w in _SIDE_OF_WORD:
            continue
        inside = any(a <= m.start() < b for a, b in optional_spans)
        (optional if inside else required).append(normalize_term(w))
    side = None
    if side_words:
        sides = {_SIDE_OF_WORD[w] for w in side_words}
        side = "B" if "B" in sides or sides >= {"L", "R"} else sides.pop()
    return required, optional, side


def _leaf_sides(icd, codes: list[str], leaves: np.ndarray) -> np.ndarray:
    """Side of each leaf: L/R/B/S (unilateral) from its description; U when it names none but its
    family (the children of its base code's parent, the 7th character set aside) has sided members."""
    def named(code: str) -> str:
        _, _, side = doc_terms(icd.get_description(code))
        if side is None and re.search(r"\bunilateral\b", icd.get_description(code).lower()):
            return "S"
        return side or ""

    sides = []
    for leaf in leaves:
        code = codes[leaf]
        side = named(code)
        if not side:
            base = icd.get_parent(code) if icd.is_extended_subcategory(code) else code
            parent = icd.get_parent(base)
            if parent and not icd.is_chapter_or_block(parent):
                if any(named(sib) in ("L", "R", "B") for sib in icd.get_children(parent) if sib != base):
                    side = "U"
        sides.append(side)
    return np.array(sides)


def build_index(exclude: Iterable[tuple[str, str]] = ()) -> CodeIndex:
    """Build the index from ``simple_icd_10_cm``; ``exclude`` holds ``(code, inclusion term)`` pairs to leave out."""
    import simple_icd_10_cm as icd
    from importlib.metadata import version

    exclude = frozenset(exclude)
    codes = [c for c in icd.get_all_codes(with_dots=True) if not icd.is_chapter_or_block(c)]
    node_of = {c: i for i, c in enumerate(codes)}
    descriptions = [icd.get_description(c) for c in codes]
    doc_text, doc_node, doc_kind = [], [], []
    for i, code in enumerate(codes):
        doc_text.append(descriptions[i])
        doc_node.append(i)
        doc_kind.append(0)
        for kind, terms in ((1, icd.get_inclusion_term(code)), (2, icd.get_includes(code))):
            for term in terms:
                if (code, term) not in exclude:
                    doc_text.append(term)
                    doc_node.append(i)
                    doc_kind.append(kind)
    vocabulary: dict[str, int] = {}
    rows, cols = [], []
    lengths = np.zeros(len(doc_text))
    is_required: list[bool] = []
    for d, text in enumerate(doc_text):
        required, optional, _ = doc_terms(text)
        lengths[d] = len(required)  # optional modifiers do not make a text longer for BM25
        for t in set(required) | set(optional):
            rows.append(d)
            cols.append(vocabulary.setdefault(t, len(vocabulary)))
            is_required.append(t in required or not required)  # all optional: then all are needed
    rows, cols, is_required = np.asarray(rows), np.asarray(cols), np.asarray(is_required, dtype=bool)
    n_docs, n_terms = len(doc_text), len(vocabulary)
    df = np.bincount(cols, minlength=n_terms).astype(float)
    idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))  # BM25's idf, kept positive (Lucene's form)
    # tf is 1 for almost every term of these short texts; length normalization does the rest.
    lengths = np.maximum(lengths, 1)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / max(lengths.mean(), 1e-9))
    tf_part = (BM25_K1 + 1) / (1 + norm[rows])
    weights = sp.csc_matrix((idf[cols] * tf_part, (rows, cols)), shape=(n_docs, n_terms))
    # Coverage counts required words only (see doc_terms).
    incidence = sp.csc_matrix((idf[cols] * is_required, (rows, cols)), shape=(n_docs, n_terms))
    incidence.eliminate_zeros()
    doc_idf_total = np.asarray(incidence.sum(axis=1)).ravel()

    leaves = np.array([i for i, c in enumerate(codes) if icd.is_leaf(c)])
    ancestors = np.full((len(leaves), MAX_DEPTH), -1, dtype=np.int64)
    for row, leaf in enumerate(leaves):
        chain = [codes[leaf]] + [a for a in icd.get_ancestors(codes[leaf]) if not icd.is_chapter_or_block(a)]
        for j, code in enumerate(chain[:MAX_DEPTH]):
            ancestors[row, j] = node_of[code]
    leaf_desc = [descriptions[i] for i in leaves]
    return CodeIndex(
        version=version("simple-icd-10-cm"),
        nodes=codes,
        node_description=descriptions,
        leaves=leaves,
        leaf_ancestors=ancestors,
        leaf_side=_leaf_sides(icd, codes, leaves),
        leaf_extension=np.array([codes[i][-1] if icd.is_extended_subcategory(codes[i]) else "" for i in leaves]),
        leaf_unspecified=np.array(["unspecified" in d.lower() for d in leaf_desc]),
        doc_text=doc_text,
        doc_node=np.asarray(doc_node),
        doc_kind=np.asarray(doc_kind, dtype=np.int8),
        vocabulary=vocabulary,
        idf=idf,
        weights=weights,
        idf_incidence=incidence,
        doc_idf_total=doc_idf_total,
        term_df=df,
        held_out=exclude,
    )


def _cache_path(version: str) -> Path:
    root = Path(os.environ.get("WORKBENCH_CACHE") or Path.home() / ".cache" / "workbench")
    source = hashlib.sha256(Path(__file__).read_bytes() + Path(__file__).with_name("_text.py").read_bytes())
    return root / f"icd10cm-index-{version}-v{FORMAT_VERSION}-{source.hexdigest()[:12]}.pkl"


def _remove_stale(current: Path) -> None:
    """Delete caches of older format versions (never read again). Same-version files of other source
    hashes stay: another checkout of the repository may be using them."""
    for other in current.parent.glob("icd10cm-index-*-v*-*.pkl"):
        match = re.search(r"-v(\d+)-[0-9a-f]+\.pkl$", other.name)
        if other != current and match and int(match.group(1)) < FORMAT_VERSION:
            other.unlink(missing_ok=True)


_MEMO: dict[str, CodeIndex] = {}


def load_index() -> CodeIndex:
    """The full index, from memory, the on-disk cache, or built (then cached); a cache that fails to
    load is rebuilt, never trusted half-way."""
    from importlib.metadata import version

    path = _cache_path(version("simple-icd-10-cm"))
    key = str(path)
    if key in _MEMO:
        return _MEMO[key]
    index = None
    if path.is_file():
        try:
            with path.open("rb") as fh:
                index = pickle.load(fh)  # our own file in the user's cache, written below
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            index = None
    if not isinstance(index, CodeIndex):
        index = build_index()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            with tmp.open("wb") as fh:
                pickle.dump(index, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one
            _remove_stale(path)
        except OSError:
            pass  # a read-only home: work from memory
    _MEMO[key] = index
    return index
