"""Small teaching examples, one per model, all about the same little world: people, the papers they
write, and where they work. The notebook draws and queries them; tests use them as fixtures."""

from __future__ import annotations

import rdflib
from rdflib import Literal

from workbench.graphs.gdm import GdmGraph
from workbench.graphs.good import GoodGraph
from workbench.graphs.hypergraph import Hypergraph, groovy_objects
from workbench.graphs.labelled import LabelledGraph
from workbench.graphs.nested import NestedGraph
from workbench.graphs.oem import OemGraph
from workbench.graphs.rdf import EX, RdfGraph


def schema_example() -> LabelledGraph:
    """Types Person, Paper, Org and the relations allowed between them."""
    return LabelledGraph({"Person": "Person", "Paper": "Paper", "Org": "Org"},
                         (("Person", "wrote", "Paper"), ("Paper", "cites", "Paper"),
                          ("Person", "worksFor", "Org"), ("Person", "knows", "Person")), kind="schema")


def instance_example() -> LabelledGraph:
    """An instance of :func:`schema_example` with properties."""
    nodes = {"ann": "Person", "bob": "Person", "cid": "Person", "p1": "Paper", "p2": "Paper", "uchile": "Org"}
    edges = (("ann", "wrote", "p1"), ("bob", "wrote", "p1"), ("bob", "wrote", "p2"), ("p2", "cites", "p1"),
             ("ann", "worksFor", "uchile"), ("ann", "knows", "bob"), ("bob", "knows", "cid"))
    props = {"ann": {"name": "Ann", "age": 41}, "bob": {"name": "Bob", "age": 35}, "cid": {"name": "Cid", "age": 29},
             "p1": {"title": "Graphs", "year": 2005}, "p2": {"title": "Paths", "year": 2007},
             "uchile": {"name": "U. Chile"}}
    return LabelledGraph(nodes, edges, props)


def good_example() -> GoodGraph:
    """People (non-printable) with functional ``name`` edges and multivalued ``wrote`` / ``hobby`` edges."""
    nodes = {"ann": "Person", "bob": "Person", "cid": "Person", "p1": "Paper", "p2": "Paper",
             "n_ann": "String", "n_bob": "String", "n_cid": "String", "t1": "String", "t2": "String",
             "chess": "String", "go": "String"}
    values = {"n_ann": "Ann", "n_bob": "Bob", "n_cid": "Cid", "t1": "Graphs", "t2": "Paths", "chess": "chess",
              "go": "go"}
    edges = (("ann", "name", "n_ann"), ("bob", "name", "n_bob"), ("cid", "name", "n_cid"),
             ("p1", "title", "t1"), ("p2", "title", "t2"),
             ("ann", "wrote", "p1"), ("bob", "wrote", "p1"), ("bob", "wrote", "p2"),
             ("ann", "hobby", "chess"), ("bob", "hobby", "chess"), ("cid", "hobby", "go"))
    return GoodGraph(nodes, edges, values, frozenset({"wrote", "hobby"}))


def good_coauthor_pattern() -> GoodGraph:
    """Two people who wrote the same paper."""
    return GoodGraph({"x": "Person", "y": "Person", "p": "Paper"}, (("x", "wrote", "p"), ("y", "wrote", "p")),
                     multivalued=frozenset({"wrote"}))


def gdm_example(well_formed: bool = True) -> GdmGraph:
    """Employees are persons (isa); an address is a composite value (street, city); names are basic values.
    With ``well_formed=False`` three rules are broken on purpose."""
    nodes = {"Person": ("object", "Person"), "Employee": ("object", "Employee"), "Org": ("object", "Org"),
             "addr": ("composite", "Address"), "street": ("basic", "String"), "city": ("basic", "String"),
             "name": ("basic", "String")}
    edges = [("Person", "name", "name"), ("Person", "lives", "addr"), ("addr", "street", "street"),
             ("addr", "city", "city"), ("Employee", "worksFor", "Org")]
    values = {"street": "Beauchef 851", "city": "Santiago", "name": "Ann"}
    isa = [("Employee", "Person")]
    if not well_formed:
        nodes["city2"] = ("basic", "String")
        values["city2"] = "Santiago"          # W4: same basic value twice
        edges.append(("name", "alias", "addr"))  # W1: a basic value with an outgoing edge
        isa.append(("Person", "Employee"))    # W5: isa cycle
    return GdmGraph(nodes, tuple(edges), tuple(isa), values)


def oem_example() -> OemGraph:
    """A small bibliography document as a rooted OEM graph, with a shared author object."""
    edges = (("&db", "paper", "&p1"), ("&db", "paper", "&p2"), ("&p1", "title", "&t1"), ("&p1", "author", "&a1"),
             ("&p2", "title", "&t2"), ("&p2", "author", "&a1"), ("&p2", "year", "&y2"), ("&a1", "name", "&n1"),
             ("&p2", "cites", "&p1"))
    atoms = {"&t1": "Graphs", "&t2": "Paths", "&y2": 2007, "&n1": "Ann"}
    return OemGraph("&db", edges, atoms)


def rdf_example() -> RdfGraph:
    """A few FOAF-like triples with literals."""
    ex = rdflib.Namespace(EX)
    t = {(ex.ann, rdflib.RDF.type, ex.Person), (ex.bob, rdflib.RDF.type, ex.Person),
         (ex.ann, ex.knows, ex.bob), (ex.bob, ex.knows, ex.cid), (ex.ann, ex.name, Literal("Ann")),
         (ex.bob, ex.name, Literal("Bob")), (ex.ann, ex.wrote, ex.p1), (ex.bob, ex.wrote, ex.p1),
         (ex.p1, ex.year, Literal(2005))}
    return RdfGraph(frozenset(t), {"ex": EX, "rdf": str(rdflib.RDF)})


def groovy_example() -> Hypergraph:
    """Two employees in one department: the department (a sub-object) is shared, and the dependency
    dept -> floor holds as a value functional dependency."""
    objects = {"e1": {"name": "Ann", "dept": "R&D", "floor": 3},
               "e2": {"name": "Bob", "dept": "R&D", "floor": 3},
               "e3": {"name": "Cid", "dept": "Ops", "floor": 1}}
    return groovy_objects(objects, dependencies=[(["dept"], ["floor"])], subobjects={"dept": ["dept", "floor"]})


def nested_example() -> NestedGraph:
    """A lab (master) containing a group (master) of people; edges cross the boundaries."""
    nodes = {"ann": "Person", "bob": "Person", "cid": "Person", "dan": "Person", "p1": "Paper"}
    edges = (("ann", "knows", "bob"), ("bob", "knows", "cid"), ("cid", "wrote", "p1"), ("dan", "wrote", "p1"),
             ("ann", "wrote", "p1"), ("dan", "knows", "ann"))
    masters = {"lab": ("Lab", frozenset({"group", "cid"})), "group": ("Group", frozenset({"ann", "bob"}))}
    return NestedGraph(nodes, edges, masters)


def all_examples() -> dict:
    """Every example by name, in teaching order: one drawable model per figure of notebook 05."""
    from workbench.graphs import ggl, gmod, goal, gram, groovy, gul, oem_exchange, pamal, simatic
    object_schema, class_schema, _ = groovy.example()
    north, south = simatic.example()
    return {"schema": schema_example(), "instance": instance_example(), "groovy": groovy_example(),
            "groovy_object_schema": object_schema, "groovy_class_schema": class_schema,
            "good": good_example(), "gmod": gmod.example(), "simatic": simatic.union(north, south),
            "nested": nested_example(), "gram": gram.example(), "gram_schema": gram.example().schema,
            "goal": goal.example(), "pamal": pamal.example(), "ggl": ggl.example(), "oem": oem_example(),
            "oem_integrated": oem_exchange.integrate(oem_exchange.example_sources(), fuse=["name"]),
            "gdm": gdm_example(), "gdm_instance": gul.example(), "rdf": rdf_example()}
