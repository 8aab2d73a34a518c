"""GROOVY's schema level (Levene and Poulovassilis, 1991): object schemas, class schemas, inheritance.

:mod:`workbench.graphs.hypergraph` builds GROOVY's *value* level. Above it:

- an **object schema** ``<N, F, S>`` is a hypergraph over attribute names ``N``: the directed hyperedges ``F``
  are value functional dependencies (tail attributes determine head attributes), the undirected hyperedges
  ``S`` are the sub-object schemas that objects may share. An attribute may be **set-valued**, so a
  dependency can have a set-valued head, as in ``NAME, LASTNAME -> PARENTS``;
- a **class schema** ``<N, F, H>`` has undirected hyperedges ``H ⊆ P(N)`` with ``N ∈ H``: each member of ``H``
  is the attribute set of a class, the whole of ``N`` being one of them;
- **inheritance** follows from attribute sets: a class whose attributes include another's is its subclass
  (it has everything the superclass has, and more). Ordered by inclusion, ``H`` forms the inheritance
  hierarchy; :meth:`ClassSchema.lattice_violations` says which pairs of classes lack a least common
  superclass or a greatest common subclass in ``H`` (the order is a lattice when there are none).

Values check against the schema with :meth:`ObjectSchema.violations`: unknown attributes, set values on
single-valued attributes (and the reverse), and broken dependencies, each naming the objects involved.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from workbench.errors import UserError
from workbench.graphs.hypergraph import Hypergraph

SURVEY = {
    "model": "GROOVY", "year": 1991, "cite": "Levene & Poulovassilis 1991",
    "reference": "M. Levene, A. Poulovassilis, An object-oriented data model formalised through hypergraphs, "
                 "Data & Knowledge Engineering 6(3), 1991",
    "data_structure": "hypergraphs: value nodes, objects as undirected hyperedges, value FDs as directed "
                      "hyperedges; object schema <N,F,S>, class schema <N,F,H>",
    "query_language": "hypergraph manipulation language (HML): operators over hypergraphs",
    "integrity": "value functional dependencies (set-valued heads); shared sub-objects; inheritance by "
                 "attribute inclusion",
    "operators": ("ObjectSchema.implies", "ObjectSchema.values", "ClassSchema.inheritance", "ClassSchema.lattice_violations", "hypergraph.groovy_objects"),
}


def _attrs(where: str, items: Any, universe: frozenset) -> frozenset:
    if isinstance(items, str) or not isinstance(items, Iterable):
        raise UserError(f"{where} must be a collection of attribute names, got {items!r}")
    out = frozenset(items)
    if not out:
        raise UserError(f"{where} is empty; a hyperedge needs at least one attribute")
    unknown = sorted(out - universe)
    if unknown:
        raise UserError(f"{where} names attributes {unknown} that are not in N={sorted(universe)}")
    return out


def _fds(dependencies: Iterable, universe: frozenset) -> tuple:
    out = []
    for i, dep in enumerate(dependencies):
        if not (isinstance(dep, tuple) and len(dep) == 2):
            raise UserError(f"F[{i}] must be a (tail attributes, head attributes) pair, got {dep!r}")
        out.append((_attrs(f"F[{i}] tail", dep[0], universe), _attrs(f"F[{i}] head", dep[1], universe)))
    return tuple(dict.fromkeys(out))


def attribute_closure(attributes: Iterable[str], dependencies: Iterable[tuple]) -> frozenset:
    """``X+``: every attribute that ``X`` determines under the dependencies (Armstrong's axioms)."""
    closure = set(attributes)
    changed = True
    while changed:
        changed = False
        for tail, head in dependencies:
            if tail <= closure and not head <= closure:
                closure |= head
                changed = True
    return frozenset(closure)


@dataclass(frozen=True)
class ObjectSchema:
    """``<N, F, S>`` plus the set-valued attributes."""

    N: frozenset
    F: tuple = ()
    S: tuple = ()
    set_valued: frozenset = frozenset()

    def __post_init__(self) -> None:
        N = frozenset(self.N)
        if not N:
            raise UserError("an object schema needs at least one attribute in N")
        object.__setattr__(self, "N", N)
        object.__setattr__(self, "F", _fds(self.F, N))
        object.__setattr__(self, "S", tuple(dict.fromkeys(_attrs(f"S[{i}]", s, N) for i, s in enumerate(self.S))))
        object.__setattr__(self, "set_valued", _attrs("set_valued", self.set_valued, N) if self.set_valued
                           else frozenset())

    def implies(self, tail: Iterable[str], head: Iterable[str]) -> bool:
        """Does ``F`` imply the dependency ``tail -> head``?"""
        return frozenset(head) <= attribute_closure(tail, self.F)

    def violations(self, objects: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Every way ``objects`` (name -> {attribute: value}) break the schema, naming the objects."""
        out = []
        for name, attrs in sorted(objects.items()):
            unknown = sorted(set(attrs) - self.N)
            if unknown:
                out.append(f"object {name!r} has attributes {unknown} outside N")
            for a, v in sorted(attrs.items()):
                is_set = isinstance(v, (set, frozenset))
                if a in self.set_valued and not is_set:
                    out.append(f"object {name!r}: {a} is set-valued, but holds {v!r}; give a set")
                elif a in self.N and a not in self.set_valued and is_set:
                    out.append(f"object {name!r}: {a} is single-valued, but holds a set {sorted(v)!r}")
        names = sorted(objects)
        for tail, head in self.F:
            for x, y in itertools.combinations(names, 2):
                ox, oy = objects[x], objects[y]
                if all(a in ox and a in oy and ox[a] == oy[a] for a in tail):
                    differ = sorted(a for a in head if ox.get(a) != oy.get(a))
                    if differ:
                        out.append(f"FD {', '.join(sorted(tail))} -> {', '.join(sorted(head))}: objects {x!r} and "
                                   f"{y!r} agree on the tail but differ on {differ}")
        return out

    def hypergraph(self) -> Hypergraph:
        """The schema drawn as a hypergraph: attributes as nodes, S undirected, F directed (``fd<i>``)."""
        nodes = {a: ("{set}" if a in self.set_valued else "attribute") for a in self.N}
        return Hypergraph(nodes, {f"S{i}:" + ",".join(sorted(s)): s for i, s in enumerate(self.S)},
                          {f"fd{i}": (t, h) for i, (t, h) in enumerate(self.F)})

    def values(self, objects: Mapping[str, Mapping[str, Any]]) -> Hypergraph:
        """The value level of ``objects`` under this schema (refused when they break it): one value node per
        ``attribute=value`` (sets written sorted), one hyperedge per object, per sub-object value tuple of
        ``S`` (shared when equal) and one directed hyperedge per dependency and object."""
        problems = self.violations(objects)
        if problems:
            raise UserError(f"objects do not satisfy the object schema: {problems[0]}")

        def node(a, v):
            return f"{a}={{{', '.join(map(str, sorted(v)))}}}" if isinstance(v, (set, frozenset)) else f"{a}={v}"

        nodes = {node(a, v): a for attrs in objects.values() for a, v in attrs.items()}
        hyper = {name: {node(a, v) for a, v in attrs.items()} for name, attrs in objects.items()}
        directed = {}
        for name, attrs in objects.items():
            for i, s in enumerate(self.S):
                if s <= attrs.keys():
                    hyper[f"S{i}:" + ",".join(node(a, attrs[a]) for a in sorted(s))] = {node(a, attrs[a]) for a in s}
            for i, (tail, head) in enumerate(self.F):
                if (tail | head) <= attrs.keys():
                    directed[f"fd{i}:{name}"] = ({node(a, attrs[a]) for a in tail}, {node(a, attrs[a]) for a in head})
        return Hypergraph(nodes, hyper, directed)


@dataclass(frozen=True)
class ClassSchema:
    """``<N, F, H>``: ``H`` the attribute sets of the classes (``N`` itself among them), named by ``names``."""

    N: frozenset
    F: tuple = ()
    H: tuple = ()
    names: Mapping[frozenset, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        N = frozenset(self.N)
        object.__setattr__(self, "N", N)
        object.__setattr__(self, "F", _fds(self.F, N))
        H = tuple(dict.fromkeys(_attrs(f"H[{i}]", h, N) for i, h in enumerate(self.H)))
        if N not in H:
            raise UserError(f"H must contain N itself ({sorted(N)}); add it as the class with every attribute")
        object.__setattr__(self, "H", H)
        object.__setattr__(self, "names", {frozenset(k): v for k, v in dict(self.names).items()})

    def name(self, h: frozenset) -> str:
        return self.names.get(h, "{" + ", ".join(sorted(h)) + "}")

    def is_subclass(self, sub: frozenset, sup: frozenset) -> bool:
        """``sub`` inherits from ``sup`` when it has all of ``sup``'s attributes and more."""
        return sup < sub

    def inheritance(self) -> nx.DiGraph:
        """The Hasse diagram of the inheritance order: an edge ``sub -> super`` for each direct superclass."""
        g = nx.DiGraph()
        g.add_nodes_from(self.name(h) for h in self.H)
        for sub in self.H:
            above = [sup for sup in self.H if self.is_subclass(sub, sup)]
            for sup in above:
                if not any(self.is_subclass(mid, sup) and self.is_subclass(sub, mid) for mid in above):
                    g.add_edge(self.name(sub), self.name(sup))
        return g

    def lattice_violations(self) -> list[str]:
        """Pairs of classes without a least common superclass or a greatest common subclass in ``H``."""
        out = []
        for a, b in itertools.combinations(self.H, 2):
            uppers = [h for h in self.H if h <= a and h <= b]
            lowers = [h for h in self.H if h >= a and h >= b]
            least = [u for u in uppers if all(v <= u for v in uppers)]
            greatest = [w for w in lowers if all(w <= v for v in lowers)]
            if not least:
                out.append(f"classes {self.name(a)} and {self.name(b)} have no least common superclass in H")
            if not greatest:
                out.append(f"classes {self.name(a)} and {self.name(b)} have no greatest common subclass in H")
        return out

    def object_schema(self, h: Iterable[str]) -> ObjectSchema:
        """The object schema of one class: its attributes and the dependencies that lie inside them."""
        h = frozenset(h)
        if h not in self.H:
            raise UserError(f"{sorted(h)} is not a class of this schema; classes are {[sorted(x) for x in self.H]}")
        return ObjectSchema(h, tuple((t, hd) for t, hd in self.F if (t | hd) <= h))


def example() -> tuple[ObjectSchema, ClassSchema, dict]:
    """People with a set-valued PARENTS determined by NAME, LASTNAME; employees add DEPT and FLOOR with
    DEPT -> FLOOR, and the department is a shareable sub-object."""
    N = {"NAME", "LASTNAME", "PARENTS", "DEPT", "FLOOR"}
    F = ((("NAME", "LASTNAME"), ("PARENTS",)), (("DEPT",), ("FLOOR",)))
    objects = {"e1": {"NAME": "Ann", "LASTNAME": "Lee", "PARENTS": frozenset({"Kim", "Max"}), "DEPT": "R&D",
                      "FLOOR": 3},
               "e2": {"NAME": "Bob", "LASTNAME": "Lee", "PARENTS": frozenset({"Kim", "Max"}), "DEPT": "R&D",
                      "FLOOR": 3},
               "p1": {"NAME": "Cid", "LASTNAME": "Roe", "PARENTS": frozenset({"Eve"})}}
    objects_schema = ObjectSchema(N, F, (("DEPT", "FLOOR"),), set_valued={"PARENTS"})
    person = frozenset({"NAME", "LASTNAME", "PARENTS"})
    classes = ClassSchema(N, F, (person, frozenset(N), frozenset({"NAME", "LASTNAME"})),
                          names={person: "Person", frozenset(N): "Employee",
                                 frozenset({"NAME", "LASTNAME"}): "Named"})
    return objects_schema, classes, objects


__all__ = ["ClassSchema", "ObjectSchema", "SURVEY", "attribute_closure", "example"]
