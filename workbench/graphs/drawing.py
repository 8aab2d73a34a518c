"""``draw(model)``: pictures of every graph model in the visual language of the literature.

Conventions: objects / non-printable nodes are squares, values / printable nodes are circles, GDM
composite values are diamonds, RDF IRIs are ovals and literals are boxes (the RDF primer's convention),
multivalued edges have double arrowheads, isa edges hollow arrowheads, hyperedges are shaded regions,
closed Simatic-XT master nodes are double-bordered boxes with bold master edges. Layouts are deterministic
(Kamada-Kawai from a circular start in sorted node order, or layered from a root), so the same model
always gives the same picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections import defaultdict

import matplotlib
import networkx as nx
import numpy as np
from matplotlib.figure import Figure

from workbench.graphs import _figures
from workbench.graphs._scene import (_COLORS, FORMATS, _Edge, _Node, _render, _Scene, _sort_key, force_layout,
                                     layered_layout)
from workbench.graphs.gdm import GdmGraph
from workbench.graphs.groovy import ObjectSchema
from workbench.graphs.good import GoodGraph
from workbench.graphs.hypergraph import Hypergraph
from workbench.graphs.labelled import LabelledGraph
from workbench.graphs.nested import NestedGraph
from workbench.graphs.oem import OemGraph
from workbench.graphs.rdf import RdfGraph


_SQ = dict(marker="s", markersize=9, markerfacecolor=_COLORS["object"], markeredgecolor="#333")
_CI = dict(marker="o", markersize=9, markerfacecolor=_COLORS["value"], markeredgecolor="#333")


def _labelled_scene(m: LabelledGraph) -> _Scene:
    if m.kind == "schema":
        nodes = {n: _Node(str(lab), "square", _COLORS["object"]) for n, lab in m.nodes.items()}
        legend = [("type (schema node)", _SQ)]
    else:
        nodes = {n: _Node(f"{n}\n:{lab}", "circle", _COLORS["value"]) for n, lab in m.nodes.items()}
        legend = [("instance node  id : type", _CI)]
    edges = [_Edge(u, v, lab) for u, lab, v in m.edges]
    return _Scene(nodes, edges, force_layout(m.to_networkx()), legend=legend,
                  title=f"labelled graph ({m.kind})")


def _value_text(v: Any, width: int = 14) -> str:
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= width else text[: width - 1] + "…"


def _good_scene(m: GoodGraph) -> _Scene:
    nodes = {}
    for n, lab in m.nodes.items():
        if n in m.values:
            shown = "any" if m.values[n] is None else _value_text(m.values[n])
            nodes[n] = _Node(f"{shown}\n{lab}", "circle", _COLORS["value"])
        else:
            nodes[n] = _Node(lab, "square", _COLORS["object"])
    edges = [_Edge(u, v, lab, "double" if lab in m.multivalued else "arrow") for u, lab, v in m.edges]
    legend = [("non-printable (object)", _SQ), ("printable (value)", _CI),
              ("→  functional edge", {}), ("↠  multivalued edge", {})]
    return _Scene(nodes, edges, force_layout(m.to_networkx()), legend=legend, title="GOOD")


def _gdm_scene(m: GdmGraph) -> _Scene:
    nodes = {}
    for n, (kind, lab) in m.nodes.items():
        if kind == "object":
            nodes[n] = _Node(lab, "square", _COLORS["object"])
        elif kind == "composite":
            nodes[n] = _Node(lab, "diamond", _COLORS["composite"])
        else:
            shown = _value_text(m.values[n]) if n in m.values else "?"
            nodes[n] = _Node(f"{shown}\n{lab}", "circle", _COLORS["value"])
    edges = [_Edge(u, v, lab) for u, lab, v in m.edges] + [_Edge(u, v, "isa", "hollow") for u, v in m.isa]
    legend = [("object node", _SQ),
              ("composite-value node", dict(marker="D", markersize=8, markerfacecolor=_COLORS["composite"],
                                            markeredgecolor="#333")),
              ("basic-value node", _CI), ("▷  isa edge (hollow head)", {})]
    return _Scene(nodes, edges, force_layout(m.to_networkx()), legend=legend, title="GDM")


def _oem_scene(m: OemGraph) -> _Scene:
    g = m.to_networkx()
    nodes = {}
    for oid in m.objects:
        if oid in m.atoms:
            nodes[oid] = _Node(f"{oid}\n{_value_text(m.atoms[oid])}", "box", _COLORS["literal"])
        else:
            nodes[oid] = _Node(str(oid), "circle", _COLORS["object"])
    edges = [_Edge(u, v, lab) for u, lab, v in m.edges]
    legend = [("complex object (oid)", dict(marker="o", markersize=9, markerfacecolor=_COLORS["object"],
                                            markeredgecolor="#333")),
              ("atomic object (oid, value)", dict(marker="s", markersize=9, markerfacecolor=_COLORS["literal"],
                                                  markeredgecolor="#333"))]
    return _Scene(nodes, edges, layered_layout(nx.DiGraph(g), [m.root]), legend=legend,
                  title=f"OEM (root {m.root})")


def _rdf_scene(m: RdfGraph) -> _Scene:
    g = m.to_networkx()
    nodes = {}
    for n, d in g.nodes(data=True):
        if d["kind"] == "literal":
            nodes[n] = _Node(_value_text(d["label"], 18), "box", _COLORS["literal"])
        elif d["kind"] == "blank":
            nodes[n] = _Node(d["label"], "circle", _COLORS["plain"])
        else:
            nodes[n] = _Node(d["label"], "oval", _COLORS["object"])
    edges = [_Edge(u, v, d["label"]) for u, v, d in g.edges(data=True)]
    legend = [("IRI", dict(marker="o", markersize=10, markerfacecolor=_COLORS["object"], markeredgecolor="#333")),
              ("literal", dict(marker="s", markersize=9, markerfacecolor=_COLORS["literal"], markeredgecolor="#333"))]
    return _Scene(nodes, edges, force_layout(g), legend=legend, title=f"RDF ({len(m)} triples)")


def _nested_scene(m: NestedGraph) -> _Scene:
    g = m.view()
    nodes = {n: (_Node(f"{d['label']}\n({d['size']} nodes)", "double", _COLORS["master"]) if d["master"]
                 else _Node(f"{n}\n{d['label']}" if str(n) != d["label"] else str(n), "circle", _COLORS["value"]))
             for n, d in g.nodes(data=True)}
    edges = [_Edge(u, v, f"{d['label']} ×{d['multiplicity']}" if d["master"] and d["multiplicity"] > 1 else d["label"],
                   "bold" if d["master"] else "arrow") for u, v, d in g.edges(data=True)]
    legend = [("master node (closed)", dict(marker="s", markersize=10, markerfacecolor=_COLORS["master"],
                                            markeredgecolor="#333")), ("node", _CI), ("bold: master edge", {})]
    opened = ", ".join(sorted(map(str, m.developed))) or "none"
    return _Scene(nodes, edges, force_layout(g), legend=legend, title=f"Simatic-XT nesting (developed: {opened})")


def _hyper_scene(m: Hypergraph) -> _Scene:
    inc = m.to_networkx()
    pos_all = force_layout(inc)
    nodes = {("node", n): _Node(str(n), "circle", _COLORS["value"]) for n in m.nodes}
    pos = {k: pos_all[k] for k in nodes}
    sizes = sorted({len(v) for v in m.hyperedges.values()})
    regions = [(name, [("node", x) for x in sorted(members, key=_sort_key)], sizes.index(len(members)))
               for name, members in sorted(m.hyperedges.items())]
    edges = []
    twins: dict = defaultdict(list)
    for name, (tail, head) in sorted(m.directed.items()):
        twins[(tail, head)].append(name)
    for name, (tail, head) in sorted(m.directed.items()):
        hub = ("edge", name)
        nodes[hub] = _Node("", "dot")
        # The hub sits between its tail and head; parallel dependencies fan out sideways.
        t = np.mean([pos[("node", x)] for x in tail], axis=0)
        h = np.mean([pos[("node", x)] for x in head], axis=0)
        d = h - t
        perp = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-12)
        same = twins[(tail, head)]
        pos[hub] = (t + h) / 2 + perp * 0.6 * (same.index(name) - (len(same) - 1) / 2 + 0.5)
        edges += [_Edge(("node", t), hub, "", "line") for t in sorted(tail, key=_sort_key)]
        edges += [_Edge(hub, ("node", h), name if i == 0 else "", "arrow") for i, h in
                  enumerate(sorted(head, key=_sort_key))]
    legend = [("value node", _CI), ("shaded region: hyperedge", {}), ("• → directed hyperedge", {})]
    return _Scene(nodes, edges, pos, regions=regions, legend=legend, title="hypergraph (GROOVY)")


def _object_schema_scene(s: ObjectSchema) -> _Scene:
    scene = _hyper_scene(s.hypergraph())
    scene.title = "GROOVY object schema <N, F, S>"
    return scene


def _networkx_scene(g: nx.Graph) -> _Scene:
    nodes = {n: _Node(str(d.get("label", n)), "circle", _COLORS["value"]) for n, d in g.nodes(data=True)}
    style = "arrow" if g.is_directed() else "line"
    edges = [_Edge(u, v, str(d.get("label", "")), style) for u, v, d in g.edges(data=True)]
    return _Scene(nodes, edges, force_layout(g), title=g.graph.get("name", ""))


_SCENES = [(LabelledGraph, _labelled_scene), (GoodGraph, _good_scene), (GdmGraph, _gdm_scene),
           (OemGraph, _oem_scene), (RdfGraph, _rdf_scene), (NestedGraph, _nested_scene),
           (Hypergraph, _hyper_scene), (ObjectSchema, _object_schema_scene)] + _figures.SCENES + [(nx.Graph, _networkx_scene)]


def draw(model: Any, *, ax=None, path: str | Path | None = None, title: str | None = None) -> Figure:
    """Draw a graph model (any model of this package, or a labelled networkx graph) with matplotlib.

    Parameters
    ----------
    model : any model of :mod:`workbench.graphs` (see :data:`_SCENES`), or a networkx graph with node labels.
    ax : optional matplotlib Axes to draw into; by default a new Figure sized to the layout.
    path : optional ``.png`` or ``.svg`` file to save to (SVG without a date, so it is reproducible).
    title : replaces the default title.

    Returns the Figure (not attached to pyplot, so nothing leaks between calls; in a notebook it displays
    as the cell's value).
    """
    for cls, scene_of in _SCENES:
        if isinstance(model, cls):
            scene = scene_of(model)
            break
    else:
        names = ", ".join(c.__name__ for c, _ in _SCENES)
        raise TypeError(f"model must be one of {names}; got {type(model).__name__}")
    if title is not None:
        scene.title = title
    fig = _render(scene, ax)
    if path is not None:
        save_figure(fig, path)
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save as PNG (150 dpi) or SVG (no timestamp, fixed hash salt); the suffix picks the format."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"path must end in {' or '.join(FORMATS)}, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".svg":
        with matplotlib.rc_context({"svg.hashsalt": "workbench-graphs"}):
            fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    else:
        fig.savefig(path, format="png", dpi=150, bbox_inches="tight")
    return path
