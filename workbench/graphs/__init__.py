"""Graph data models after Angles & Gutierrez, "Survey of graph database models" (ACM CSUR 40(1), 2008).

Each model lives in its own submodule, validates its integrity constraints on construction (or says which
node or edge breaks which rule) and converts to and from networkx:

===========================  =====================================================================================
``labelled``                 labelled directed graphs, schema and instance
``hypergraph``/``groovy``    GROOVY: the value level as a hypergraph; object and class schemas, inheritance
``good``                     GOOD and its five transformations
``gmod``/``glog``            GMOD (pattern matching for query, update and view) and G-Log rule programs
``simatic``/``nested``       Simatic-XT network types and operators; master nodes and edges
``gram``                     Gram walks, hyperwalks and the hyperwalk algebra
``goal``                     GOAL objects, values and associations; consistent schemas
``pamal``                    PaMaL: schema and instance in one graph; reduction, loops, procedures
``ggl``                      GGL: symbols, unlabelled nodes, packed vertices; path and WEB queries
``oem``/``oem_exchange``     OEM, its exchange syntax and the integration of sources
``gdm``/``gul``              GDM graphs; GDM's schema, extension relation, constraints and GUL updates
``rdf``                      RDF triples and basic graph patterns
``pathindex``/``graphgrep``  GraphGrep's fingerprint filter and its own id-path matcher
``survey``                   the comparison of all twelve models, from each module's ``SURVEY`` record
===========================  =====================================================================================

The top level keeps the model classes, ``draw``, the generic queries and the closure; data generators are in
:mod:`workbench.graphs.generators`, exercise checks in :mod:`workbench.graphs.exercises`.
"""

from workbench.graphs import (ggl, glog, gmod, goal, gram, graphgrep, groovy, gul, oem_exchange, pamal, simatic,
                              survey)
from workbench.graphs.closure import adjacency_matrix, closure_to_networkx, condensation, transitive_closure, warshall
from workbench.graphs.constraints import (DomainConstraint, KeyConstraint, ReferentialConstraint, Violation,
                                          check_constraints)
from workbench.graphs.drawing import draw, save_figure
from workbench.graphs.gdm import GdmGraph
from workbench.graphs.good import GoodGraph
from workbench.graphs.hypergraph import Hypergraph
from workbench.graphs.labelled import LabelledGraph
from workbench.graphs.nested import NestedGraph
from workbench.graphs.oem import OemGraph
from workbench.graphs.pathindex import PathIndex
from workbench.graphs.patterns import match_pattern, regular_path_query
from workbench.graphs.rdf import RdfGraph, basic_graph_pattern

__all__ = [
    "DomainConstraint", "GdmGraph", "GoodGraph", "Hypergraph", "KeyConstraint", "LabelledGraph", "NestedGraph",
    "OemGraph", "PathIndex", "RdfGraph", "ReferentialConstraint", "Violation", "adjacency_matrix",
    "basic_graph_pattern", "check_constraints", "closure_to_networkx", "condensation", "draw", "match_pattern",
    "regular_path_query", "save_figure", "transitive_closure", "warshall",
    # the models' own modules (the top level keeps only what every model shares)
    "ggl", "glog", "gmod", "goal", "gram", "graphgrep", "groovy", "gul", "oem_exchange", "pamal", "simatic", "survey",
]

# Names that used to be top-level and moved into submodules. They still resolve (benchmarks/graphs.py and
# tests/graphs/test_closure.py, which this package does not own, import them from here), but are no longer
# part of the public surface: ``dir()`` and ``__all__`` leave them out.
_MOVED = {
    "citation_graph": "generators", "graph_database": "generators", "random_digraph": "generators",
    "sample_query": "generators", "social_graph": "generators", "check_closure_answer": "exercises",
    "GDM_RULES": "gdm", "fd_violations": "hypergraph", "groovy_objects": "hypergraph",
    "labelled_graph": "labelled", "schema_violations": "labelled", "SearchResult": "pathindex",
    "label_paths": "pathindex", "vf2_scan": "pathindex", "path_relation": "patterns",
    "bgp_to_sparql": "rdf", "sparql_solutions": "rdf",
}


def __getattr__(name: str):
    import importlib
    if name in _MOVED:
        module = importlib.import_module(f"workbench.graphs.{_MOVED[name]}")
        return getattr(module, "RULES" if name == "GDM_RULES" else name)
    # The closure module has its own owner; a public name it adds stays reachable from here as before.
    closure = importlib.import_module("workbench.graphs.closure")
    if not name.startswith("_") and hasattr(closure, name):
        return getattr(closure, name)
    raise AttributeError(f"module 'workbench.graphs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
