"""The rendering core shared by every model's picture: a *scene* (shaped nodes, styled edges, shaded
regions, a legend) laid out deterministically and rendered with matplotlib. Model modules only say which
shape and style each of their elements gets; see :func:`workbench.graphs.draw`."""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import networkx as nx
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, FancyArrowPatch, Polygon, Rectangle
from matplotlib.path import Path as MplPath


FORMATS = (".png", ".svg")
_CHAR_W = 0.085  # data units per character at the font size used, with one layout unit per ~0.9 inch
_NODE_H = 0.36
_COLORS = {"object": "#dbe9f6", "value": "#fde9c9", "composite": "#e3f1dd", "literal": "#f4f4f4",
           "master": "#efe3f5", "plain": "#ffffff"}


@dataclass
class _Node:
    text: str
    shape: str = "circle"  # circle | square | diamond | oval | box | double | dot
    color: str = _COLORS["plain"]


@dataclass
class _Edge:
    u: Hashable
    v: Hashable
    text: str = ""
    style: str = "arrow"  # arrow | double | hollow | line | bold
    dashed: bool = False


@dataclass
class _Scene:
    nodes: dict[Hashable, _Node]
    edges: list[_Edge]
    pos: dict[Hashable, np.ndarray]
    regions: list[tuple[str, list[Hashable], int]] = field(default_factory=list)
    legend: list[tuple[str, dict]] = field(default_factory=list)
    title: str = ""
    font: float = 1.0  # text scale: 1.0 when one layout unit is 0.9 inch on the page


def _sort_key(x: Any) -> tuple:
    return (type(x).__name__, repr(x))


def _spread(pos: dict, min_dist: float = 2.0) -> dict:
    """Scale a layout so that the closest pair of nodes is ``min_dist`` apart (room for labels)."""
    if len(pos) < 2:
        return {k: np.zeros(2) + np.asarray(v, float) * 0 for k, v in pos.items()}
    keys = list(pos)
    xy = np.array([pos[k] for k in keys], float)
    xy -= xy.mean(axis=0)
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    d[np.diag_indices_from(d)] = np.inf
    closest = max(float(np.median(d.min(axis=1))), 1e-9)
    xy *= min_dist / closest
    return dict(zip(keys, xy))


def _segments_cross(p1, p2, q1, q2) -> bool:
    def orient(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
    return (orient(p1, p2, q1) * orient(p1, p2, q2) < 0) and (orient(q1, q2, p1) * orient(q1, q2, p2) < 0)


def _layout_badness(und: nx.Graph, pos: dict) -> float:
    """Edge crossings plus (weighted) edges that pass close to a node they do not touch."""
    edges = list(und.edges())
    bad = 0.0
    for i, (a, b) in enumerate(edges):
        for c, d in edges[i + 1:]:
            if len({a, b, c, d}) == 4 and _segments_cross(pos[a], pos[b], pos[c], pos[d]):
                bad += 1
        pa, pb = pos[a], pos[b]
        seg = pb - pa
        length2 = float(seg @ seg) + 1e-12
        for n in und.nodes:
            if n in (a, b):
                continue
            t = np.clip((pos[n] - pa) @ seg / length2, 0, 1)
            if np.hypot(*(pa + t * seg - pos[n])) < 0.6:
                bad += 3
    return bad


def force_layout(graph: nx.Graph) -> dict:
    """Deterministic layout spread for labels: Kamada-Kawai from a circular start in sorted node order,
    and for small graphs also from a few seeded spring layouts, keeping the candidate with the fewest edge
    crossings and edges grazing other nodes."""
    und = nx.Graph()
    und.add_nodes_from(sorted(graph.nodes, key=_sort_key))
    und.add_edges_from((u, v) for u, v in graph.edges() if u != v)
    if und.number_of_nodes() <= 2:
        return _spread({n: np.array([i * 1.0, 0.0]) for i, n in enumerate(und)})
    best = _spread(nx.kamada_kawai_layout(und))
    if und.number_of_nodes() > 40:
        return best
    best_score = _layout_badness(und, best)
    for seed in range(4):
        if best_score == 0:
            break
        start = nx.spring_layout(und, seed=seed)
        cand = _spread(nx.kamada_kawai_layout(und, pos=start))
        score = _layout_badness(und, cand)
        if score < best_score:
            best, best_score = cand, score
    return best


def layered_layout(graph: nx.DiGraph, roots: list) -> dict:
    """Layers by breadth-first depth from ``roots``; within a layer, ordered under their first parent."""
    depth, order, parent_x = {}, [], {}
    queue = deque()
    for r in roots:
        depth[r] = 0
        queue.append(r)
    while queue:
        n = queue.popleft()
        order.append(n)
        for m in sorted(graph.successors(n), key=_sort_key):
            if m not in depth:
                depth[m] = depth[n] + 1
                queue.append(m)
    for n in sorted(graph.nodes, key=_sort_key):
        if n not in depth:
            depth[n] = 0
            order.append(n)
    layers = defaultdict(list)
    for n in order:
        layers[depth[n]].append(n)
    pos = {}
    for d in sorted(layers):
        row = layers[d]
        if d:
            row.sort(key=lambda n: (min((parent_x[p] for p in graph.predecessors(n) if p in parent_x), default=0), order.index(n)))
        width = max(len(layers[k]) for k in layers)
        for i, n in enumerate(row):
            x = (i - (len(row) - 1) / 2) * 1.6 * max(1.0, width / max(len(row), 1)) ** 0.5
            pos[n] = np.array([x, -1.3 * d])
            parent_x[n] = x
    return pos


def _half_size(node: _Node) -> tuple[float, float]:
    lines = node.text.split("\n")
    w = max(len(s) for s in lines) * _CHAR_W + 0.18
    h = _NODE_H + 0.17 * (len(lines) - 1)
    if node.shape == "dot":
        return 0.07, 0.07
    if node.shape == "circle":
        r = max(w, h, 0.42) / 2
        return max(r, w / 2 * 1.1), max(h / 2 * 1.15, min(r, 0.3))
    if node.shape == "diamond":
        return max(w * 0.75, 0.3), max(h * 0.8, 0.25)
    if node.shape == "oval":
        return w / 2 * 1.18, h / 2 * 1.2
    return max(w / 2, 0.2), max(h / 2, 0.18)


def _boundary(center: np.ndarray, node: _Node, toward: np.ndarray) -> np.ndarray:
    d = toward - center
    norm = float(np.hypot(*d))
    if norm < 1e-9:
        return center
    d = d / norm
    a, b = _half_size(node)
    dx, dy = abs(d[0]) + 1e-12, abs(d[1]) + 1e-12
    if node.shape in ("circle", "oval", "dot"):
        t = 1.0 / math.sqrt((dx / a) ** 2 + (dy / b) ** 2)
    elif node.shape == "diamond":
        t = 1.0 / (dx / a + dy / b)
    else:
        t = min(a / dx, b / dy)
    return center + d * (t + 0.03)


def _draw_node(ax, xy: np.ndarray, node: _Node, font: float = 1.0) -> None:
    a, b = _half_size(node)
    kw = dict(facecolor=node.color, edgecolor="#333333", linewidth=1.1, zorder=3)
    if node.shape in ("circle", "oval"):
        ax.add_patch(Ellipse(xy, 2 * a, 2 * b, **kw))
    elif node.shape == "dot":
        ax.add_patch(Ellipse(xy, 2 * a, 2 * b, facecolor="#333333", edgecolor="#333333", zorder=3))
        return
    elif node.shape == "diamond":
        ax.add_patch(Polygon([xy + (a, 0), xy + (0, b), xy - (a, 0), xy - (0, b)], closed=True, **kw))
    else:
        ax.add_patch(Rectangle(xy - (a, b), 2 * a, 2 * b, **kw))
        if node.shape == "double":
            ax.add_patch(Rectangle(xy - (a - 0.05, b - 0.05), 2 * a - 0.1, 2 * b - 0.1, fill=False,
                                   edgecolor="#333333", linewidth=0.9, zorder=3))
    ax.text(*xy, node.text, ha="center", va="center", fontsize=8 * font, zorder=4)


def _bezier(p0, c, p2, t):
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t ** 2 * p2


def _draw_edges(ax, scene: _Scene) -> None:
    groups = defaultdict(list)
    for e in scene.edges:
        groups[frozenset((e.u, e.v))].append(e)
    for group in groups.values():
        group.sort(key=lambda e: (_sort_key(e.u), e.text))
        first = group[0]
        for i, e in enumerate(group):
            if e.u == e.v:
                _draw_loop(ax, scene, e, i)
                continue
            offset = (i - (len(group) - 1) / 2) * 0.45
            if (e.u, e.v) != (first.u, first.v):
                offset = -offset
            pu, pv = scene.pos[e.u], scene.pos[e.v]
            mid = (pu + pv) / 2
            d = pv - pu
            perp = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-12)
            c = mid + perp * offset * min(np.hypot(*d), 2.5) * 0.5
            p0 = _boundary(pu, scene.nodes[e.u], c if offset else pv)
            p2 = _boundary(pv, scene.nodes[e.v], c if offset else pu)
            if not offset:
                c = (p0 + p2) / 2
            _arrow(ax, p0, c, p2, e)
            if e.text:
                lx, ly = _bezier(p0, c, p2, 0.5)
                ax.text(lx, ly, e.text, fontsize=7 * scene.font, ha="center", va="center", color="#1f3b63", zorder=5,
                        bbox=dict(boxstyle="round,pad=0.12", facecolor="white", edgecolor="none", alpha=0.85))


def _arrow(ax, p0, c, p2, e: _Edge) -> None:
    path = MplPath([p0, c, p2], [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3])
    styles = {"arrow": "-|>", "double": "-|>", "hollow": "-|>", "line": "-", "bold": "-|>"}
    kw = dict(arrowstyle=styles[e.style], mutation_scale=13 if e.style == "double" else 12, color="#333333", linewidth=1.0, zorder=2,
              shrinkA=0, shrinkB=0, linestyle="--" if e.dashed else "-")
    if e.style == "hollow":
        kw.update(mutation_scale=20, facecolor="white", edgecolor="#333333", color=None)
        kw.pop("color")
    if e.style == "bold":
        kw.update(linewidth=2.6, mutation_scale=16, color="#5b2a86")
    ax.add_patch(FancyArrowPatch(path=path, **kw))
    if e.style == "double":
        # A second head just behind the first: the literature's mark for a multivalued edge.
        t = 1 - 0.13 / max(np.hypot(*(p2 - p0)), 0.3)
        c2 = p0 + t * (c - p0)
        end = _bezier(p0, c, p2, t)
        ax.add_patch(FancyArrowPatch(path=MplPath([p0, c2, end], [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3]),
                                     arrowstyle="-|>", mutation_scale=13, color="#333333", linewidth=1.0,
                                     zorder=2, shrinkA=0, shrinkB=0))


def _draw_loop(ax, scene: _Scene, e: _Edge, i: int) -> None:
    xy = scene.pos[e.u]
    a, b = _half_size(scene.nodes[e.u])
    lift = 0.55 + 0.25 * i
    p0, p3 = xy + (-0.12, b), xy + (0.12, b)
    path = MplPath([p0, xy + (-0.45, b + lift), xy + (0.45, b + lift), p3],
                   [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4])
    ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=11, color="#333333", lw=1.0, zorder=2))
    if e.text:
        ax.text(xy[0], xy[1] + b + lift * 0.8, e.text, fontsize=7 * scene.font, ha="center", va="bottom",
                color="#1f3b63", zorder=5)


def _circle_poly(center: np.ndarray, rx: float, ry: float, n: int = 32) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return center + np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)


def _capsule(p: np.ndarray, q: np.ndarray, r: float) -> np.ndarray:
    d = q - p
    perp = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-12) * r
    return np.array([p - perp, q - perp, q + perp, p + perp])


def _draw_regions(ax, scene: _Scene) -> None:
    """Each hyperedge is a shaded blob: a disc around every member joined by bands along a minimum spanning
    tree of the members' positions. Unlike a convex hull it rarely swallows a non-member node."""
    from matplotlib.patches import PathPatch
    cmap = matplotlib.colormaps["tab10"]
    for k, (name, members, rank) in enumerate(scene.regions):
        pad = 0.16 + 0.12 * rank
        color = cmap(k % 10)
        pts = {m: scene.pos[m] for m in members}
        polys = []
        for m in members:
            a, b = _half_size(scene.nodes[m])
            polys.append(_circle_poly(pts[m], a + pad, b + pad))
        if len(members) > 1:
            complete = nx.Graph()
            for i, u in enumerate(members):
                for v in members[i + 1:]:
                    complete.add_edge(u, v, weight=float(np.hypot(*(pts[u] - pts[v]))))
            for u, v in sorted(nx.minimum_spanning_edges(complete, data=False), key=lambda e: _sort_key(e)):
                polys.append(_capsule(pts[u], pts[v], 0.12 + pad * 0.6))
        verts, codes = [], []
        for poly in polys:
            # Same winding for every piece so the nonzero fill rule paints overlaps once.
            (ax_, ay_), (bx_, by_) = poly[1] - poly[0], poly[2] - poly[1]
            if ax_ * by_ - ay_ * bx_ < 0:  # z of the 2-D cross product (np.cross on 2-vectors is deprecated)
                poly = poly[::-1]
            verts += list(poly) + [poly[0]]
            codes += [MplPath.MOVETO] + [MplPath.LINETO] * (len(poly) - 1) + [MplPath.CLOSEPOLY]
        ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=(*color[:3], 0.16), edgecolor="none", zorder=1))
        top = max(members, key=lambda m: (pts[m][1], -pts[m][0]))
        a, b = _half_size(scene.nodes[top])
        ax.text(pts[top][0], pts[top][1] + b + pad + 0.02, name, fontsize=8 * scene.font, color=color, ha="center",
                va="bottom", zorder=5, fontweight="bold")


def _separate(scene: _Scene, gap: float = 0.35, rounds: int = 200) -> None:
    """Push overlapping node boxes apart along their axis of least overlap (deterministic, in place)."""
    keys = sorted(scene.pos, key=_sort_key)
    if len(keys) < 2:
        return
    xy = np.array([scene.pos[k] for k in keys], float)
    half = np.array([_half_size(scene.nodes[k]) for k in keys])
    for _ in range(rounds):
        moved = False
        for i in range(len(keys)):
            d = xy - xy[i]
            need = half + half[i] + gap
            over = need - np.abs(d)
            hit = (over[:, 0] > 0) & (over[:, 1] > 0)
            hit[i] = False
            for j in np.flatnonzero(hit):
                axis = 0 if over[j, 0] / need[j, 0] < over[j, 1] / need[j, 1] else 1
                sign = 1.0 if d[j, axis] > 0 or (d[j, axis] == 0 and j > i) else -1.0
                step = over[j, axis] / 2 + 1e-3
                xy[j, axis] += sign * step
                xy[i, axis] -= sign * step
                moved = True
        if not moved:
            break
    scene.pos = dict(zip(keys, xy))


def _render(scene: _Scene, ax=None) -> Figure:
    _separate(scene)
    xy = np.array(list(scene.pos.values())) if scene.pos else np.zeros((1, 2))
    lo, hi = xy.min(axis=0) - 1.0, xy.max(axis=0) + 1.0
    span = hi - lo
    own_figure = ax is None
    if ax is None:
        # One layout unit = 0.9 inch, so the character width in _CHAR_W holds at fontsize 8.
        width, height = span[0] * 0.9, span[1] * 0.9 + 0.4
        legend_w = 2.2 if scene.legend else 0.0
        fig = Figure(figsize=(min(max(width, 3.0), 18.0) + legend_w, min(max(height, 2.5), 14.0)))
        ax = fig.add_axes((0.0, 0.0, 1.0 - legend_w / fig.get_figwidth(), 1.0 - 0.4 / fig.get_figheight()))
    else:
        fig = ax.figure
        # Shapes are sized for text at 0.9 inch per layout unit; shrink the text to the space this Axes has.
        bbox = ax.get_position()
        w_in, h_in = bbox.width * fig.get_figwidth(), bbox.height * fig.get_figheight()
        scene.font = float(np.clip(min(w_in / span[0], h_in / span[1]) / 0.9, 0.45, 1.0))
    _draw_regions(ax, scene)
    _draw_edges(ax, scene)
    for n, node in scene.nodes.items():
        _draw_node(ax, scene.pos[n], node, scene.font)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1] + (0.3 if scene.regions else 0))
    ax.set_aspect("equal")
    ax.axis("off")
    if scene.title:
        ax.set_title(scene.title, fontsize=10)
    if scene.legend:
        handles = [Line2D([], [], linestyle="none", label=text, **kw) for text, kw in scene.legend]
        if own_figure:
            fig.legend(handles=handles, loc="upper right", fontsize=7, frameon=False)
        else:
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=6,
                      frameon=False)
    return fig
