"""Graph benchmark: transitive closure, basic graph patterns and the GraphGrep path index vs their peers.

Side by side in one run (reported as ratios, peer time / our time):
- transitive closure (``workbench.graphs.transitive_closure``: SCC condensation + packed bitsets; and the
  torch matrix-squaring version on CUDA when present) vs ``networkx.transitive_closure`` and
  ``scipy.sparse.csgraph.shortest_path`` reachability, on sparse (mean out-degree 0.8) and dense (5) random
  digraphs; every result is checked identical to the peers';
- basic graph patterns on a generated FOAF-like graph of about 10^5 triples vs rdflib's SPARQL engine and
  pyoxigraph (when installed), answers checked equal;
- GraphGrep filter + VF2 verify vs a VF2 scan of the whole database (networkx GraphMatcher), answers equal,
  for queries of 4-5, 6-8 and 9-12 nodes.

Defaults take a few minutes on 2 cores. Full sizes: ``--full`` (closure n = 1000 and 5000, 2.5x10^5 triples,
5000 graphs). Writes reports/benchmarks/graphs.json and graphs.md.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench import graphs as wg  # noqa: E402
from workbench.graphs.rdf import EX  # noqa: E402


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


# ------------------------------------------------------------------------------------------------------------
def scipy_closure(a) -> np.ndarray:
    """Reachability from scipy's all-pairs BFS, with networkx's diagonal (on a cycle) added."""
    from scipy.sparse.csgraph import shortest_path
    d = shortest_path(a, unweighted=True, directed=True)
    reach = np.isfinite(d)  # includes i -> i by the empty walk
    # i is on a cycle when some successor of i reaches i: (A @ reach)[i, i].
    on_cycle = np.asarray((a.astype(np.float32) @ reach.astype(np.float32)).diagonal() > 0)
    np.fill_diagonal(reach, on_cycle)
    return reach


def bench_closure(sizes: list[int], repeats: int, nx_max_pairs: float) -> list[dict]:
    import torch
    cuda = torch.cuda.is_available()
    rows = []
    for n in sizes:
        for kind, degree in (("sparse", 0.8), ("dense", 5.0)):
            a = wg.random_digraph(n, degree, seed=n)
            row = {"n": n, "kind": kind, "mean_degree": degree, "arcs": int(a.nnz)}
            t_ours, ours = best_of(lambda: wg.transitive_closure(a, method="bitset"), repeats)
            row.update(ours_s=t_ours, closure_pairs=int(ours.sum()))
            k = wg.condensation(a)[1].shape[0]
            row["components"] = int(k)
            if cuda:
                wg.transitive_closure(a, method="matmul", device="cuda")  # warm-up
                t_gpu, gpu = best_of(lambda: wg.transitive_closure(a, method="matmul", device="cuda"), repeats)
                row.update(ours_cuda_s=t_gpu, cuda_equal=bool((gpu == ours).all()))
            t_sp, sp_res = best_of(lambda: scipy_closure(a), 1)
            row.update(scipy_s=t_sp, scipy_equal=bool((sp_res == ours).all()), scipy_ratio=t_sp / t_ours)
            if ours.sum() <= nx_max_pairs:
                g = nx.from_scipy_sparse_array(a, create_using=nx.DiGraph)
                t_nx, tc = best_of(lambda: nx.transitive_closure(g), 1)
                ref = nx.to_scipy_sparse_array(tc, nodelist=range(n), dtype=bool).toarray()
                row.update(networkx_s=t_nx, networkx_equal=bool((ref == ours).all()), networkx_ratio=t_nx / t_ours)
            else:
                row["networkx_skipped"] = (f"closure has {int(ours.sum()):,} pairs > --nx-max-pairs "
                                           f"{nx_max_pairs:,.0f} (networkx stores each as a Python edge)")
            rows.append(row)
            print(f"closure n={n} {kind}: ours {t_ours * 1e3:.1f} ms, scipy x{row['scipy_ratio']:.1f}, "
                  f"networkx x{row.get('networkx_ratio', float('nan')):.1f}", flush=True)
    return rows


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
    for name, pats in bgp_queries().items():
        names = sorted({str(x)[1:] for pat in pats for x in pat if isinstance(x, str) and x.startswith("?")})
        t_ours, ours = best_of(lambda: wg.basic_graph_pattern(graph, pats), repeats)
        t_rdf, theirs = best_of(lambda: wg.sparql_solutions(rg, pats), 1)
        row = {"query": name, "solutions": len(ours), "ours_s": t_ours, "rdflib_s": t_rdf,
               "rdflib_equal": ours == theirs, "rdflib_ratio": t_rdf / t_ours}
        if store is not None:
            sparql = wg.bgp_to_sparql(pats)

            def run_ox():
                return [tuple(str(sol[n]) for n in names) for sol in store.query(sparql)]
            t_ox, ox_rows = best_of(run_ox, repeats)
            ours_keys = sorted(_row_key(s, names) for s in ours)
            row.update(pyoxigraph_s=t_ox, pyoxigraph_ratio=t_ox / t_ours,
                       pyoxigraph_equal=sorted(ox_rows) == ours_keys)
        result["queries"].append(row)
        print(f"bgp {name}: {len(ours)} solutions, ours {t_ours * 1e3:.1f} ms, rdflib x{row['rdflib_ratio']:.1f}"
              + (f", pyoxigraph x{row['pyoxigraph_ratio']:.2f}" if store is not None else ""), flush=True)
    return result


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
    return out


# ------------------------------------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    lines = ["# Graph benchmark", "",
             f"Machine: {report['machine']}; CUDA: {report['cuda']}. Ratios are peer time / our time "
             "(> 1: ours is faster). Regenerate with `python benchmarks/graphs.py` (`--full` for full sizes).", "",
             "## Transitive closure", "",
             "| n | graph | arcs | SCCs | closure pairs | ours (ms) | vs networkx | vs scipy | equal |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["closure"]:
        nxr = f"{r['networkx_ratio']:.0f}x" if "networkx_ratio" in r else "skipped"
        eq = r.get("networkx_equal", True) and r["scipy_equal"] and r.get("cuda_equal", True)
        lines.append(f"| {r['n']} | {r['kind']} (deg {r['mean_degree']}) | {r['arcs']} | {r['components']} | "
                     f"{r['closure_pairs']:,} | {r['ours_s'] * 1e3:.1f} | {nxr} | {r['scipy_ratio']:.1f}x | {eq} |")
    skipped = [r for r in report["closure"] if "networkx_skipped" in r]
    for r in skipped:
        lines.append(f"\nnetworkx skipped at n={r['n']} {r['kind']}: {r['networkx_skipped']}.")
    if any("ours_cuda_s" in r for r in report["closure"]):
        lines += ["", "CUDA (matrix squaring on the condensation): " + ", ".join(
            f"n={r['n']} {r['kind']} {r['ours_cuda_s'] * 1e3:.1f} ms" for r in report["closure"] if "ours_cuda_s" in r)]
    b = report["bgp"]
    lines += ["", f"## Basic graph patterns ({b['triples']:,} triples)", "",
              f"Index build (ours: interning, hash indexes, sorted arrays, term ranks) {b['ours_index_s']:.2f} s; rdflib load {b['rdflib_load_s']:.2f} s"
              + (f"; pyoxigraph {b.get('pyoxigraph_version')} bulk load {b['pyoxigraph_load_s']:.2f} s"
                 if "pyoxigraph_load_s" in b else f"; pyoxigraph {b.get('pyoxigraph')}") + ".", "",
              "| query | solutions | ours (ms) | vs rdflib | vs pyoxigraph | equal |", "|---|---|---|---|---|---|"]
    for q in b["queries"]:
        oxr = f"{q['pyoxigraph_ratio']:.2f}x" if "pyoxigraph_ratio" in q else "n/a"
        eq = q["rdflib_equal"] and q.get("pyoxigraph_equal", True)
        lines.append(f"| {q['query']} | {q['solutions']} | {q['ours_s'] * 1e3:.1f} | {q['rdflib_ratio']:.0f}x | "
                     f"{oxr} | {eq} |")
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
    p.add_argument("--full", action="store_true", help="full sizes (closure 1000 and 5000, 2.5e5 triples, 5000 graphs)")
    p.add_argument("--closure-sizes", type=int, nargs="+", default=None, help="closure n values (default 1000)")
    p.add_argument("--nx-max-pairs", type=float, default=None,
                   help="skip networkx when the closure has more pairs (default 2e6; --full 1e7)")
    p.add_argument("--people", type=int, default=None, help="people in the RDF graph, ~7 triples each (default 14300)")
    p.add_argument("--graphs", type=int, default=None, help="GraphGrep database size (default 1000)")
    p.add_argument("--queries", type=int, default=None, help="GraphGrep queries per size band (default 10)")
    p.add_argument("--max-length", type=int, default=4, help="GraphGrep MaxL (default 4)")
    p.add_argument("--buckets", type=int, default=256, help="fingerprint length (default 256)")
    p.add_argument("--repeats", type=int, default=3, help="best of this many runs for the fast sides (default 3)")
    p.add_argument("--out", default=str(ROOT / "reports" / "benchmarks"), help="output folder")
    args = p.parse_args(argv)
    sizes = args.closure_sizes or ([1000, 5000] if args.full else [1000])
    nx_max = args.nx_max_pairs or (1e7 if args.full else 2e6)
    people = args.people or (36_000 if args.full else 14_300)
    n_graphs = args.graphs or (5000 if args.full else 1000)
    n_queries = args.queries or (30 if args.full else 10)
    for name, v in (("closure sizes", min(sizes)), ("people", people), ("graphs", n_graphs), ("queries", n_queries),
                    ("repeats", args.repeats)):
        if v < 1:
            p.error(f"{name} must be >= 1")
    import torch
    torch.set_num_threads(2)
    report = {"machine": f"{platform.machine()}, {platform.python_version()}, networkx {nx.__version__}, "
                         f"rdflib {rdflib.__version__}, torch {torch.__version__}",
              "cuda": torch.cuda.is_available(), "full": args.full}
    report["closure"] = bench_closure(sizes, args.repeats, nx_max)
    report["bgp"] = bench_bgp(people, args.repeats)
    report["graphgrep"] = bench_graphgrep(n_graphs, n_queries, args.max_length, args.buckets)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "graphs.json").write_text(json.dumps(report, indent=2))
    (out / "graphs.md").write_text(markdown(report))
    print(markdown(report))
    ok = all(r.get("networkx_equal", True) and r["scipy_equal"] and r.get("cuda_equal", True) for r in report["closure"])
    ok &= all(q["rdflib_equal"] and q.get("pyoxigraph_equal", True) for q in report["bgp"]["queries"])
    ok &= report["graphgrep"]["equal"]
    if not ok:
        print("MISMATCH: some result differs from its peer; see the tables above", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
