"""Graph benchmark: transitive closure, basic graph patterns and the GraphGrep path index vs their peers.

Side by side in one run; ratio = peer time / our time per alternating pair, min-max over ``--repeats``:
- transitive closure (``workbench.graphs.transitive_closure``: SCC condensation + packed bitsets) vs the
  same algorithm in scipy (strong components, condensation DAG, one ``breadth_first_order`` per component:
  the headline), in igraph, and ``networkx.transitive_closure``, on four graph classes (sparse, mean degree
  5, dense 10% of pairs, one giant SCC) at n = 2,000 and 10,000; every result checked identical; the torch
  matrix-squaring version on CUDA when present (a footnote: other hardware);
- basic graph patterns on a generated FOAF-like graph of about 10^5 triples vs pyoxigraph and rdflib's
  SPARQL, answers checked equal;
- GraphGrep filter + VF2 verify vs a VF2 scan of the whole database (networkx GraphMatcher), answers equal.

Defaults take a few minutes on 2 cores; ``--full`` enlarges the pattern and GraphGrep parts; ``--smoke`` runs
toy sizes in seconds. Writes graphs.json, graphs.md and graphs.summary.json to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import rdflib
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_common_flags, fmt_range, machine_info, paired, summary_row, write_summary  # noqa: E402

from workbench import graphs as wg  # noqa: E402
from workbench.graphs.rdf import EX  # noqa: E402

NAME = "graphs"


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


# ------------------------------------------------------------------------------------------------------------
def _dag_of(a, comp, k):
    coo = a.tocoo()
    cu, cv = comp[coo.row], comp[coo.col]
    cyclic = np.bincount(comp, minlength=k) > 1
    cyclic[cu[cu == cv]] = True
    m = cu != cv
    return sp.csr_array((np.ones(int(m.sum()), bool), (cu[m], cv[m])), shape=(k, k)), cyclic


def scipy_closure(a, packed: bool = False) -> np.ndarray:
    """The issue's peer: scipy SCCs, the condensation DAG, one BFS per component, expanded to nodes.
    ``packed``: the same rows packed 8 to a byte, by its best route (the k distinct rows packed once)."""
    from scipy.sparse.csgraph import breadth_first_order, connected_components
    k, comp = connected_components(a, directed=True, connection="strong")
    dag, cyclic = _dag_of(a, comp, k)
    reach = np.zeros((k, k), dtype=bool)
    for c in range(k):
        reach[c, breadth_first_order(dag, c, directed=True, return_predecessors=False)] = True
        reach[c, c] = cyclic[c]  # the BFS lists its start; R+ has (c, c) only on a cycle
    cols = np.take(reach, comp, axis=1)
    if packed:
        cols = np.packbits(cols, axis=1, bitorder="little")
    return np.take(cols, comp, axis=0)


def igraph_closure(g, n: int) -> np.ndarray:
    """The same algorithm in igraph: strong components, the contracted graph, one BFS per component."""
    cl = g.connected_components(mode="strong")
    comp = np.asarray(cl.membership)
    k = len(cl)
    cg = cl.cluster_graph(combine_edges=False)
    loops = np.asarray(cg.is_loop(), dtype=bool)
    ends = np.asarray(cg.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    cyclic = np.bincount(comp, minlength=k) > 1
    cyclic[ends[loops, 0]] = True
    cg.simplify()
    reach = np.zeros((k, k), dtype=bool)
    for c in range(k):
        reach[c, cg.subcomponent(c, mode="out")] = True
        reach[c, c] = cyclic[c]
    return np.take(np.take(reach, comp, axis=1), comp, axis=0)


def giant_scc(n: int, seed: int, extra_degree: float = 2.0) -> sp.csr_array:
    """One strongly connected component: a cycle through every node (random order) plus random arcs."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    m = int(extra_degree * n)
    u = np.r_[perm, rng.integers(0, n, m)]
    v = np.r_[np.roll(perm, -1), rng.integers(0, n, m)]
    a = sp.csr_array((np.ones(len(u), dtype=bool), (u, v)), shape=(n, n))
    a.sum_duplicates()
    return a


GRAPH_CLASSES = (("sparse (mean degree 0.8)", lambda n: wg.random_digraph(n, 0.8, seed=n)),
                 ("mean degree 5", lambda n: wg.random_digraph(n, 5.0, seed=n + 1)),
                 ("dense (10% of pairs)", lambda n: wg.random_digraph(n, 0.1 * n, seed=n + 2)),
                 ("one giant SCC (cycle + degree 2)", lambda n: giant_scc(n, seed=n + 3)))


def bench_closure(sizes: list[int], repeats: int, nx_max_pairs: float, igraph_max_arcs: float) -> tuple[list[dict], list[dict]]:
    import torch
    cuda = torch.cuda.is_available()
    try:
        import igraph as ig
    except ImportError:
        ig = None
        print("closure: igraph not installed (pip install igraph); its rows are skipped", flush=True)
    rows, summary = [], []
    for n in sizes:
        for kind, make in GRAPH_CLASSES:
            a = make(n)
            ours = wg.transitive_closure(a, method="bitset")
            row = {"n": n, "kind": kind, "arcs": int(a.nnz), "closure_pairs": int(ours.sum()),
                   "components": int(wg.condensation(a)[1].shape[0])}
            ref = scipy_closure(a)
            row["scipy_equal"] = bool((ref == ours).all())
            stats = paired(lambda: wg.transitive_closure(a, method="bitset"), lambda: scipy_closure(a), repeats)
            row["scipy"] = stats
            summary.append(summary_row(NAME, f"transitive closure, n={n:,}, {kind}", "scipy SCC + BFS per component", stats,
                                       headline=True, note=f"{row['components']:,} SCCs, {row['arcs']:,} arcs; equal: {row['scipy_equal']}"))
            # The same closure with rows packed 8 to a byte on both sides: an eighth of the n x n output to
            # write, which is what bounds both on a giant SCC (all n^2 pairs).
            ours_packed = wg.transitive_closure(a, method="bitset", packed=True)
            row["scipy_packed_equal"] = bool(np.array_equal(scipy_closure(a, packed=True), ours_packed)
                                             and np.array_equal(np.packbits(ours, axis=1, bitorder="little"), ours_packed))
            stats = paired(lambda: wg.transitive_closure(a, method="bitset", packed=True), lambda: scipy_closure(a, packed=True), repeats)
            row["scipy_packed"] = stats
            summary.append(summary_row(NAME, f"transitive closure, packed rows, n={n:,}, {kind}", "scipy SCC + BFS per component, packed rows",
                                       stats, headline=True, note=f"both return np.packbits layout; equal: {row['scipy_packed_equal']}"))
            if ig is not None and a.nnz <= igraph_max_arcs:
                coo = a.tocoo()
                g = ig.Graph(n=n, edges=np.column_stack([coo.row, coo.col]).tolist(), directed=True)
                row["igraph_equal"] = bool((igraph_closure(g, n) == ours).all())
                stats = paired(lambda: wg.transitive_closure(a, method="bitset"), lambda: igraph_closure(g, n), max(1, repeats // 2))
                row["igraph"] = stats
                summary.append(summary_row(NAME, f"transitive closure, n={n:,}, {kind}", f"igraph {ig.__version__} SCC + BFS per component",
                                           stats, headline=False, note=f"equal: {row['igraph_equal']}"))
            elif ig is not None:
                row["igraph_skipped"] = f"{a.nnz:,} arcs > --igraph-max-arcs {igraph_max_arcs:,.0f}"
            if ours.sum() <= nx_max_pairs:
                gx = nx.from_scipy_sparse_array(a, create_using=nx.DiGraph)
                tc = nx.transitive_closure(gx)
                row["networkx_equal"] = bool((nx.to_scipy_sparse_array(tc, nodelist=range(n), dtype=bool).toarray() == ours).all())
                stats = paired(lambda: wg.transitive_closure(a, method="bitset"), lambda: nx.transitive_closure(gx), 1, warmup=0)
                row["networkx"] = stats
                summary.append(summary_row(NAME, f"transitive closure, n={n:,}, {kind}", f"networkx {nx.__version__} transitive_closure",
                                           stats, headline=False, note=f"equal: {row['networkx_equal']}"))
            else:
                row["networkx_skipped"] = f"closure has {int(ours.sum()):,} pairs > --nx-max-pairs {nx_max_pairs:,.0f}"
            if cuda:
                wg.transitive_closure(a, method="matmul", device="cuda")  # warm-up
                gpu = wg.transitive_closure(a, method="matmul", device="cuda")
                row["cuda_equal"] = bool((gpu == ours).all())
                stats = paired(lambda: wg.transitive_closure(a, method="matmul", device="cuda"), lambda: scipy_closure(a), repeats)
                row["cuda"] = stats
                summary.append(summary_row(NAME, f"transitive closure on CUDA (matrix squaring), n={n:,}, {kind}",
                                           "scipy SCC + BFS per component (CPU)", stats, headline=False,
                                           note=f"different hardware, not like-for-like; equal: {row['cuda_equal']}"))
            rows.append(row)
            print(f"closure n={n} {kind}: vs scipy {fmt_range(row['scipy'])}x, packed {fmt_range(row['scipy_packed'])}x"
                  + (f", vs igraph {fmt_range(row['igraph'])}x" if "igraph" in row else "")
                  + (f", vs networkx {fmt_range(row['networkx'])}x" if "networkx" in row else ""), flush=True)
    return rows, summary


# ------------------------------------------------------------------------------------------------------------
def bgp_queries() -> dict[str, list[tuple]]:
    ex = rdflib.Namespace(EX)
    return {
        "star (people of org7 aged 30)": [("?p", rdflib.RDF.type, ex.Person), ("?p", ex.worksFor, ex.org7),
                                          ("?p", ex.age, rdflib.Literal(30)), ("?p", ex.name, "?n")],
        "mutual knows, same org": [("?a", ex.knows, "?b"), ("?b", ex.knows, "?a"), ("?a", ex.worksFor, "?o"),
                                   ("?b", ex.worksFor, "?o")],
        "path knows/knows to org3": [("?a", ex.knows, "?b"), ("?b", ex.knows, "?c"), ("?c", ex.worksFor, ex.org3),
                                     ("?a", ex.name, "?n")],
    }


def _row_key(sol: dict, names: list[str]) -> tuple:
    return tuple(sol[n].n3() for n in names)


def bench_bgp(n_people: int, repeats: int) -> dict:
    graph = wg.social_graph(n_people, seed=1)
    result = {"triples": len(graph), "queries": []}
    def build():
        fresh = wg.RdfGraph(graph.triples, dict(graph.prefixes))
        idx = fresh._build_index()
        for p in idx.pos:  # the per-predicate sorted arrays are built on first use; count them here
            idx.predicate_arrays(p)
        idx.n3_rank()  # likewise the term order used to sort solutions
        return fresh
    t_index, graph = best_of(build, 1)
    result["ours_index_s"] = t_index
    t0 = time.perf_counter()
    rg = graph.to_rdflib()
    result["rdflib_load_s"] = time.perf_counter() - t0
    try:
        import pyoxigraph as ox
        store = ox.Store()
        nt = graph.serialize("nt")
        t0 = time.perf_counter()
        store.bulk_load(nt.encode(), format=ox.RdfFormat.N_TRIPLES)
        result["pyoxigraph_load_s"] = time.perf_counter() - t0
        result["pyoxigraph_version"] = ox.__version__
    except ImportError:
        store = None
        result["pyoxigraph"] = "not installed (pip install pyoxigraph)"
    summary = []
    for name, pats in bgp_queries().items():
        names = sorted({str(x)[1:] for pat in pats for x in pat if isinstance(x, str) and x.startswith("?")})
        ours = wg.basic_graph_pattern(graph, pats)
        theirs = wg.sparql_solutions(rg, pats)
        stats = paired(lambda: wg.basic_graph_pattern(graph, pats), lambda: wg.sparql_solutions(rg, pats), 1, warmup=0)
        row = {"query": name, "solutions": len(ours), "rdflib": stats, "rdflib_equal": ours == theirs}
        summary.append(summary_row(NAME, f"basic graph pattern: {name}, {len(graph):,} triples", f"rdflib {rdflib.__version__} SPARQL",
                                   stats, headline=False, note=f"equal: {row['rdflib_equal']}"))
        if store is not None:
            sparql = wg.bgp_to_sparql(pats)

            def run_ox():
                return [tuple(str(sol[n]) for n in names) for sol in store.query(sparql)]
            ours_keys = sorted(_row_key(s, names) for s in ours)
            row["pyoxigraph_equal"] = sorted(run_ox()) == ours_keys
            stats = paired(lambda: wg.basic_graph_pattern(graph, pats), run_ox, repeats)
            row["pyoxigraph"] = stats
            summary.append(summary_row(NAME, f"basic graph pattern: {name}, {len(graph):,} triples",
                                       f"pyoxigraph {result['pyoxigraph_version']} SPARQL", stats, headline=True,
                                       note=f"equal: {row['pyoxigraph_equal']}; index built once in {result['ours_index_s']:.2f} s"))
        result["queries"].append(row)
        print(f"bgp {name}: {len(ours)} solutions, vs rdflib {fmt_range(row['rdflib'])}x"
              + (f", vs pyoxigraph {fmt_range(row['pyoxigraph'])}x" if store is not None else ""), flush=True)
    return result, summary


# ------------------------------------------------------------------------------------------------------------
QUERY_BANDS = ((4, 5), (6, 8), (9, 12))


def bench_graphgrep(n_graphs: int, n_queries: int, max_length: int, n_buckets: int) -> dict:
    """Per band of query sizes (nodes): filter + verify vs a VF2 scan. Small queries match many graphs, so
    verifying the true answers bounds the gain there; larger queries are where an index pays."""
    db = wg.graph_database(n_graphs, seed=2, nodes=(10, 30))
    t_build, index = best_of(lambda: wg.PathIndex(db, max_length=max_length, n_buckets=n_buckets), 1)
    out = {"graphs": n_graphs, "queries_per_band": n_queries, "max_length": max_length, "buckets": n_buckets,
           "build_s": t_build, "bands": []}
    for lo, hi in QUERY_BANDS:
        queries = [wg.sample_query(db, lo + q % (hi - lo + 1), seed=1000 * lo + q) for q in range(n_queries)]
        t0 = time.perf_counter()
        results = [index.search(q) for q in queries]
        t_index = time.perf_counter() - t0
        t0 = time.perf_counter()
        scans = [wg.vf2_scan(db, q) for q in queries]
        t_scan = time.perf_counter() - t0
        band = {"query_nodes": f"{lo}-{hi}", "filter_verify_s": t_index, "vf2_scan_s": t_scan,
                "ratio": t_scan / t_index, "equal": all(r.matches == s for r, s in zip(results, scans)),
                "mean_pruned_fraction": float(np.mean([r.pruned_fraction for r in results])),
                "mean_candidates": float(np.mean([len(r.candidates) for r in results])),
                "mean_matches": float(np.mean([len(r.matches) for r in results]))}
        out["bands"].append(band)
        print(f"graphgrep {n_graphs} graphs, {n_queries} queries of {lo}-{hi} nodes: filter+verify {t_index:.2f} s "
              f"vs VF2 scan {t_scan:.2f} s (x{band['ratio']:.1f})", flush=True)
    total_index = sum(b["filter_verify_s"] for b in out["bands"])
    total_scan = sum(b["vf2_scan_s"] for b in out["bands"])
    out.update(ratio=total_scan / total_index, ratio_including_build=total_scan / (total_index + t_build),
               equal=all(b["equal"] for b in out["bands"]))
    stats = {"ratio_min": min(b["ratio"] for b in out["bands"]), "ratio_max": max(b["ratio"] for b in out["bands"])}
    row = summary_row(NAME, f"GraphGrep filter + verify, {n_graphs} graphs, query bands 4-12 nodes", "networkx VF2 scan", stats,
                      headline=False, note=f"range over the size bands (one run each); equal: {out['equal']}; "
                                           "benchmarks/graphgrep.py has the full comparison")
    return out, [row]


# ------------------------------------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    lines = ["# Graph benchmark", "",
             f"Machine: {report['machine']}; CUDA: {report['cuda']}. Ratios are peer time / our time "
             "(> 1: ours is faster). Regenerate with `python benchmarks/graphs.py` (`--full` for full sizes).", "",
             "## Transitive closure", "",
             "Peers run the same algorithm (SCCs, condensation, one BFS per component) or networkx's; ratio = peer / ours "
             "per alternating pair, min-max.", "",
             "| n | graph | arcs | SCCs | closure pairs | vs scipy SCC+BFS | packed rows, vs scipy packed | vs igraph | vs networkx | equal |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["closure"]:
        eq = r.get("networkx_equal", True) and r["scipy_equal"] and r["scipy_packed_equal"] and r.get("cuda_equal", True) and r.get("igraph_equal", True)
        ig_r = fmt_range(r["igraph"]) + "x" if "igraph" in r else "skipped"
        nx_r = fmt_range(r["networkx"]) + "x" if "networkx" in r else "skipped"
        lines.append(f"| {r['n']} | {r['kind']} | {r['arcs']:,} | {r['components']:,} | {r['closure_pairs']:,} | "
                     f"**{fmt_range(r['scipy'])}x** | **{fmt_range(r['scipy_packed'])}x** | {ig_r} | {nx_r} | {eq} |")
    b = report["bgp"]
    lines += ["", f"## Basic graph patterns ({b['triples']:,} triples)", "",
              f"Index build (ours: interning, hash indexes, sorted arrays, term ranks) {b['ours_index_s']:.2f} s; rdflib load {b['rdflib_load_s']:.2f} s"
              + (f"; pyoxigraph {b.get('pyoxigraph_version')} bulk load {b['pyoxigraph_load_s']:.2f} s"
                 if "pyoxigraph_load_s" in b else f"; pyoxigraph {b.get('pyoxigraph')}") + ".", "",
              "| query | solutions | vs rdflib | vs pyoxigraph | equal |", "|---|---|---|---|---|"]
    for q in b["queries"]:
        oxr = fmt_range(q["pyoxigraph"]) + "x" if "pyoxigraph" in q else "n/a"
        eq = q["rdflib_equal"] and q.get("pyoxigraph_equal", True)
        lines.append(f"| {q['query']} | {q['solutions']} | {fmt_range(q['rdflib'])}x | {oxr} | {eq} |")
    g = report["graphgrep"]
    lines += ["", "## GraphGrep path index", "",
              f"{g['graphs']} graphs (10-30 nodes), {g['queries_per_band']} queries per size band, MaxL={g['max_length']}, "
              f"{g['buckets']} buckets; one-off index build {g['build_s']:.2f} s.", "",
              "| query nodes | filter+verify (s) | VF2 scan (s) | speed-up | pruned | candidates | answers | equal |",
              "|---|---|---|---|---|---|---|---|"]
    for b in g["bands"]:
        lines.append(f"| {b['query_nodes']} | {b['filter_verify_s']:.2f} | {b['vf2_scan_s']:.2f} | {b['ratio']:.1f}x | "
                     f"{b['mean_pruned_fraction']:.3f} | {b['mean_candidates']:.1f} | {b['mean_matches']:.1f} | {b['equal']} |")
    lines += ["", f"All bands: **{g['ratio']:.1f}x** ({g['ratio_including_build']:.1f}x counting the index build)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_flags(p)
    p.add_argument("--full", action="store_true", help="full sizes for the pattern and GraphGrep parts (2.5e5 triples, 5000 graphs)")
    p.add_argument("--closure-sizes", type=int, nargs="+", default=None, help="closure n values (default 2000 10000)")
    p.add_argument("--nx-max-pairs", type=float, default=2e6, help="skip networkx when the closure has more pairs (default 2e6)")
    p.add_argument("--igraph-max-arcs", type=float, default=2e6, help="skip igraph above this many arcs (default 2e6)")
    p.add_argument("--people", type=int, default=None, help="people in the RDF graph, ~7 triples each (default 14300)")
    p.add_argument("--graphs", type=int, default=None, help="GraphGrep database size (default 1000)")
    p.add_argument("--queries", type=int, default=None, help="GraphGrep queries per size band (default 10)")
    p.add_argument("--max-length", type=int, default=4, help="GraphGrep MaxL (default 4)")
    p.add_argument("--buckets", type=int, default=256, help="fingerprint length (default 256)")
    p.add_argument("--repeats", type=int, default=5, help="alternating timed pairs per comparison (default 5)")
    p.add_argument("--skip", nargs="*", default=[], choices=["closure", "bgp", "graphgrep"])
    args = p.parse_args(argv)
    sizes = args.closure_sizes or ([150] if args.smoke else [2000, 10000])
    people = args.people or (300 if args.smoke else 36_000 if args.full else 14_300)
    n_graphs = args.graphs or (40 if args.smoke else 5000 if args.full else 1000)
    n_queries = args.queries or (1 if args.smoke else 30 if args.full else 10)
    if args.smoke:
        args.repeats = 1
    for name, v in (("closure sizes", min(sizes)), ("people", people), ("graphs", n_graphs), ("queries", n_queries),
                    ("repeats", args.repeats)):
        if v < 1:
            p.error(f"{name} must be >= 1")
    import torch
    torch.set_num_threads(1)  # one thread on every side: scipy, igraph and networkx are single-threaded here
    report = {"machine": f"{platform.machine()}, {platform.python_version()}, networkx {nx.__version__}, "
                         f"rdflib {rdflib.__version__}, torch {torch.__version__}; {machine_info()}",
              "cuda": torch.cuda.is_available(), "full": args.full, "smoke": args.smoke,
              "closure": [], "bgp": {"triples": 0, "queries": [], "ours_index_s": 0.0, "rdflib_load_s": 0.0},
              "graphgrep": {"graphs": 0, "queries_per_band": 0, "max_length": 0, "buckets": 0, "build_s": 0.0, "bands": [],
                            "ratio": float("nan"), "ratio_including_build": float("nan"), "equal": True}}
    summary = []
    if "closure" not in args.skip:
        report["closure"], part = bench_closure(sizes, args.repeats, args.nx_max_pairs, args.igraph_max_arcs)
        summary += part
    if "bgp" not in args.skip:
        report["bgp"], part = bench_bgp(people, args.repeats)
        summary += part
    if "graphgrep" not in args.skip:
        report["graphgrep"], part = bench_graphgrep(n_graphs, n_queries, args.max_length, args.buckets)
        summary += part
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "graphs.json").write_text(json.dumps(report, indent=2, default=float))
    (out / "graphs.md").write_text(markdown(report))
    write_summary(out, NAME, summary)
    print(markdown(report))
    ok = all(r.get("networkx_equal", True) and r["scipy_equal"] and r["scipy_packed_equal"] and r.get("cuda_equal", True) and r.get("igraph_equal", True)
             for r in report["closure"])
    ok &= all(q["rdflib_equal"] and q.get("pyoxigraph_equal", True) for q in report["bgp"]["queries"])
    ok &= report["graphgrep"]["equal"]
    if not ok:
        print("MISMATCH: some result differs from its peer; see the tables above", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
