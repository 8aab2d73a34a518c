"""OEM, the Object Exchange Model (Papakonstantinou, Garcia-Molina, Widom, 1995; the model of Lore).

OEM is semistructured and self-describing: there is no separate schema; every object has an identifier
and is either atomic (a value whose type is read off the value) or complex (a set of labelled references
to subobjects). A database is a rooted graph, and every object must be reachable from the root. Shared
subobjects and cycles are allowed, which is what makes it a graph rather than a tree.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from workbench.graphs._checks import require_mapping, require_node_id, require_triples

ATOMIC_TYPES = {bool: "boolean", int: "integer", float: "real", str: "string", bytes: "binary"}

SURVEY = {
    "model": "OEM", "year": 1995, "cite": "Papakonstantinou et al. 1995",
    "reference": "Y. Papakonstantinou, H. Garcia-Molina, J. Widom, Object exchange across heterogeneous "
                 "information sources, ICDE 1995",
    "data_structure": "rooted, self-describing graph of atomic and complex objects with labelled references",
    "query_language": "path expressions over the rooted graph (Lorel-style), integration through mediators",
    "integrity": "none beyond object identity and reachability from the root (schema-less)",
    "operators": ("OemGraph.describe", "oem_exchange.dumps", "oem_exchange.loads", "oem_exchange.integrate"),
}


def atomic_type(value: Any) -> str:
    """The OEM type name of an atomic value (what makes OEM self-describing)."""
    for py, name in ATOMIC_TYPES.items():
        if type(value) is py:
            return name
    raise TypeError(f"OEM atomic values are bool, int, float, str or bytes; got {type(value).__name__}")


@dataclass(frozen=True, eq=False)
class OemGraph:
    """A rooted OEM database.

    Parameters
    ----------
    root : the root object id (complex).
    edges : ``(parent, label, child)`` references from complex objects.
    atoms : object id -> atomic value; every other object mentioned is complex.
    """

    root: Hashable
    edges: tuple = ()
    atoms: Mapping[Hashable, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_node_id("root", self.root)
        atoms = dict(require_mapping("atoms", self.atoms))
        for oid, value in atoms.items():
            require_node_id("atoms key", oid)
            atomic_type(value)
        objects = {self.root: None, **{oid: None for oid in atoms}}
        for e in self.edges:
            if isinstance(e, tuple) and len(e) == 3:
                objects.setdefault(e[0], None)
                objects.setdefault(e[2], None)
        edges = tuple(dict.fromkeys(require_triples("edges", self.edges, objects)))
        if self.root in atoms:
            raise ValueError(f"root {self.root!r} must be a complex object, but atoms gives it a value")
        parents_atomic = sorted({repr(u) for u, _, _ in edges if u in atoms})
        if parents_atomic:
            raise ValueError(f"atomic objects {parents_atomic} have subobjects; only complex objects have edges")
        g = nx.DiGraph([(u, v) for u, _, v in edges])
        g.add_nodes_from(objects)
        unreachable = set(objects) - nx.descendants(g, self.root) - {self.root}
        if unreachable:
            raise ValueError(f"objects {sorted(map(repr, unreachable))} are not reachable from the root "
                             f"{self.root!r}; link them from a reachable complex object")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "atoms", MappingProxyType(atoms))

    @property
    def objects(self) -> list[Hashable]:
        """Every object id, root first, then in order of first mention."""
        seen = {self.root: None}
        for u, _, v in self.edges:
            seen.setdefault(u, None)
            seen.setdefault(v, None)
        for oid in self.atoms:
            seen.setdefault(oid, None)
        return list(seen)

    def describe(self, oid: Hashable) -> dict:
        """OEM's self-description of one object: ``{"oid", "type", "value"}`` (complex: labelled children)."""
        if oid not in set(self.objects):
            raise ValueError(f"oid {oid!r} is not an object of this database")
        if oid in self.atoms:
            return {"oid": oid, "type": atomic_type(self.atoms[oid]), "value": self.atoms[oid]}
        return {"oid": oid, "type": "complex", "value": [(lab, v) for u, lab, v in self.edges if u == oid]}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OemGraph):
            return NotImplemented
        return self.root == other.root and set(self.edges) == set(other.edges) and dict(self.atoms) == dict(other.atoms)

    def __repr__(self) -> str:
        return f"OemGraph(root={self.root!r}, {len(self.objects)} objects, {len(self.atoms)} atomic)"

    def to_networkx(self) -> nx.MultiDiGraph:
        """Node attributes ``label`` (the OEM type), ``value``, ``atomic``; graph attribute ``root``."""
        g = nx.MultiDiGraph(model="oem", root=self.root)
        for oid in self.objects:
            if oid in self.atoms:
                g.add_node(oid, label=atomic_type(self.atoms[oid]), value=self.atoms[oid], atomic=True)
            else:
                g.add_node(oid, label="complex", value=None, atomic=False)
        for u, label, v in self.edges:
            g.add_edge(u, v, key=label, label=label)
        return g

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph) -> "OemGraph":
        """Inverse of :meth:`to_networkx` (needs the graph attribute ``root``)."""
        if not isinstance(graph, nx.DiGraph) or "root" not in graph.graph:
            raise TypeError("graph must be a networkx MultiDiGraph with graph attribute 'root' (from to_networkx)")
        atoms = {n: d["value"] for n, d in graph.nodes(data=True) if d.get("atomic")}
        return cls(graph.graph["root"], tuple((u, d["label"], v) for u, v, d in graph.edges(data=True)), atoms)

    @classmethod
    def from_python(cls, data: Mapping | list, root: str = "&root") -> "OemGraph":
        """Build OEM from nested dicts/lists of atoms (a JSON document): dict keys become edge labels, list
        items become repeated edges labelled by the enclosing key. Object ids are ``&1, &2, ...``."""
        if not isinstance(data, (Mapping, list)):
            raise TypeError(f"data must be a dict or list (a document), got {type(data).__name__}")
        edges, atoms, counter = [], {}, [0]

        def new_oid() -> str:
            counter[0] += 1
            return f"&{counter[0]}"

        def add(parent: str, label: str, value: Any) -> None:
            if isinstance(value, list):
                for item in value:
                    add(parent, label, item)
                return
            oid = new_oid()
            edges.append((parent, label, oid))
            if isinstance(value, Mapping):
                for k, v in value.items():
                    add(oid, str(k), v)
            else:
                atoms[oid] = value

        items = data.items() if isinstance(data, Mapping) else [("item", x) for x in data]
        for k, v in items:
            add(root, str(k), v)
        return cls(root, tuple(edges), atoms)

    def to_python(self) -> dict:
        """Unfold from the root into nested dicts (repeated labels become lists); refuses cycles."""
        def unfold(oid: Hashable, path: tuple) -> Any:
            if oid in self.atoms:
                return self.atoms[oid]
            if oid in path:
                raise ValueError(f"object {oid!r} lies on a cycle; a cyclic OEM graph has no tree form")
            out: dict = {}
            for u, label, v in self.edges:
                if u == oid:
                    value = unfold(v, path + (oid,))
                    if label in out:
                        out[label] = (out[label] if isinstance(out[label], list) else [out[label]]) + [value]
                    else:
                        out[label] = value
            return out
        return unfold(self.root, ())
