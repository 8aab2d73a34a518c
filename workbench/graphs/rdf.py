"""RDF graphs (sets of subject-predicate-object triples) and basic graph patterns evaluated by hand.

Parsing and serialising (N-Triples, Turtle) go through rdflib, which does it well. Matching a basic graph
pattern (BGP, the conjunctive core of SPARQL) is what the lesson is about, so :func:`basic_graph_pattern`
is written here: terms are interned to integers; three hash indexes (SPO, POS, OSP) give cardinality
estimates and answer any pattern shape; patterns are joined one at a time, the most selective first.
Each join extends the whole table of partial solutions at once (an index nested-loop join done
set-at-a-time): with a constant predicate, through that predicate's (s, o) pairs sorted by subject and by
object, found by binary search in numpy.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import networkx as nx
import numpy as np
import rdflib
from rdflib.term import BNode, Literal, Node, URIRef, Variable

from workbench.graphs._arrays import ranges as _ranges

FORMATS = {"nt": "nt", "ntriples": "nt", "n-triples": "nt", "turtle": "turtle", "ttl": "turtle"}
EX = "http://example.org/"

SURVEY = {
    "model": "RDF", "year": 2004, "cite": "W3C RDF 2004",
    "reference": "G. Klyne, J. J. Carroll (eds.), Resource Description Framework (RDF): concepts and abstract "
                 "syntax, W3C Recommendation, 2004",
    "data_structure": "set of subject-predicate-object triples: a directed graph labelled with IRIs, blank "
                      "nodes and literals",
    "query_language": "basic graph patterns (the core of SPARQL)",
    "integrity": "well-formed triples only; schema vocabularies (RDFS) add inference, not constraints",
    "operators": ("basic_graph_pattern", "bgp_to_sparql", "RdfGraph.parse", "RdfGraph.serialize"),
}


def _format(fmt: str) -> str:
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)} (N-Triples or Turtle), got {fmt!r}")
    return FORMATS[fmt.lower()]


@dataclass(frozen=True, eq=False)
class RdfGraph:
    """A set of RDF triples of rdflib terms, with namespace prefixes for compact display.

    Parameters
    ----------
    triples : iterable of ``(subject, predicate, object)``: subject an IRI (``URIRef``) or blank node,
        predicate an IRI, object an IRI, blank node or ``Literal``.
    prefixes : prefix -> namespace IRI, used only to print and draw compact names (``ex:knows``).
    """

    triples: frozenset
    prefixes: Mapping[str, str] = field(default_factory=lambda: {"ex": EX})

    def __post_init__(self) -> None:
        if isinstance(self.triples, (str, bytes)) or not isinstance(self.triples, Iterable):
            raise TypeError(f"triples must be an iterable of (s, p, o) rdflib terms, got {type(self.triples).__name__}")
        checked = []
        for i, t in enumerate(self.triples):
            if not isinstance(t, tuple) or len(t) != 3:
                raise ValueError(f"triples[{i}] must be an (s, p, o) tuple, got {t!r}")
            s, p, o = t
            if not isinstance(s, (URIRef, BNode)):
                raise TypeError(f"triples[{i}] subject must be a URIRef or BNode, got {s!r}; wrap IRIs in URIRef(...)")
            if not isinstance(p, URIRef):
                raise TypeError(f"triples[{i}] predicate must be a URIRef, got {p!r}")
            if not isinstance(o, (URIRef, BNode, Literal)):
                raise TypeError(f"triples[{i}] object must be a URIRef, BNode or Literal, got {o!r}; "
                                "wrap plain values in Literal(...)")
            checked.append((s, p, o))
        prefixes = {str(k): str(v) for k, v in require_prefixes(self.prefixes).items()}
        object.__setattr__(self, "triples", frozenset(checked))
        object.__setattr__(self, "prefixes", MappingProxyType(prefixes))
        object.__setattr__(self, "_index", None)

    def __len__(self) -> int:
        return len(self.triples)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RdfGraph):
            return NotImplemented
        return self.triples == other.triples

    def __repr__(self) -> str:
        return f"RdfGraph({len(self.triples)} triples)"

    # -- rdflib round trips ------------------------------------------------------------------------------
    def to_rdflib(self) -> rdflib.Graph:
        """An ``rdflib.Graph`` with the same triples and prefixes bound."""
        g = rdflib.Graph()
        for prefix, ns in self.prefixes.items():
            g.bind(prefix, rdflib.Namespace(ns))
        for t in self.triples:
            g.add(t)
        return g

    @classmethod
    def from_rdflib(cls, graph: rdflib.Graph) -> "RdfGraph":
        """Copy the triples (and non-default prefixes) of an ``rdflib.Graph``."""
        if not isinstance(graph, rdflib.Graph):
            raise TypeError(f"graph must be an rdflib.Graph, got {type(graph).__name__}")
        prefixes = {p: str(ns) for p, ns in graph.namespaces()
                    if p and p not in {"brick", "csvw", "dc", "dcat", "dcmitype", "dcterms", "dcam", "doap", "foaf",
                                       "geo", "odrl", "org", "prof", "prov", "qb", "schema", "sh", "skos", "sosa",
                                       "ssn", "time", "vann", "void", "wgs", "xml", "owl", "rdf", "rdfs", "xsd"}}
        return cls(frozenset(graph), prefixes or {"ex": EX})

    @classmethod
    def parse(cls, data: str | None = None, *, path: str | Path | None = None, format: str = "turtle"
              ) -> "RdfGraph":
        """Read N-Triples or Turtle from a string ``data`` or a file ``path`` (exactly one of them)."""
        if (data is None) == (path is None):
            raise ValueError("give exactly one of data (a string) or path (a file)")
        g = rdflib.Graph()
        if path is not None:
            if not Path(path).is_file():
                raise ValueError(f"path {str(path)!r} is not a file")
            g.parse(source=str(path), format=_format(format))
        else:
            g.parse(data=data, format=_format(format))
        return cls.from_rdflib(g)

    def serialize(self, format: str = "nt", path: str | Path | None = None) -> str:
        """N-Triples (``"nt"``) or Turtle (``"turtle"``) text; also written to ``path`` when given.
        N-Triples lines are sorted so the text is reproducible."""
        text = self.to_rdflib().serialize(format=_format(format))
        if _format(format) == "nt":
            text = "".join(sorted(line + "\n" for line in text.splitlines() if line.strip()))
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    # -- display and networkx ----------------------------------------------------------------------------
    def compact(self, term: Node) -> str:
        """``prefix:local`` for an IRI in a known namespace, the lexical form for a literal, ``_:id`` for a blank."""
        if isinstance(term, Literal):
            return str(term)
        if isinstance(term, BNode):
            return f"_:{term}"
        text = str(term)
        for prefix, ns in sorted(self.prefixes.items(), key=lambda kv: -len(kv[1])):
            if text.startswith(ns) and len(text) > len(ns):
                return f"{prefix}:{text[len(ns):]}"
        return text

    def to_networkx(self) -> nx.MultiDiGraph:
        """Nodes are terms (attributes ``label`` = compact name, ``kind`` = iri/literal/blank, ``value``);
        edges carry ``label`` = compact predicate and ``predicate`` = the IRI."""
        g = nx.MultiDiGraph(model="rdf")
        for s, p, o in sorted(self.triples, key=lambda t: tuple(x.n3() for x in t)):
            for term in (s, o):
                if term not in g:
                    kind = "literal" if isinstance(term, Literal) else "blank" if isinstance(term, BNode) else "iri"
                    g.add_node(term, label=self.compact(term), kind=kind,
                               value=term.toPython() if isinstance(term, Literal) else None)
            g.add_edge(s, o, key=self.compact(p), label=self.compact(p), predicate=p)
        return g

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph, prefixes: Mapping[str, str] | None = None) -> "RdfGraph":
        """Inverse of :meth:`to_networkx` (nodes are rdflib terms, edges carry ``predicate``)."""
        if not isinstance(graph, nx.DiGraph):
            raise TypeError(f"graph must be a networkx MultiDiGraph, got {type(graph).__name__}")
        triples = {(u, d["predicate"], v) for u, v, d in graph.edges(data=True)}
        return cls(frozenset(triples), dict(prefixes or {"ex": EX}))

    # -- index for BGP matching --------------------------------------------------------------------------
    def _build_index(self) -> "_TripleIndex":
        if self._index is None:
            object.__setattr__(self, "_index", _TripleIndex(self.triples))
        return self._index


def require_prefixes(prefixes: Any) -> Mapping:
    if not isinstance(prefixes, Mapping):
        raise TypeError(f"prefixes must be a mapping prefix -> namespace IRI, got {type(prefixes).__name__}")
    return prefixes


class _TripleIndex:
    """Terms interned to ints; SPO, POS and OSP nested dicts of sets."""

    def __init__(self, triples: Iterable[tuple]):
        self.ids: dict[Node, int] = {}
        self.terms: list[Node] = []
        self.spo: dict = defaultdict(lambda: defaultdict(set))
        self.pos: dict = defaultdict(lambda: defaultdict(set))
        self.osp: dict = defaultdict(lambda: defaultdict(set))
        self.size = 0
        self._arrays: dict[int, tuple] = {}
        self._rank: np.ndarray | None = None
        for s, p, o in triples:
            si, pi, oi = self.intern(s), self.intern(p), self.intern(o)
            self.spo[si][pi].add(oi)
            self.pos[pi][oi].add(si)
            self.osp[oi][si].add(pi)
            self.size += 1
        # Per-key counts and per-predicate distinct subjects/objects for cardinality estimates.
        self.s_count = {s: sum(map(len, d.values())) for s, d in self.spo.items()}
        self.p_count = {p: sum(map(len, d.values())) for p, d in self.pos.items()}
        self.o_count = {o: sum(map(len, d.values())) for o, d in self.osp.items()}
        self.p_objects = {p: len(d) for p, d in self.pos.items()}
        self.p_subjects = {p: len({x for xs in d.values() for x in xs}) for p, d in self.pos.items()}
        self.n_subjects, self.n_objects = max(len(self.spo), 1), max(len(self.osp), 1)

    def predicate_arrays(self, p: int) -> tuple[np.ndarray, ...]:
        """For predicate ``p``: subjects sorted with their objects, objects sorted with their subjects, and the
        sorted ``s * n_terms + o`` keys for membership tests. Built on first use and cached."""
        cached = self._arrays.get(p)
        if cached is None:
            pairs = np.array([(s, o) for o, subjects in self.pos.get(p, {}).items() for s in subjects],
                             dtype=np.int64).reshape(-1, 2)
            by_s = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
            by_o = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]
            keys = np.sort(pairs[:, 0] * len(self.terms) + pairs[:, 1])
            cached = self._arrays[p] = (by_s[:, 0].copy(), by_s[:, 1].copy(), by_o[:, 1].copy(),
                                        by_o[:, 0].copy(), keys)
        return cached

    def n3_rank(self) -> np.ndarray:
        """Rank of every term id in the order of its N3 text: sorting solutions by it is reproducible
        (term ids follow set iteration order, which changes with the hash seed). Built once, cached."""
        if self._rank is None:
            text = [t.n3() for t in self.terms]
            rank = np.empty(len(text), dtype=np.int64)
            rank[sorted(range(len(text)), key=text.__getitem__)] = np.arange(len(text))
            self._rank = rank
        return self._rank

    def intern(self, term: Node) -> int:
        i = self.ids.get(term)
        if i is None:
            i = self.ids[term] = len(self.terms)
            self.terms.append(term)
        return i

    def estimate(self, s: int | None, p: int | None, o: int | None) -> int:
        """Upper bound on matches of a pattern with the given bound positions (None: free)."""
        if s is not None and p is not None:
            return len(self.spo.get(s, {}).get(p, ())) if o is None else 1
        if p is not None and o is not None:
            return len(self.pos.get(p, {}).get(o, ()))
        if s is not None and o is not None:
            return len(self.osp.get(o, {}).get(s, ()))
        if s is not None:
            return self.s_count.get(s, 0)
        if p is not None:
            return self.p_count.get(p, 0)
        if o is not None:
            return self.o_count.get(o, 0)
        return self.size

    def match(self, s: int | None, p: int | None, o: int | None) -> Iterable[tuple[int, int, int]]:
        """All (s, p, o) id triples agreeing with the bound positions."""
        if s is not None and p is not None:
            objs = self.spo.get(s, {}).get(p, ())
            if o is not None:
                return [(s, p, o)] if o in objs else []
            return [(s, p, x) for x in objs]
        if p is not None and o is not None:
            return [(x, p, o) for x in self.pos.get(p, {}).get(o, ())]
        if s is not None and o is not None:
            return [(s, x, o) for x in self.osp.get(o, {}).get(s, ())]
        if s is not None:
            return [(s, q, x) for q, xs in self.spo.get(s, {}).items() for x in xs]
        if p is not None:
            return [(x, p, y) for y, xs in self.pos.get(p, {}).items() for x in xs]
        if o is not None:
            return [(x, q, o) for x, qs in self.osp.get(o, {}).items() for q in qs]
        return [(a, q, b) for a, d in self.spo.items() for q, bs in d.items() for b in bs]


_TERM_TYPES = (Variable, URIRef, Literal, BNode)


def _as_pattern_term(value: Any, i: int, j: int) -> Node:
    if type(value) in _TERM_TYPES:  # the common case first: one type look-up per term
        return value
    where = f"patterns[{i}][{j}]"
    if isinstance(value, str) and not isinstance(value, Node) and value.startswith("?"):
        if len(value) < 2:
            raise ValueError(f"{where}: a variable needs a name, e.g. '?x'")
        return Variable(value[1:])
    if isinstance(value, (Variable, URIRef, Literal, BNode)):
        return value
    raise TypeError(f"{where} must be a variable ('?x' or Variable('x')) or an rdflib term "
                    f"(URIRef/Literal), got {value!r}")


def normalize_patterns(patterns: Sequence[tuple]) -> list[tuple[Node, Node, Node]]:
    """Check a basic graph pattern and turn ``'?x'`` strings into ``rdflib.term.Variable``."""
    if isinstance(patterns, (str, bytes)) or not isinstance(patterns, Sequence) or not patterns:
        raise ValueError("patterns must be a non-empty list of (s, p, o) triple patterns")
    out = []
    for i, t in enumerate(patterns):
        if not isinstance(t, tuple) or len(t) != 3:
            raise ValueError(f"patterns[{i}] must be an (s, p, o) tuple, got {t!r}")
        out.append((_as_pattern_term(t[0], i, 0), _as_pattern_term(t[1], i, 1), _as_pattern_term(t[2], i, 2)))
    return out


#: Partial-solution tables up to this many rows are joined row by row (hash indexes), larger ones as arrays.
SMALL_TABLE = 64


def basic_graph_pattern(graph: RdfGraph, patterns: Sequence[tuple]) -> list[dict[str, Node]]:
    """Every solution of a basic graph pattern: dicts variable name -> term, one per distinct mapping.

    Triple patterns hold variables (``'?x'`` or ``Variable('x')``) and rdflib terms. A solution maps every
    variable so that each instantiated pattern is a triple of the graph (SPARQL's BGP semantics over a set
    of triples; blank nodes in a pattern are constants here). Results are sorted for reproducibility.
    """
    if not isinstance(graph, RdfGraph):
        raise TypeError(f"graph must be an RdfGraph, got {type(graph).__name__}")
    pats = normalize_patterns(patterns)
    idx = graph._build_index()
    missing = object()
    # Constants are looked up once; a constant absent from the data means no solutions at all.
    compiled = []
    for pat in pats:
        row = []
        for x in pat:
            if isinstance(x, Variable):
                row.append(("var", str(x)))
            else:
                i = idx.ids.get(x, missing)
                if i is missing:
                    return []
                row.append(("const", i))
        compiled.append(tuple(row))
    order = _join_order(compiled, idx)
    # Set-at-a-time evaluation: a table of partial solutions (tuples of term ids, one column per variable
    # bound so far) is extended by one pattern at a time through the index.
    # While the table is small (a selective first pattern) it stays a list of tuples joined through the
    # hash indexes: a few dict look-ups a row beat the fixed cost of a dozen numpy calls per pattern.
    columns: list[str] = []
    rows: list[tuple] | None = [()]
    table = np.zeros((1, 0), dtype=np.int64)
    for pat in order:
        spec, new = [], []
        for kind, x in pat:
            if kind == "const":
                spec.append(("c", x))
            elif x in columns:
                spec.append(("b", columns.index(x)))
            elif x in new:
                spec.append(("r", new.index(x)))  # a variable repeated inside this pattern
            else:
                new.append(x)
                spec.append(("n", len(new) - 1))
        if rows is not None and (len(rows) > SMALL_TABLE or (
                # A pattern sharing no bound variable (the first one, or a cross product) adds about its
                # estimate per row: past the limit it goes to the arrays before it is expanded, not after.
                not any(kind == "var" and x in columns for kind, x in pat)
                and len(rows) * idx.estimate(*[x if kind == "const" else None for kind, x in pat]) > SMALL_TABLE)):
            table, rows = np.array(rows, dtype=np.int64).reshape(len(rows), len(columns)), None
        if rows is not None:
            rows = _extend(rows, spec, len(new), idx)
        else:
            table = _extend_table(table, spec, len(new), idx)
        columns += new
        if not (len(rows) if rows is not None else len(table)):
            return []
    if rows is not None:
        table = np.array(rows, dtype=np.int64).reshape(len(rows), len(columns))
    # Sort by the N3 text of the variables in name order (precomputed ranks, one lexsort).
    keys = idx.n3_rank()[table[:, [columns.index(n) for n in sorted(columns)]]]
    table = table[np.lexsort(keys.T[::-1])]
    terms = idx.terms
    return [{name: terms[i] for name, i in zip(columns, row)} for row in table.tolist()]


def _extend(rows: list[tuple], spec: list[tuple[str, int]], n_new: int, idx: _TripleIndex) -> list[tuple]:
    """Join the table ``rows`` with one triple pattern. ``spec`` says per position: constant ("c", id), bound
    column ("b", col), new variable ("n", k) or a repeat of new variable k ("r", k)."""
    kinds = tuple(k for k, _ in spec)
    (ks, s), (kp, p), (ko, o) = spec
    out: list[tuple] = []
    # Fast paths for the usual shapes (constant predicate), written out so the inner loop is one lookup.
    if kp == "c" and "r" not in kinds:
        by_s = idx.pos.get(p)
        if by_s is None:
            return out
        spo, pos = idx.spo, idx.pos[p]
        if ks != "n" and ko == "n":
            for row in rows:
                subj = s if ks == "c" else row[s]
                objs = spo.get(subj, {}).get(p)
                if objs:
                    out.extend(row + (x,) for x in objs)
            return out
        if ks == "n" and ko != "n":
            for row in rows:
                subjects = pos.get(o if ko == "c" else row[o])
                if subjects:
                    out.extend(row + (x,) for x in subjects)
            return out
        if ks != "n" and ko != "n":
            for row in rows:
                objs = spo.get(s if ks == "c" else row[s], {}).get(p)
                if objs and (o if ko == "c" else row[o]) in objs:
                    out.append(row)
            return out
    for row in rows:
        key = [x if k == "c" else row[x] if k == "b" else None for k, x in spec]
        for triple in idx.match(*key):
            values = [None] * n_new
            ok = True
            for (k, x), v in zip(spec, triple):
                if k == "n":
                    values[x] = v
                elif k == "r" and values[x] != v:
                    ok = False
            if ok:
                out.append(row + tuple(values))
    return out


def _extend_table(table: np.ndarray, spec: list[tuple[str, int]], n_new: int, idx: _TripleIndex) -> np.ndarray:
    """Join the partial-solution table (rows x bound variables, term ids) with one triple pattern.

    With a constant predicate this is whole-array work on the predicate's sorted (s, o) arrays: a bound
    subject finds its objects by binary search (``searchsorted``), rows are repeated once per match, and a
    pattern whose ends are both bound is a membership test on sorted ``s * n + o`` keys. Patterns with a
    variable predicate go through the hash indexes row by row (:func:`_extend`)."""
    (ks, s), (kp, p), (ko, o) = spec
    if kp != "c":
        rows = _extend([tuple(r) for r in table.tolist()], spec, n_new, idx)
        return np.array(rows, dtype=np.int64).reshape(len(rows), table.shape[1] + n_new)
    subj, obj_by_s, obj, subj_by_o, keys = idx.predicate_arrays(p)
    n = len(table)

    def values(kind: str, x: int) -> np.ndarray:
        return np.full(n, x, dtype=np.int64) if kind == "c" else table[:, x]

    if ks != "n" and ko != "n":
        k = values(ks, s) * len(idx.terms) + values(ko, o)
        if not len(keys):
            return table[:0]
        pos = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
        return table[keys[pos] == k]
    if ks != "n":
        sv = values(ks, s)
        lo, hi = np.searchsorted(subj, sv, "left"), np.searchsorted(subj, sv, "right")
        rep = np.repeat(np.arange(n), hi - lo)
        return np.column_stack([table[rep], obj_by_s[_ranges(lo, hi)]])
    if ko != "n" and ko != "r":
        ov = values(ko, o)
        lo, hi = np.searchsorted(obj, ov, "left"), np.searchsorted(obj, ov, "right")
        rep = np.repeat(np.arange(n), hi - lo)
        return np.column_stack([table[rep], subj_by_o[_ranges(lo, hi)]])
    # Both ends new: every (s, o) of the predicate for every row; ?x p ?x keeps the pairs with s == o.
    pairs_s, pairs_o = subj, obj_by_s
    if ko == "r":
        keep = pairs_s == pairs_o
        new_cols = [pairs_s[keep]]
    else:
        new_cols = [pairs_s, pairs_o]
    m = len(new_cols[0])
    rep = np.repeat(np.arange(n), m)
    return np.column_stack([table[rep]] + [np.tile(c, n) for c in new_cols])


def _join_order(compiled: list[tuple], idx: _TripleIndex) -> list[tuple]:
    """Greedy plan: the pattern with the fewest expected matches first, then repeatedly the cheapest pattern
    sharing a variable with those already placed. A variable bound by an earlier pattern divides the count
    by the number of distinct values at its position (the usual independence estimate)."""
    # Per pattern, once: the constants' estimate (it does not change as variables get bound), its
    # variables, and what binding its subject / object / predicate variable divides the estimate by.
    plans = []
    for pat in compiled:
        (ks, s), (kp, p), (ko, o) = pat
        est = float(idx.estimate(*[x if k == "const" else None for k, x in pat]))
        if kp == "const":
            s_div, o_div, p_div = max(idx.p_subjects.get(p, 1), 1), max(idx.p_objects.get(p, 1), 1), 1
        else:
            s_div, o_div, p_div = idx.n_subjects, idx.n_objects, max(len(idx.p_count), 1)
        plans.append((pat, est, s if ks == "var" else None, o if ko == "var" else None, p if kp == "var" else None,
                      s_div, o_div, p_div, {x for k, x in pat if k == "var"}))
    bound: set[str] = set()
    order = []

    def cost(plan: tuple) -> float:
        _, est, s, o, p, s_div, o_div, p_div, _ = plan
        if s is not None and s in bound:
            est /= s_div
        if o is not None and o in bound:
            est /= o_div
        if p is not None and p in bound:
            est /= p_div
        return est

    while plans:
        joined = [plan for plan in plans if not bound.isdisjoint(plan[8])]
        best = min(joined or plans, key=cost)
        plans.remove(best)
        order.append(best[0])
        bound |= best[8]
    return order


def bgp_to_sparql(patterns: Sequence[tuple]) -> str:
    """The same basic graph pattern as a SPARQL ``SELECT`` query (variables in sorted order)."""
    pats = normalize_patterns(patterns)
    names = sorted({str(x) for pat in pats for x in pat if isinstance(x, Variable)})
    if not names:
        raise ValueError("patterns has no variables; a SELECT needs at least one '?x'")
    body = " .\n  ".join(" ".join(x.n3() for x in pat) for pat in pats)
    return f"SELECT {' '.join('?' + n for n in names)} WHERE {{\n  {body} .\n}}"


def sparql_solutions(graph: rdflib.Graph, patterns: Sequence[tuple]) -> list[dict[str, Node]]:
    """Answer the pattern with rdflib's SPARQL engine, in the format of :func:`basic_graph_pattern`."""
    query = bgp_to_sparql(patterns)
    names = sorted({str(x) for pat in normalize_patterns(patterns) for x in pat if isinstance(x, Variable)})
    rows = [{n: row[n] for n in names} for row in graph.query(query)]
    rows.sort(key=lambda sol: tuple(sol[n].n3() for n in names))
    return rows


def social_graph(n_people: int, seed: int = 0, *, knows_per_person: int = 3, n_orgs: int | None = None) -> RdfGraph:
    """A synthetic FOAF-like graph: people with a type, name, age, employer and ``knows`` links.

    About ``(4 + knows_per_person) * n_people`` triples; deterministic for a given seed.
    """
    if isinstance(n_people, bool) or not isinstance(n_people, int) or n_people < 2:
        raise ValueError(f"n_people must be an integer >= 2, got {n_people!r}")
    rng = random.Random(seed)
    ex = rdflib.Namespace(EX)
    n_orgs = n_orgs or max(2, n_people // 50)
    triples = set()
    for o in range(n_orgs):
        org = ex[f"org{o}"]
        triples.add((org, rdflib.RDF.type, ex.Organization))
        triples.add((org, ex.name, Literal(f"Org {o}")))
    for i in range(n_people):
        person = ex[f"p{i}"]
        triples.add((person, rdflib.RDF.type, ex.Person))
        triples.add((person, ex.name, Literal(f"Person {i}")))
        triples.add((person, ex.age, Literal(rng.randint(18, 80))))
        triples.add((person, ex.worksFor, ex[f"org{rng.randrange(n_orgs)}"]))
        for _ in range(knows_per_person):
            j = rng.randrange(n_people)
            if j != i:
                triples.add((person, ex.knows, ex[f"p{j}"]))
    return RdfGraph(frozenset(triples), {"ex": EX, "rdf": str(rdflib.RDF)})
