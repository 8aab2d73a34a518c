"""OEM as it travels between sources: a text syntax, and the integration of heterogeneous sources.

OEM was made for exchanging data between information sources that share no schema (the TSIMMIS project):
each source exports OEM objects, and a *mediator* combines them. Two pieces of that here.

**Text syntax.** In the nested notation of the Lore/TSIMMIS papers, an object is written
``<label &oid value>``: a complex value is a list of sub-objects in braces, an atomic value a literal
(``"text"``, an integer, a real, ``true``/``false``) whose type is read off the literal, which is what makes OEM
self-describing. An object met a second time is written by reference, ``<label &oid>``, so shared sub-objects and
cycles print without repetition. :func:`dumps` prints an :class:`~workbench.graphs.oem.OemGraph` and
:func:`loads` reads it back (``loads(dumps(g)) == g``).

**Integration.** :func:`integrate` puts several sources under one new root, one edge per source labelled with
its name; object ids are prefixed by the source name, so two sources' ``&1`` stay apart. With ``fuse``, atomic
objects reached by one of the given labels and holding equal values become one object in the result (object
fusion), which is what lets a single path query cross from one source into the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable, Mapping

from workbench.errors import UserError
from workbench.graphs.oem import OemGraph

_TOKEN = re.compile(r"""\s*(?:(?P<open><)|(?P<close>>)|(?P<lbrace>\{)|(?P<rbrace>\})|(?P<oid>&[\w.:\-/]+)|
                        (?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|
                        (?P<word>[A-Za-z_][\w\-]*))""", re.VERBOSE)


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    raise UserError(f"OEM text syntax has no literal for {type(value).__name__} values ({value!r}); "
                    "store it as a string")


def dumps(graph: OemGraph, root_label: str = "root", indent: int = 2) -> str:
    """The nested text form of ``graph``: each object in full at its first occurrence (depth first from the
    root, edges in their stored order), by reference afterwards."""
    if not isinstance(graph, OemGraph):
        raise UserError(f"dumps needs an OemGraph, got {type(graph).__name__}")
    children: dict = {}
    for u, lab, v in graph.edges:
        children.setdefault(u, []).append((lab, v))
    written: set = set()
    lines: list[str] = []

    def write(label: str, oid: Hashable, depth: int) -> None:
        pad = " " * (indent * depth)
        if not isinstance(oid, str) or not re.fullmatch(r"&[\w.:\-/]+", oid):
            raise UserError(f"OEM object id {oid!r} cannot be written; ids in the text form look like '&p1'")
        if oid in written:
            lines.append(f"{pad}<{label} {oid}>")
            return
        written.add(oid)
        if oid in graph.atoms:
            lines.append(f"{pad}<{label} {oid} {_literal(graph.atoms[oid])}>")
            return
        kids = children.get(oid, [])
        if not kids:
            lines.append(f"{pad}<{label} {oid} {{}}>")
            return
        lines.append(f"{pad}<{label} {oid} {{")
        for lab, v in kids:
            write(lab, v, depth + 1)
        lines.append(f"{pad}}}>")

    write(root_label, graph.root, 0)
    return "\n".join(lines) + "\n"


def loads(text: str) -> OemGraph:
    """Parse the nested text form; errors name the line and column and what was expected."""
    if not isinstance(text, str):
        raise UserError(f"loads needs a string, got {type(text).__name__}")
    tokens = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if not m:
            pos += len(stripped[pos:]) - len(stripped[pos:].lstrip())
            line = stripped.count("\n", 0, pos) + 1
            col = pos - (stripped.rfind("\n", 0, pos) + 1) + 1
            raise UserError(f"OEM text, line {line} column {col}: unexpected {stripped[pos:].lstrip()[:10]!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    i = 0
    edges: list = []
    atoms: dict = {}
    defined: set = set()
    referenced: list = []

    def where(k: int) -> str:
        at = tokens[k][2] if k < len(tokens) else len(stripped)
        return f"line {stripped.count(chr(10), 0, at) + 1}"

    def expect(kind: str, what: str) -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i][0] != kind:
            got = tokens[i][1] if i < len(tokens) else "the end"
            raise UserError(f"OEM text, {where(i)}: expected {what}, got {got!r}")
        i += 1
        return tokens[i - 1][1]

    def obj() -> tuple[str, str]:
        nonlocal i
        expect("open", "'<' starting an object")
        label = expect("word", "a label after '<'")
        oid = expect("oid", f"an object id such as &o1 after the label {label!r}")
        kind = tokens[i][0] if i < len(tokens) else None
        if kind == "close":
            i += 1
            referenced.append((oid, where(i - 1)))
            return label, oid
        if oid in defined:
            raise UserError(f"OEM text, {where(i)}: object {oid} is defined twice; refer to it as <{label} {oid}>")
        defined.add(oid)
        if kind == "lbrace":
            i += 1
            while i < len(tokens) and tokens[i][0] != "rbrace":
                lab, child = obj()
                edges.append((oid, lab, child))
            expect("rbrace", f"'}}' closing {oid}")
        elif kind == "string":
            atoms[oid] = json.loads(tokens[i][1])
            i += 1
        elif kind == "number":
            t = tokens[i][1]
            atoms[oid] = float(t) if any(c in t for c in ".eE") else int(t)
            i += 1
        elif kind == "word" and tokens[i][1] in ("true", "false"):
            atoms[oid] = tokens[i][1] == "true"
            i += 1
        else:
            got = tokens[i][1] if i < len(tokens) else "the end"
            raise UserError(f"OEM text, {where(i)}: object {oid} needs a value ('{{' or a literal) or '>', got {got!r}")
        expect("close", f"'>' closing {oid}")
        return label, oid

    _, root = obj()
    if i != len(tokens):
        raise UserError(f"OEM text, {where(i)}: text after the root object; one document has one root")
    dangling = [(o, w) for o, w in referenced if o not in defined]
    if dangling:
        raise UserError(f"OEM text, {dangling[0][1]}: reference to {dangling[0][0]}, which is never defined")
    return OemGraph(root, tuple(edges), atoms)


def integrate(sources: Mapping[str, OemGraph], root: str = "&mediator", fuse: Iterable[str] = ()) -> OemGraph:
    """One OEM graph over several sources: a new root with one edge per source (labelled by its name), object
    ids prefixed ``&<source>.``, and atomic objects reached by a label in ``fuse`` with equal values fused."""
    if not isinstance(sources, Mapping) or not sources:
        raise UserError("sources must be a non-empty mapping of source name -> OemGraph")
    fuse = set(fuse)
    edges: list = []
    atoms: dict = {}
    fused: dict = {}
    for name, g in sources.items():
        if not isinstance(g, OemGraph) or not re.fullmatch(r"[A-Za-z_]\w*", str(name)):
            raise UserError(f"source {name!r} must be a plain name (letters, digits, _) mapped to an OemGraph")
        via = {v: lab for _, lab, v in g.edges}

        def rename(oid, name=name, g=g, via=via):
            if oid in g.atoms and via.get(oid) in fuse:
                key = (via[oid], type(g.atoms[oid]).__name__, g.atoms[oid])
                fused.setdefault(key, f"&fused.{via[oid]}{len(fused) + 1}")
                return fused[key]
            return f"&{name}.{str(oid).lstrip('&')}"

        edges.append((root, name, rename(g.root)))
        edges += [(rename(u), lab, rename(v)) for u, lab, v in g.edges]
        atoms.update({rename(oid): value for oid, value in g.atoms.items()})
    return OemGraph(root, tuple(edges), atoms)


def example_sources() -> dict[str, OemGraph]:
    """A bibliography and a staff list, two sources with different structure that share people's names."""
    lib = loads("""
<bibliography &db {
  <paper &p1 { <title &t1 "Graphs"> <author &a1 { <name &n1 "Ann"> }> }>
  <paper &p2 { <title &t2 "Paths"> <year &y2 2007> <author &a1> <author &a2 { <name &n2 "Cid"> }> <cites &p1> }>
}>""")
    hr = loads("""
<staff &s {
  <employee &e1 { <name &m1 "Ann"> <dept &d1 "R&D"> }>
  <employee &e2 { <name &m2 "Bob"> <dept &d2 "Ops"> }>
}>""")
    return {"lib": lib, "hr": hr}


__all__ = ["dumps", "example_sources", "integrate", "loads"]
