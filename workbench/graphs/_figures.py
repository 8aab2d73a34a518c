"""Scenes for the models added after the first seven, each in the visual language of its survey figure.

GMOD: class / object nodes are rectangles, primitive values ovals (``?`` when unknown). PaMaL: classes are
rectangles, basic types ovals, tuple nodes ⊗, set nodes ``*``; ``typ`` edges dashed, ``isa`` hollow-headed,
membership edges labelled ∈. GOAL: objects squares, values circles, associations diamonds, multivalued edges
with double heads. Gram: typed nodes ``id : TYPE``; a schema shows its types as boxes. GGL: labelled vertices
ovals, unlabelled vertices dots, symbols boxes, a packed vertex a double box with its members shaded.
"""

from __future__ import annotations

from workbench.graphs._scene import _COLORS, _Edge, _Node, _Scene, _sort_key, force_layout, layered_layout
from workbench.graphs.ggl import GglGraph
from workbench.graphs.gmod import GmodGraph, GmodSchema
from workbench.graphs.goal import GoalGraph
from workbench.graphs.gram import GramGraph, GramSchema
from workbench.graphs.groovy import ClassSchema
from workbench.graphs.gul import GdmInstance
from workbench.graphs.pamal import PamalGraph
from workbench.graphs.simatic import Network

_SQ = dict(marker="s", markersize=9, markerfacecolor=_COLORS["object"], markeredgecolor="#333")
_OV = dict(marker="o", markersize=9, markerfacecolor=_COLORS["value"], markeredgecolor="#333")
_DI = dict(marker="D", markersize=8, markerfacecolor=_COLORS["composite"], markeredgecolor="#333")


def _value(v) -> str:
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= 14 else text[:13] + "…"


def gmod_scene(m: GmodGraph) -> _Scene:
    nodes = {}
    for n, (kind, label) in m.nodes.items():
        if kind == "object":
            nodes[n] = _Node(f"{n}\n{label}", "square", _COLORS["object"])
        else:
            shown = "?" if m.values.get(n) is None else _value(m.values[n])
            nodes[n] = _Node(f"{shown}\n{label}", "oval", _COLORS["value"])
    edges = [_Edge(u, v, lab) for u, lab, v in m.edges]
    legend = [("object (class) node", _SQ), ("primitive node, ? = unknown", _OV)]
    return _Scene(nodes, edges, force_layout(m.to_networkx()), legend=legend, title="GMOD instance")


def gmod_schema_scene(s: GmodSchema) -> _Scene:
    import networkx as nx
    nodes = {c: _Node(c, "square" if k == "object" else "oval", _COLORS["object" if k == "object" else "value"])
             for c, k in s.classes.items()}
    g = nx.MultiDiGraph([(u, v) for u, _, v in s.properties])
    g.add_nodes_from(s.classes)
    return _Scene(nodes, [_Edge(u, v, lab) for u, lab, v in s.properties], force_layout(g),
                  legend=[("class", _SQ), ("primitive class", _OV)], title="GMOD schema")


def pamal_scene(m: PamalGraph) -> _Scene:
    nodes = {}
    for n, (kind, label) in m.nodes.items():
        if kind == "class":
            nodes[n] = _Node(label, "square", _COLORS["object"])
        elif kind == "basic":
            nodes[n] = _Node(label, "oval", _COLORS["value"])
        elif kind in ("tuple-type", "tuple"):
            nodes[n] = _Node("⊗" if kind == "tuple-type" else f"⊗ {n}", "circle",
                             _COLORS["composite" if kind == "tuple" else "plain"])
        elif kind in ("set-type", "set"):
            nodes[n] = _Node("*" if kind == "set-type" else f"* {n}", "circle",
                             _COLORS["composite" if kind == "set" else "plain"])
        elif kind == "object":
            nodes[n] = _Node(str(n), "square", _COLORS["master"])
        else:
            nodes[n] = _Node(_value(m.values.get(n, "?")), "circle", _COLORS["literal"])
    edges = []
    for u, lab, v in m.edges:
        if lab == "typ":
            edges.append(_Edge(u, v, "typ", "arrow", dashed=True))
        elif lab == "isa":
            edges.append(_Edge(u, v, "isa", "hollow"))
        else:
            edges.append(_Edge(u, v, "∈" if lab == "in" else lab))
    legend = [("class", _SQ), ("basic type", _OV), ("⊗ tuple, * set node", {}), ("object (instance)",
              dict(marker="s", markersize=9, markerfacecolor=_COLORS["master"], markeredgecolor="#333")),
              ("dashed: typ,  ▷ isa", {})]
    return _Scene(nodes, edges, force_layout(m.to_networkx()), legend=legend, title="PaMaL")


def goal_scene(m: GoalGraph) -> _Scene:
    nodes = {}
    for n, (kind, label) in m.nodes.items():
        if kind == "object":
            nodes[n] = _Node(f"{n}\n{label}", "square", _COLORS["object"])
        elif kind == "association":
            nodes[n] = _Node(label, "diamond", _COLORS["composite"])
        else:
            nodes[n] = _Node(_value(m.values.get(n, "?")), "circle", _COLORS["value"])
    multi = m.multivalued()
    edges = [_Edge(u, v, lab, "double" if lab in multi else "arrow") for u, lab, v in m.edges]
    legend = [("object node", _SQ), ("value node", _OV), ("association node", _DI), ("↠ multivalued edge", {})]
    return _Scene(nodes, edges, force_layout(m.to_networkx()), legend=legend, title="GOAL")


def gram_scene(m: GramGraph) -> _Scene:
    nodes = {n: _Node(f"{n}\n:{t}", "circle", _COLORS["value"]) for n, t in m.nodes.items()}
    edges = [_Edge(u, v, lab) for u, lab, v in m.edges]
    return _Scene(nodes, edges, force_layout(m.to_networkx()), legend=[("node  id : type", _OV)],
                  title="Gram instance")


def gram_schema_scene(s: GramSchema) -> _Scene:
    g = s.as_graph()
    nodes = {t: _Node(t, "square", _COLORS["object"]) for t in s.node_types}
    return _Scene(nodes, [_Edge(u, v, lab) for u, lab, v in s.edge_types], force_layout(g.to_networkx()),
                  legend=[("node type", _SQ)], title="Gram schema")


def ggl_scene(m: GglGraph) -> _Scene:
    nodes = {}
    for n, label in m.nodes.items():
        if n in m.packed:
            nodes[n] = _Node(label or str(n), "double", _COLORS["master"])
        elif label is None:
            nodes[n] = _Node("", "dot")
        else:
            nodes[n] = _Node(f"{n}\n{label}", "oval", _COLORS["object"])
    for n, value in m.symbols.items():
        nodes[n] = _Node(_value(value), "box", _COLORS["literal"])
    edges = [_Edge(u, v, lab) for u, lab, v in m.edges]
    pos = force_layout(m.to_networkx())
    regions = [(f"packed {p}", sorted(members, key=_sort_key), 0) for p, members in sorted(m.packed.items(), key=repr)]
    legend = [("labelled vertex", dict(marker="o", markersize=10, markerfacecolor=_COLORS["object"],
                                       markeredgecolor="#333")),
              ("• unlabelled vertex", {}), ("symbol", dict(marker="s", markersize=9, markerfacecolor=_COLORS["literal"],
                                                           markeredgecolor="#333")),
              ("packed vertex (shaded: its graph)", {})]
    return _Scene(nodes, edges, pos, regions=regions, legend=legend, title="GGL")


def groovy_class_scene(s: ClassSchema) -> _Scene:
    g = s.inheritance().reverse(copy=True)  # super -> sub, so the most general classes come first
    attrs = {s.name(h): h for h in s.H}
    nodes = {n: _Node(f"{n}\n{', '.join(sorted(attrs[n]))}", "square", _COLORS["object"]) for n in g}
    roots = sorted(n for n in g if g.in_degree(n) == 0)
    edges = [_Edge(sub, sup, "", "hollow") for sup, sub in g.edges]
    return _Scene(nodes, edges, layered_layout(g, roots), legend=[("class: its attribute set", _SQ),
                                                                   ("▷ inherits from (subset of attributes)", {})],
                  title="GROOVY class schema: inheritance by attribute inclusion")


def network_scene(m: Network) -> _Scene:
    nodes = {n: (_Node(f"{n}\n{t}", "circle", _COLORS["value"]) if t != "Junction" else _Node(str(n), "box"))
             for n, t in m.nodes.items()}
    edges = [_Edge(u, v, lab) for u, lab, v in m.edges]
    return _Scene(nodes, edges, force_layout(m.to_networkx()), legend=[("node  id / type", _OV)],
                  title=f"Simatic-XT network of type {m.type.name!r}")


def gdm_instance_scene(m: GdmInstance) -> _Scene:
    nodes = {}
    for n, sort in m.nodes.items():
        classes = ", ".join(sorted(m.classes[n]))
        if sort == "object":
            nodes[n] = _Node(f"{n}\n{classes}", "square", _COLORS["object"])
        elif sort == "composite":
            nodes[n] = _Node(classes, "diamond", _COLORS["composite"])
        else:
            nodes[n] = _Node(f"{_value(m.values.get(n, '?'))}\n{classes}", "circle", _COLORS["value"])
    edges = [_Edge(u, v, lab) for u, lab, v in m.edges]
    return _Scene(nodes, edges, force_layout(m.to_networkx()),
                  legend=[("object (its classes)", _SQ), ("composite value", _DI), ("basic value", _OV)],
                  title="GDM instance (extension: classes per node)")


SCENES = [(GdmInstance, gdm_instance_scene), (Network, network_scene), (ClassSchema, groovy_class_scene), (GmodGraph, gmod_scene), (GmodSchema, gmod_schema_scene), (PamalGraph, pamal_scene),
          (GoalGraph, goal_scene), (GramGraph, gram_scene), (GramSchema, gram_schema_scene), (GglGraph, ggl_scene)]
