"""Graph data models after Angles & Gutierrez, "Survey of graph database models" (ACM CSUR 40(1), 2008).

Models (each validates on construction and converts to and from networkx):
``LabelledGraph`` (schema and instance), ``Hypergraph`` (with ``groovy_objects``), ``GoodGraph`` (and its five
transformations), ``GdmGraph`` (with well-formedness ``violations``), ``OemGraph``, ``RdfGraph`` (rdflib I/O),
``NestedGraph`` (Simatic-XT master nodes, ``develop``/``undevelop``).

Rendering: ``draw(model, path=...)``. Queries: ``match_pattern``, ``regular_path_query``,
``basic_graph_pattern``, ``PathIndex`` (GraphGrep), ``transitive_closure`` / ``warshall``, and integrity
constraints with ``check_constraints``.
"""

from workbench.graphs.closure import (adjacency_matrix, check_closure_answer, citation_graph, closure_to_networkx, condensation,
                                      random_digraph, transitive_closure, warshall)
from workbench.graphs.constraints import (DomainConstraint, KeyConstraint, ReferentialConstraint, Violation,
                                          check_constraints)
from workbench.graphs.drawing import draw, save_figure
from workbench.graphs.gdm import RULES as GDM_RULES
from workbench.graphs.gdm import GdmGraph
from workbench.graphs.good import GoodGraph
from workbench.graphs.hypergraph import Hypergraph, fd_violations, groovy_objects
from workbench.graphs.labelled import LabelledGraph, labelled_graph, schema_violations
from workbench.graphs.nested import NestedGraph
from workbench.graphs.oem import OemGraph
from workbench.graphs.pathindex import (PathIndex, SearchResult, graph_database, label_paths, sample_query,
                                        vf2_scan)
from workbench.graphs.patterns import match_pattern, path_relation, regular_path_query
from workbench.graphs.rdf import RdfGraph, basic_graph_pattern, bgp_to_sparql, social_graph, sparql_solutions

__all__ = [
    "DomainConstraint", "GDM_RULES", "GdmGraph", "GoodGraph", "Hypergraph", "KeyConstraint", "LabelledGraph",
    "NestedGraph", "OemGraph", "PathIndex", "RdfGraph", "ReferentialConstraint", "SearchResult", "Violation",
    "adjacency_matrix", "basic_graph_pattern", "check_closure_answer", "bgp_to_sparql", "check_constraints", "citation_graph",
    "closure_to_networkx", "condensation", "draw", "fd_violations", "graph_database", "groovy_objects",
    "label_paths", "labelled_graph", "match_pattern", "path_relation", "random_digraph", "regular_path_query",
    "sample_query", "save_figure", "schema_violations", "social_graph", "sparql_solutions",
    "transitive_closure", "vf2_scan", "warshall",
]
