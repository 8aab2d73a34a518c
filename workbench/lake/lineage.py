"""The lake's lineage as a :class:`workbench.graphs.LabelledGraph`: features, functions, pipeline processes
and knowledge attributes, with edges in the direction data flows.

=================  ==========================================  ===========================================
node               id                                          label
=================  ==========================================  ===========================================
feature            its full name ``/d/feature/e/n``            ``feature``
function           its full name ``/d/function/r/n``           ``function``
process            ``process:<pipeline>/<process>``            ``process``
knowledge attr.    ``attribute:<name>``                        ``attribute``
=================  ==========================================  ===========================================

Edges: ``feature -input-> function -output-> feature``; ``process -feeds-> process``; a leaf
``process -writes-> feature``; ``attribute -enriches-> process``; ``function -called_by-> process`` for a
``function`` process. Node properties: a feature's dtype, unit and window; a function's kind and
invocation; a process's type and pipeline; an attribute's dtype and unit. "Everything downstream of X" is
the row of X in the transitive closure (:func:`downstream`, via :func:`workbench.graphs.transitive_closure`);
:func:`draw_lineage` draws it with :func:`workbench.graphs.draw`, the package's own picture of a labelled
graph, with short node names.

A pipeline appears once it has run on the lake: :meth:`BoundPipeline.run` records its structure at
``<lake>/pipelines/<name>.json`` (replaced atomically).
"""

from __future__ import annotations

import json
import uuid

import networkx as nx

from workbench.errors import UserError

PIPELINES = "pipelines"


def record_pipeline(lake, pipeline, features: dict) -> None:
    """Store the structure of ``pipeline`` (processes, inputs, enriching attributes, called function and the
    features each leaf writes) beside the lake, for :func:`lineage`."""
    doc = {"name": pipeline.name, "domain": pipeline.domain, "processes": [
        {"name": p.name, "type": p.type, "inputs": list(p.inputs),
         "attributes": sorted(_attributes(p)) if p.type == "enrich" else [],
         "function": p.params.get("function") if p.type == "function" else None,
         "features": sorted(features.get(p.name, {}).values())}
        for p in pipeline.processes.values()]}
    fs = lake._log.fs
    folder = lake._log.path(PIPELINES)
    fs.makedirs(folder, exist_ok=True)
    tmp = f"{folder}/.{uuid.uuid4().hex}.tmp"
    with fs.open(tmp, "wb") as f:
        f.write(json.dumps(doc, sort_keys=True).encode())
    fs.mv(tmp, f"{folder}/{pipeline.name}.json")


def _attributes(p) -> list[str]:
    a = p.params.get("attributes", [])
    return [a] if isinstance(a, str) else list(a)


def recorded_pipelines(lake) -> list[dict]:
    fs, folder = lake._log.fs, lake._log.path(PIPELINES)
    if not fs.exists(folder):
        return []
    docs = []
    for path in sorted(fs.ls(folder, detail=False)):
        if path.endswith(".json") and not path.rsplit("/", 1)[-1].startswith("."):
            with fs.open(path, "rb") as f:
                docs.append(json.loads(f.read().decode()))
    return docs


def lineage(lake):
    """The lineage graph of ``lake`` (see the module docstring)."""
    from workbench.graphs import LabelledGraph

    reg = lake.registry
    nodes, props = {}, {}
    for name, spec in reg.features.items():
        nodes[name] = "feature"
        props[name] = {"dtype": spec.dtype, "unit": spec.unit, "window": spec.window}
    edges = set()
    for fname, spec in reg.functions.items():
        nodes[fname] = "function"
        props[fname] = {"kind": spec.kind,
                        "invocation": "http" if spec.http else ("callable" if (spec.fn or spec.callable_ref) else "unbound")}
        edges |= {(i, "input", fname) for i in spec.inputs} | {(fname, "output", o) for o in spec.outputs}
    for attr, spec in lake.knowledge.attributes.items():
        nodes[f"attribute:{attr}"] = "attribute"
        props[f"attribute:{attr}"] = {"dtype": spec.dtype, "unit": spec.unit}
    for doc in recorded_pipelines(lake):
        pid = lambda n, d=doc: f"process:{d['name']}/{n}"  # noqa: E731
        for p in doc["processes"]:
            nodes[pid(p["name"])] = "process"
            props[pid(p["name"])] = {"type": p["type"], "pipeline": doc["name"]}
        for p in doc["processes"]:
            edges |= {(pid(i), "feeds", pid(p["name"])) for i in p["inputs"]}
            for feat in p["features"]:
                nodes.setdefault(feat, "feature")
                edges.add((pid(p["name"]), "writes", feat))
            for attr in p["attributes"]:
                nodes.setdefault(f"attribute:{attr}", "attribute")
                edges.add((f"attribute:{attr}", "enriches", pid(p["name"])))
            if p["function"]:
                nodes.setdefault(p["function"], "function")
                edges.add((p["function"], "called_by", pid(p["name"])))
    return LabelledGraph(nodes, tuple(sorted(edges)), {n: v for n, v in props.items() if n in nodes})


def short_name(node: str, label: str) -> str:
    """A node's name in a drawing: a feature's last segment, a function's with ``()``, a process as
    ``pipeline/process``, an attribute as ``@name``."""
    if label == "process":
        return node.split(":", 1)[1]
    if label == "attribute":
        return "@" + node.split(":", 1)[1]
    last = node.rsplit("/", 1)[-1]
    return f"{last}()" if label == "function" else last


def draw_lineage(graph, *, ax=None, short_names: bool = True, path=None, title: str | None = None):
    """Draw a lineage graph (or a lake's: pass the lake) with :func:`workbench.graphs.draw`; returns the Figure.

    With ``short_names`` each node shows :func:`short_name` (a full name where two short ones would clash)."""
    from workbench.graphs import LabelledGraph, draw

    if not isinstance(graph, LabelledGraph):
        graph = lineage(graph)
    if short_names:
        short = {n: short_name(n, lab) for n, lab in graph.nodes.items()}
        clash = {s for s in short.values() if list(short.values()).count(s) > 1}
        short = {n: (n if s in clash else s) for n, s in short.items()}
        graph = LabelledGraph({short[n]: lab for n, lab in graph.nodes.items()},
                              tuple((short[u], e, short[v]) for u, e, v in graph.edges))
    counts = {k: list(graph.nodes.values()).count(k) for k in ("feature", "function", "process", "attribute")}
    default = "lake lineage: " + ", ".join(f"{v} {k}{'s' if v != 1 else ''}" for k, v in counts.items() if v)
    return draw(graph, ax=ax, path=path, title=title or default)


def _reach(graph, node, reverse: bool) -> set:
    from workbench.graphs import transitive_closure

    if node not in graph.nodes:
        raise UserError(f"{node!r} is not in the lineage; nodes are feature and function names, "
                        f"'process:<pipeline>/<name>' and 'attribute:<name>'")
    g = nx.DiGraph(graph.to_networkx())
    if reverse:
        g = g.reverse(copy=True)
    order = sorted(g.nodes)
    closure = transitive_closure(_ordered(g, order))  # rows and columns in ``order``
    i = order.index(node)
    return {order[j] for j in closure[i].nonzero()[0]}


def _ordered(g: nx.DiGraph, order: list) -> nx.DiGraph:
    h = nx.DiGraph()
    h.add_nodes_from(order)
    h.add_edges_from(g.edges)
    return h


def downstream(graph, node) -> set:
    """Every node that depends on ``node`` (reachable from it by one or more edges)."""
    return _reach(graph, node, reverse=False)


def upstream(graph, node) -> set:
    """Every node ``node`` depends on."""
    return _reach(graph, node, reverse=True)
