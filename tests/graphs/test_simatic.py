"""Simatic-XT network types and operators against networkx set algebra and reachability."""

import random

import networkx as nx
import pytest

from workbench.errors import UserError
from workbench.graphs import simatic as S
from workbench.graphs.nested import NestedGraph


def _random_network(rng, prefix_pool):
    nodes = {n: "Town" for n in rng.sample(prefix_pool, rng.randint(1, len(prefix_pool)))}
    names = sorted(nodes)
    edges = {(rng.choice(names), "road", rng.choice(names)) for _ in range(rng.randint(0, 2 * len(names)))}
    return S.Network(S.ROADS, nodes, tuple(sorted(edges)))


def _edges(net):
    return set(net.edges)


def test_set_operators_against_networkx():
    rng = random.Random(1)
    pool = list("abcdefg")
    for _ in range(40):
        a, b = _random_network(rng, pool), _random_network(rng, pool)
        ga, gb = nx.DiGraph([(u, v) for u, _, v in a.edges]), nx.DiGraph([(u, v) for u, _, v in b.edges])
        ga.add_nodes_from(a.nodes)
        gb.add_nodes_from(b.nodes)
        u = S.union(a, b)
        assert set(u.nodes) == set(nx.compose(ga, gb).nodes) and {(x, y) for x, _, y in u.edges} == set(
            nx.compose(ga, gb).edges)
        i = S.intersection(a, b)
        assert set(i.nodes) == set(a.nodes) & set(b.nodes) and _edges(i) == _edges(a) & _edges(b)
        d = S.difference(a, b)
        assert _edges(d) == _edges(a) - _edges(b)
        assert set(d.nodes) == (set(a.nodes) - set(b.nodes)) | {x for e in d.edges for x in (e[0], e[2])}
        assert S.inclusion(i, a) and S.inclusion(i, b) and S.inclusion(a, u) and S.inclusion(d, a)
        assert S.inclusion(a, b) == (set(a.nodes) <= set(b.nodes) and _edges(a) <= _edges(b))


def test_path_is_every_walk_between_the_two_nodes():
    rng = random.Random(3)
    pool = list("abcdefgh")
    for _ in range(40):
        net = _random_network(rng, pool)
        s, t = rng.choice(sorted(net.nodes)), rng.choice(sorted(net.nodes))
        sub = S.path(net, s, t)
        g = nx.DiGraph([(u, v) for u, _, v in net.edges])
        g.add_nodes_from(net.nodes)
        if s != t and not nx.has_path(g, s, t):
            assert not sub.nodes
            continue
        on = ({s} | nx.descendants(g, s)) & ({t} | nx.ancestors(g, t))
        assert set(sub.nodes) == on
        simple = {(p[k], p[k + 1]) for p in nx.all_simple_paths(g, s, t) for k in range(len(p) - 1)}
        assert simple <= {(u, v) for u, _, v in sub.edges}  # walks include every simple path


def test_concatenation_selection_and_types():
    north, south = S.example()
    glued = S.concatenation(north, S.Network(S.ROADS, {"m": "Town", "z": "Town"}, (("m", "road", "z"),)),
                            {"m": "mid"})
    assert ("mid", "road", "z") in glued.edges and "m" not in glued.nodes
    both = S.union(north, south)
    big = S.selection(both, node=lambda n, t, a: t == "Junction" or a.get("population", 0) >= 10000)
    assert set(big.nodes) == {"a", "mid", "d", "j1", "j2"} and ("j2", "road", "c") not in big.edges
    assert set(S.path(both, "a", "c").nodes) == {"a", "j1", "b", "mid", "j2", "d", "c"}
    with pytest.raises(UserError, match=r"edge \('a', 'rail', 'b'\) \(Town -rail-> Town\) is not an edge type"):
        S.Network(S.ROADS, {"a": "Town", "b": "Town"}, (("a", "rail", "b"),))
    with pytest.raises(UserError, match="glues a Junction to a Town"):
        S.concatenation(north, south, {"j2": "a"})
    rail = S.NetworkType("rail", {"Station"}, {("Station", "line", "Station")})
    with pytest.raises(UserError, match="both must have one type"):
        S.union(north, S.Network(rail, {"x": "Station"}))
    with pytest.raises(UserError, match="is a Town in one network and a Junction"):
        S.union(north, S.Network(S.ROADS, {"a": "Junction"}))
    assert S.Network.from_networkx(north.to_networkx(), S.ROADS) == north


def test_master_nodes_and_edges_carry_their_counts():
    north, _ = S.example()
    nested = north.nest({"west": ("Region", frozenset({"a", "j1"}))})
    assert isinstance(nested, NestedGraph)
    view = nested.view()
    assert view.nodes["west"]["size"] == 2
    summary = {(u, v): d["multiplicity"] for u, v, d in view.edges(data=True) if d["master"]}
    assert summary == {("west", "b"): 1, ("west", "mid"): 1}
    many = NestedGraph({"x": "T", "y": "T", "z": "T"}, (("x", "r", "z"), ("y", "r", "z")),
                       {"m": ("M", frozenset({"x", "y"}))})
    assert [d["multiplicity"] for _, _, d in many.view().edges(data=True)] == [2]
