"""Argument checks shared by the graph models: each error names the argument, what was expected and a fix."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any


def require_mapping(name: str, value: Any) -> Mapping:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping (dict), got {type(value).__name__}; pass e.g. {{'a': 'Person'}}")
    return value


def require_label(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string label, got {value!r}; give every node/edge a name")
    return value


def require_node_id(name: str, value: Any) -> Hashable:
    if isinstance(value, (list, dict, set)) or not isinstance(value, Hashable):
        raise TypeError(f"{name} must be a hashable node id (str or int), got {type(value).__name__}")
    return value


def require_triples(name: str, edges: Iterable, nodes: Mapping) -> list[tuple]:
    """Check labelled edges ``(source, label, target)`` whose ends are known nodes."""
    out = []
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Iterable):
        raise TypeError(f"{name} must be an iterable of (source, label, target) tuples, got {type(edges).__name__}")
    for i, edge in enumerate(edges):
        if not isinstance(edge, tuple) or len(edge) != 3:
            raise ValueError(f"{name}[{i}] must be a (source, label, target) tuple, got {edge!r}")
        u, label, v = edge
        require_label(f"{name}[{i}] label", label)
        for end, what in ((u, "source"), (v, "target")):
            if end not in nodes:
                raise ValueError(
                    f"{name}[{i}] {what} {end!r} is not a node; add it to nodes first or fix the edge {edge!r}")
        out.append((u, label, v))
    return out


def require_labelled_nodes(name: str, value: Any) -> dict:
    """Check a mapping of node id to a non-empty label; return it as a dict."""
    nodes = dict(require_mapping(name, value))
    for node, label in nodes.items():
        require_node_id(f"{name} key", node)
        require_label(f"{name}[{node!r}]", label)
    return nodes


def require_edge_set(name: str, edges: Iterable, nodes: Mapping) -> tuple[tuple, ...]:
    """:func:`require_triples`, with repeated edges dropped (first occurrence kept, order preserved)."""
    return tuple(dict.fromkeys(require_triples(name, edges, nodes)))


def require_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
