"""G-Log (Paredaens, Peelman, Tanca, 1995): rules drawn as coloured patterns, evaluated to a fixpoint.

A G-Log rule is one graph in two colours. Its *red* part is the condition: nodes that may carry variables
(a class or value left open), edges that must exist, *crossed* edges that must not exist (negation), and
predicates comparing values. Its *green* part is what the rule asserts: edges, and new nodes, for every
embedding of the red part. A program is a set of rules applied over and over until nothing changes (an
inflationary fixpoint). New nodes are named by the images they are attached to (Skolem names), so a rule
never creates the same node twice and the iteration terminates.

Negation is allowed only on edge labels that no rule asserts (a stratified program), because then the
answer does not depend on the order in which rules fire; other programs are refused with a message that
names the label.
"""

from __future__ import annotations

import operator
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import UserError
from workbench.graphs._typed import TypedGraph

_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
        ">=": operator.ge}


@dataclass(frozen=True)
class Rule:
    """One G-Log rule.

    Parameters
    ----------
    nodes : red variable -> ``(kind, label)``; a ``None`` label is a variable class.
    edges : red ``(var, label, var)`` edges that must exist.
    absent : crossed ``(var, label, var)`` edges that must not exist.
    conditions : ``(var, op, var_or_constant)`` predicates on values, op in ``= != < <= > >=``; a constant is
        written ``("const", value)``.
    add_edges : green ``(var, label, var)`` edges; green variables are keys of ``add_nodes``.
    add_nodes : green variable -> ``(kind, label)``.
    name : for messages.
    """

    nodes: Mapping[Hashable, tuple]
    edges: tuple = ()
    absent: tuple = ()
    conditions: tuple = ()
    add_edges: tuple = ()
    add_nodes: Mapping[Hashable, tuple] = field(default_factory=dict)
    name: str = "rule"

    def __post_init__(self) -> None:
        red = set(self.nodes)
        green = set(self.add_nodes)
        if red & green:
            raise UserError(f"G-Log {self.name}: variables {sorted(map(str, red & green))} are both red and green")
        for part, allowed in (("edges", red), ("absent", red), ("add_edges", red | green)):
            for e in getattr(self, part):
                if not (isinstance(e, tuple) and len(e) == 3) or e[0] not in allowed or e[2] not in allowed:
                    raise UserError(f"G-Log {self.name}: {part} entry {e!r} must join variables of the rule")
        for c in self.conditions:
            if not (isinstance(c, tuple) and len(c) == 3 and c[1] in _OPS and c[0] in red):
                raise UserError(f"G-Log {self.name}: condition {c!r} must be (variable, op, variable or "
                                f"('const', value)) with op in {sorted(_OPS)}")
            if not (c[2] in red or (isinstance(c[2], tuple) and len(c[2]) == 2 and c[2][0] == "const")):
                raise UserError(f"G-Log {self.name}: condition {c!r} compares with {c[2]!r}, neither a red "
                                "variable nor ('const', value)")
        if not self.add_edges and not self.add_nodes:
            raise UserError(f"G-Log {self.name}: the rule has no green part; it would assert nothing")

    def _pattern(self, graph: TypedGraph) -> TypedGraph:
        return type(graph)({v: (k, lab) for v, (k, lab) in self.nodes.items()}, tuple(self.edges),
                           validate=False)

    def embeddings(self, graph: TypedGraph) -> list[dict]:
        """The embeddings of the red part that satisfy the crossed edges and the predicates."""
        present = set(graph.edges)
        out = []
        for emb in graph.match(self._pattern(graph)):
            if any((emb[u], lab, emb[v]) in present for u, lab, v in self.absent):
                continue
            if all(_holds(graph, emb, c) for c in self.conditions):
                out.append(emb)
        return out


def _holds(graph: TypedGraph, emb: dict, condition: tuple) -> bool:
    var, op, other = condition
    left = graph.values.get(emb[var])
    right = other[1] if isinstance(other, tuple) and other[:1] == ("const",) else graph.values.get(emb[other])
    if left is None or right is None:  # unknown values satisfy no predicate
        return False
    try:
        return bool(_OPS[op](left, right))
    except TypeError:
        return False


def _check_stratified(rules: list[Rule]) -> None:
    asserted = {lab for r in rules for _, lab, _ in r.add_edges}
    for r in rules:
        for u, lab, v in r.absent:
            if lab in asserted:
                raise UserError(f"G-Log {r.name}: negated edge label {lab!r} is asserted by a rule; negate only "
                                "labels no rule adds (a stratified program)")


def apply_rule(graph: TypedGraph, rule: Rule) -> TypedGraph:
    """One application of ``rule`` to every embedding at once."""
    nodes, edges, values = dict(graph.nodes), list(graph.edges), dict(graph.values)
    for emb in rule.embeddings(graph):
        image: dict[Hashable, Any] = dict(emb)
        for var, (kind, label) in rule.add_nodes.items():
            anchors = sorted(f"{lab}={emb[v]!r}" for u, lab, v in rule.add_edges if u == var and v in emb)
            anchors += sorted(f"^{lab}={emb[u]!r}" for u, lab, v in rule.add_edges if v == var and u in emb)
            image[var] = f"{label}({', '.join(anchors)})"
            nodes[image[var]] = (kind, label)
        edges += [(image[u], lab, image[v]) for u, lab, v in rule.add_edges]
    return graph.replace(nodes=nodes, edges=tuple(dict.fromkeys(edges)), values=values, validate=False)


def evaluate(graph: TypedGraph, rules: list[Rule], *, max_rounds: int = 1000) -> TypedGraph:
    """The fixpoint of the program ``rules`` over ``graph`` (all rules applied each round until no change).

    The result is validated against the graph's own rules (a program may not break the schema)."""
    rules = list(rules)
    if not all(isinstance(r, Rule) for r in rules):
        raise UserError("rules must be a list of glog.Rule objects")
    _check_stratified(rules)
    current = graph
    for _ in range(max_rounds):
        nxt = current
        for r in rules:
            nxt = apply_rule(nxt, r)
        if set(nxt.edges) == set(current.edges) and dict(nxt.nodes) == dict(current.nodes):
            return current.replace(validate=graph.validate)
        current = nxt
    raise UserError(f"G-Log program did not reach a fixpoint in {max_rounds} rounds; raise max_rounds")


__all__ = ["Rule", "apply_rule", "evaluate"]
