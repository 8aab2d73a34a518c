"""Data generators for lessons, tests and benchmarks (kept out of the models' own modules' public surface).

Every generator is deterministic for a given seed.
"""

from workbench.graphs.closure import citation_graph, random_digraph
from workbench.graphs.pathindex import graph_database, random_labelled_graph, sample_query
from workbench.graphs.rdf import social_graph

__all__ = ["citation_graph", "graph_database", "random_digraph", "random_labelled_graph", "sample_query",
           "social_graph"]
