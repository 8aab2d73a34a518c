"""GDM with its schema (Hidders, 2002/2003): multiple classes, set-valued attributes, the extension relation,
the instance constraints, and GUL's pattern-based addition and deletion with reduction.

A **schema graph** has class nodes of three sorts (object, composite-value, basic-value; a basic-value class
has a domain), labelled edges saying which attribute or relationship joins which classes, each *single* or
*set-valued*, and ``isa`` edges between classes. An **instance graph** has object, composite-value and
basic-value nodes; the **extension relation** says which classes each instance node belongs to, and a node
may belong to several (multiple classification). Membership is closed upwards: a node in ``Employee`` is in
``Person`` when ``Employee isa Person`` (:meth:`GdmInstance.extension`).

The constraints, in our reading of Hidders' conditions (each message names the node or edge):

- **I-NS** (node sorts): every instance node belongs to at least one class, and only to classes of its own sort;
- **I-BVT** (basic-value types): a basic-value node holds a value, and the value lies in the domain of every
  basic-value class it belongs to;
- **I-REA** (edges allowed): every instance edge ``u -l-> v`` is allowed by a schema edge ``C -l-> D`` with ``u``
  in ``C`` and ``v`` in ``D``; an attribute that no such schema edge declares set-valued occurs at most once
  per node.

GUL (the graph update language) adds or deletes nodes and edges once per embedding of a pattern; after an
addition it **reduces** the instance: value nodes that have become indistinguishable (basic values of the
same classes and value; composite values of the same classes and components) are merged, to a fixpoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from workbench.errors import UserError
from workbench.graphs.patterns import match_pattern

SORTS = ("object", "composite", "basic")
DOMAINS = {"String": (str,), "Int": (int,), "Real": (int, float), "Bool": (bool,)}


@dataclass(frozen=True)
class GdmSchema:
    """Classes ``name -> sort`` (basic classes: ``("basic", domain)``), edges ``(C, label, D, set_valued)``,
    and ``isa`` pairs ``(sub, super)``."""

    classes: Mapping[str, Any]
    edges: tuple = ()
    isa: tuple = ()

    def __post_init__(self) -> None:
        classes = {}
        for c, spec in dict(self.classes).items():
            sort, domain = (spec if isinstance(spec, tuple) else (spec, None))
            if sort not in SORTS:
                raise UserError(f"GDM schema: class {c!r} has sort {sort!r}; use one of {SORTS}")
            if sort == "basic" and domain not in DOMAINS:
                raise UserError(f"GDM schema: basic class {c!r} needs a domain in {sorted(DOMAINS)}, got {domain!r}")
            classes[c] = (sort, domain)
        for e in self.edges:
            if not (isinstance(e, tuple) and len(e) == 4 and e[0] in classes and e[2] in classes):
                raise UserError(f"GDM schema: edge {e!r} must be (class, label, class, set_valued)")
            if classes[e[0]][0] == "basic":
                raise UserError(f"GDM schema: edge {e!r} leaves basic class {e[0]!r}; basic values have no edges")
        g = nx.DiGraph(list(self.isa))
        for sub, sup in self.isa:
            if sub not in classes or sup not in classes or classes[sub][0] != classes[sup][0]:
                raise UserError(f"GDM schema: isa {sub!r} -> {sup!r} must join two classes of one sort")
        if not nx.is_directed_acyclic_graph(g):
            raise UserError(f"GDM schema: isa edges form a cycle {nx.find_cycle(g)}")
        object.__setattr__(self, "classes", MappingProxyType(classes))

    def above(self, c: str) -> set:
        g = nx.DiGraph(list(self.isa))
        return {c} | (nx.descendants(g, c) if c in g else set())


@dataclass(frozen=True, eq=False)
class GdmInstance:
    """Instance nodes ``id -> sort``, the extension ``classes`` (id -> set of classes), edges, values."""

    schema: GdmSchema
    nodes: Mapping[Hashable, str]
    classes: Mapping[Hashable, frozenset]
    edges: tuple = ()
    values: Mapping[Hashable, Any] = field(default_factory=dict)
    validate: bool = True

    def __post_init__(self) -> None:
        for n, sort in dict(self.nodes).items():
            if sort not in SORTS:
                raise UserError(f"GDM: node {n!r} has sort {sort!r}; use one of {SORTS}")
        classes = {n: frozenset(dict(self.classes).get(n, ())) for n in self.nodes}
        for n in dict(self.classes):
            if n not in self.nodes:
                raise UserError(f"GDM: classes names {n!r}, which is not a node")
        for n, cs in classes.items():
            unknown = sorted(cs - set(self.schema.classes))
            if unknown:
                raise UserError(f"GDM: node {n!r} is put in unknown classes {unknown}")
        for e in self.edges:
            if not (isinstance(e, tuple) and len(e) == 3 and e[0] in self.nodes and e[2] in self.nodes):
                raise UserError(f"GDM: edge {e!r} must be (source, label, target) between instance nodes")
        for n in dict(self.values):
            if n not in self.nodes:
                raise UserError(f"GDM: values names {n!r}, which is not a node")
        object.__setattr__(self, "nodes", MappingProxyType(dict(self.nodes)))
        object.__setattr__(self, "classes", MappingProxyType(classes))
        object.__setattr__(self, "edges", tuple(dict.fromkeys(self.edges)))
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        if self.validate:
            problems = self.violations()
            if problems:
                raise UserError(f"{problems[0]}; fix it or build with validate=False to inspect")

    def replace(self, **changes) -> "GdmInstance":
        fields = dict(schema=self.schema, nodes=self.nodes, classes=self.classes, edges=self.edges,
                      values=self.values, validate=self.validate)
        fields.update(changes)
        return GdmInstance(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GdmInstance):
            return NotImplemented
        return (dict(self.nodes), dict(self.classes), set(self.edges), dict(self.values)) == \
               (dict(other.nodes), dict(other.classes), set(other.edges), dict(other.values))

    def __repr__(self) -> str:
        return f"GdmInstance({len(self.nodes)} nodes, {len(self.edges)} edges)"

    def extension(self) -> dict[Hashable, frozenset]:
        """The extension relation closed under isa: every class each node belongs to."""
        return {n: frozenset(set().union(*(self.schema.above(c) for c in cs)) if cs else set())
                for n, cs in self.classes.items()}

    def extension_pairs(self) -> set[tuple]:
        """The extension relation as pairs (instance node, schema class)."""
        return {(n, c) for n, cs in self.extension().items() for c in cs}

    def violations(self) -> list[str]:
        out = []
        ext = self.extension()
        sc = self.schema.classes
        for n, sort in self.nodes.items():
            if not ext[n]:
                out.append(f"I-NS: node {n!r} belongs to no class")
            wrong = sorted(c for c in ext[n] if sc[c][0] != sort)
            if wrong:
                out.append(f"I-NS: {sort} node {n!r} is put in classes {wrong} of another sort")
            if sort == "basic":
                if n not in self.values:
                    out.append(f"I-BVT: basic-value node {n!r} holds no value")
                else:
                    v = self.values[n]
                    for c in sorted(c for c in ext[n] if sc[c][0] == "basic"):
                        domain = DOMAINS[sc[c][1]]
                        if not isinstance(v, domain) or (isinstance(v, bool) and sc[c][1] != "Bool"):
                            out.append(f"I-BVT: basic-value node {n!r} holds {v!r}, outside the {sc[c][1]} domain "
                                       f"of class {c!r}")
            elif n in self.values:
                out.append(f"I-BVT: {sort} node {n!r} holds a value; only basic-value nodes do")
        set_valued: set = set()
        for u, lab, v in self.edges:
            ok = [e for e in self.schema.edges if e[1] == lab and e[0] in ext[u] and e[2] in ext[v]]
            if not ok:
                out.append(f"I-REA: edge {u!r} -{lab}-> {v!r} is allowed by no schema edge between the classes of "
                           f"its ends ({sorted(ext[u])} -> {sorted(ext[v])})")
            elif any(e[3] for e in ok):
                set_valued.add((u, lab))
        for (u, lab), c in sorted(Counter((u, lab) for u, lab, _ in self.edges).items(), key=repr):
            if c > 1 and (u, lab) not in set_valued:
                out.append(f"I-REA: node {u!r} has {c} {lab!r} edges, but {lab!r} is single-valued")
        return out

    def to_networkx(self) -> nx.MultiDiGraph:
        """Nodes with ``kind`` (sort), ``classes`` (sorted tuple), ``value``; one boolean ``cls:<C>`` per class
        of the closed extension (what patterns match on)."""
        g = nx.MultiDiGraph(model="gdm-instance")
        ext = self.extension()
        for n, sort in self.nodes.items():
            g.add_node(n, kind=sort, classes=tuple(sorted(self.classes[n])), value=self.values.get(n),
                       **{f"cls:{c}": True for c in ext[n]})
        for u, lab, v in self.edges:
            g.add_edge(u, v, key=lab, label=lab)
        return g

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph, schema: GdmSchema) -> "GdmInstance":
        if graph.graph.get("model") != "gdm-instance":
            raise UserError("graph must come from GdmInstance.to_networkx (graph attribute model='gdm-instance')")
        return cls(schema, {n: d["kind"] for n, d in graph.nodes(data=True)},
                   {n: frozenset(d["classes"]) for n, d in graph.nodes(data=True)},
                   tuple((u, d["label"], v) for u, v, d in graph.edges(data=True)),
                   {n: d["value"] for n, d in graph.nodes(data=True) if d["value"] is not None})

    # -- GUL ----------------------------------------------------------------------------------------------------
    def match(self, pattern: "GulPattern") -> list[dict]:
        """Embeddings of ``pattern``: each pattern node's sort, required classes (via the extension) and value."""
        p = nx.MultiDiGraph()
        keys = {"kind", "value"}
        for n, (sort, cs, value) in pattern.nodes.items():
            p.add_node(n, kind=sort, value=value, **{f"cls:{c}": True for c in cs})
            keys |= {f"cls:{c}" for c in cs}
        for u, lab, v in pattern.edges:
            p.add_edge(u, v, key=lab, label=lab)
        return match_pattern(p, self.to_networkx(), node_keys=sorted(keys))

    def add(self, pattern: "GulPattern", nodes: Mapping[Hashable, tuple] = (), edges: Iterable[tuple] = ()
            ) -> "GdmInstance":
        """GUL addition: per embedding, new nodes (var -> ``(sort, classes)`` or ``(sort, classes, value)``) and
        edges; then :meth:`reduce`. New nodes take Skolem names from the images they attach to."""
        nodes, edges = dict(nodes or {}), list(edges)
        new_nodes, new_classes = dict(self.nodes), dict(self.classes)
        new_edges, new_values = list(self.edges), dict(self.values)
        for emb in self.match(pattern):
            image = dict(emb)
            for var, spec in nodes.items():
                anchors = sorted(f"{lab}={emb[v]!r}" for u, lab, v in edges if u == var and v in emb)
                anchors += sorted(f"^{lab}={emb[u]!r}" for u, lab, v in edges if v == var and u in emb)
                name = f"{var}({', '.join(anchors)})"
                image[var] = name
                new_nodes[name] = spec[0]
                new_classes[name] = frozenset(new_classes.get(name, frozenset()) | frozenset(spec[1]))
                if len(spec) == 3:
                    new_values[name] = spec[2]
            for u, lab, v in edges:
                if u not in image or v not in image:
                    raise UserError(f"GUL addition: edge {(u, lab, v)!r} names a variable that is neither in the "
                                    "pattern nor a new node")
                new_edges.append((image[u], lab, image[v]))
        grown = self.replace(nodes=new_nodes, classes=new_classes, edges=tuple(new_edges), values=new_values,
                             validate=False)
        return grown.reduce().replace(validate=self.validate)

    def delete(self, pattern: "GulPattern", nodes: Iterable[Hashable] = (), edges: Iterable[tuple] = ()
               ) -> "GdmInstance":
        """GUL deletion: per embedding, remove the images of pattern ``nodes`` (and their edges) and ``edges``."""
        nodes, edges = list(nodes), list(edges)
        doomed_n, doomed_e = set(), set()
        for emb in self.match(pattern):
            doomed_n |= {emb[n] for n in nodes}
            doomed_e |= {(emb[u], lab, emb[v]) for u, lab, v in edges}
        return self.replace(nodes={n: s for n, s in self.nodes.items() if n not in doomed_n},
                            classes={n: c for n, c in self.classes.items() if n not in doomed_n},
                            edges=tuple(e for e in self.edges if e not in doomed_e and e[0] not in doomed_n
                                        and e[2] not in doomed_n),
                            values={n: v for n, v in self.values.items() if n not in doomed_n})

    def similar_groups(self) -> list[list[Hashable]]:
        """Groups of value nodes that cannot be told apart (same sort and classes, and the same value or the same
        components, reading components through the groups found so far), to a fixpoint."""
        rep = {n: n for n in self.nodes}
        while True:
            groups: dict = {}
            for n, sort in self.nodes.items():
                if sort == "object":
                    continue
                content = repr(self.values.get(n)) if sort == "basic" else frozenset(
                    (lab, rep[v]) for u, lab, v in self.edges if u == n)
                groups.setdefault((sort, self.classes[n], content), []).append(n)
            new = dict(rep)
            for members in groups.values():
                first = min(members, key=repr)
                for m in members:
                    new[m] = first
            if new == rep:
                return sorted((sorted(ms, key=repr) for ms in groups.values() if len(ms) > 1), key=repr)
            rep = new

    def reduce(self) -> "GdmInstance":
        """Merge each group of :meth:`similar_groups` into its first member (by repr)."""
        rep = {n: g[0] for g in self.similar_groups() for n in g}
        if not rep:
            return self
        keep = {n: s for n, s in self.nodes.items() if rep.get(n, n) == n}
        return self.replace(nodes=keep, classes={n: c for n, c in self.classes.items() if n in keep},
                            edges=tuple(dict.fromkeys((rep.get(u, u), lab, rep.get(v, v)) for u, lab, v in self.edges)),
                            values={n: v for n, v in self.values.items() if n in keep})


@dataclass(frozen=True)
class GulPattern:
    """Pattern nodes ``var -> (sort, required classes, value or None)`` and edges ``(var, label, var)``."""

    nodes: Mapping[Hashable, tuple]
    edges: tuple = ()


def example() -> GdmInstance:
    """Ann is both an Employee and a Student (multiple classes); phones are set-valued; addresses are
    composite values."""
    schema = GdmSchema(
        {"Person": "object", "Employee": "object", "Student": "object", "Address": "composite",
         "String": ("basic", "String"), "Int": ("basic", "Int")},
        (("Person", "name", "String", False), ("Person", "phone", "String", True),
         ("Person", "lives", "Address", False), ("Address", "street", "String", False),
         ("Address", "number", "Int", False), ("Employee", "salary", "Int", False)),
        (("Employee", "Person"), ("Student", "Person")))
    nodes = {"ann": "object", "bob": "object", "n1": "basic", "n2": "basic", "ph1": "basic", "ph2": "basic",
             "addr": "composite", "st": "basic", "no": "basic", "sal": "basic"}
    classes = {"ann": {"Employee", "Student"}, "bob": {"Person"}, "n1": {"String"}, "n2": {"String"},
               "ph1": {"String"}, "ph2": {"String"}, "addr": {"Address"}, "st": {"String"}, "no": {"Int"},
               "sal": {"Int"}}
    values = {"n1": "Ann", "n2": "Bob", "ph1": "555-01", "ph2": "555-02", "st": "Beauchef", "no": 851, "sal": 4000}
    edges = (("ann", "name", "n1"), ("bob", "name", "n2"), ("ann", "phone", "ph1"), ("ann", "phone", "ph2"),
             ("ann", "lives", "addr"), ("addr", "street", "st"), ("addr", "number", "no"), ("ann", "salary", "sal"))
    return GdmInstance(schema, nodes, classes, edges, values)


__all__ = ["DOMAINS", "GdmInstance", "GdmSchema", "GulPattern", "SORTS", "example"]
