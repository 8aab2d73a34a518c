"""ICD-10-CM coding benchmark: the BM25 ranker vs a rapidfuzz best match, on held-out inclusion terms.

What it measures (see ``workbench.clinical.coding.evaluation`` for the protocol):
- top-1 / top-5 accuracy at the billable-code and category level, for verbatim held-out inclusion terms
  and perturbed forms (word order, typos, abbreviations), ranker vs ``rapidfuzz`` ``token_set_ratio``
  over all billable descriptions (the strongest rapidfuzz scorer on this task), same queries, same index;
- the calibration of the ranker's probabilities: fitted on half of the terms, reliability curve and
  expected calibration error (ECE) on the other half;
- time per query, ranker vs baseline on the same verbatim queries (ratio = baseline time / ranker time);
- index build time (cold) vs loading the cached index;
- the tutorial's example query and what comes back.

The results of the two systems differ by design (that is the comparison), so "checked equal" here means
both answer the very same query list against the very same held-out index.

``--smoke``: 30 terms, one timing repeat, seconds to a few minutes. Default 300 terms.
``--write-calibration`` refits the shipped calibration on all terms of the run.
Writes DIR/coding.json, coding.md, coding_calibration.png and coding.summary.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.clinical.coding import load_index, suggest_codes  # noqa: E402
from workbench.clinical.coding import calibration as cal  # noqa: E402
from workbench.clinical.coding.evaluation import BASELINE, _ranker_top, evaluate, rapidfuzz_baseline  # noqa: E402

TUTORIAL_QUERY = "left chronic otitis media status post"


def _timing(index, queries: list[str], repeats: int) -> dict:
    ours, peer = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for q in queries:
            _ranker_top(index, q, 5)
        ours.append((time.perf_counter() - t0) / len(queries))
        t0 = time.perf_counter()
        rapidfuzz_baseline(index, queries, k=5)
        peer.append((time.perf_counter() - t0) / len(queries))
    ratios = [p / o for p, o in zip(peer, ours)]
    return {"ranker_s_per_query": ours, "baseline_s_per_query": peer, "ratio_min": min(ratios), "ratio_max": max(ratios)}


def _calibration(data: dict, out: Path) -> dict:
    fit = data["term"] % 2 == 0
    fitted = cal.fit_calibration(data["x"][fit], data["y"][fit])
    test_x, test_y = data["x"][~fit], data["y"][~fit]
    p_fit = np.array([fitted.probability(*x) for x in test_x])
    shipped = cal.load_calibration()
    p_shipped = np.array([shipped.probability(*x) for x in test_x])
    p_raw = np.clip(test_x[:, 0], 0, 1)  # the relative score read as a probability: what calibration fixes
    curves = {name: cal.reliability_curve(p, test_y) for name, p in
              (("fitted on the other half", p_fit), ("shipped", p_shipped), ("uncalibrated relative score", p_raw))}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="gray", ls="--", label="perfect calibration")
    for name, curve in curves.items():
        ax.plot(curve["mean_predicted"], curve["observed"], marker="o", label=f"{name} (ECE {curve['ece']:.3f})")
    ax.set(xlabel="predicted probability (bin mean)", ylabel="observed share right", title="ICD-10-CM ranker: reliability")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "coding_calibration.png", dpi=110)
    plt.close(fig)
    return {"fitted": fitted.__dict__, "curves": curves, "test_pairs": int(len(test_y)), "fit_pairs": int(fit.sum())}


def _markdown(report: dict) -> str:
    lines = ["# ICD-10-CM coding: ranker vs rapidfuzz", "",
             f"{report['terms']} held-out inclusion terms (seed {report['seed']}), removed from the index before querying.", "",
             "| perturbation | level | queries | ranker top-1 | ranker top-5 | baseline top-1 | baseline top-5 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    rows = {(r["system"], r["perturbation"], r["level"]): r for r in report["accuracy"]}
    for (system, kind, level), r in rows.items():
        if system != "ranker":
            continue
        b = rows.get((BASELINE, kind, level), {})
        lines.append(f"| {kind} | {level} | {r['queries']} | {r['top1']:.3f} | {r['top5']:.3f} | "
                     f"{b.get('top1', float('nan')):.3f} | {b.get('top5', float('nan')):.3f} |")  # fmt: skip
    t = report["timing"]
    lines += ["", f"Time per query: ranker {np.median(t['ranker_s_per_query']) * 1e3:.0f} ms, baseline "
              f"{np.median(t['baseline_s_per_query']) * 1e3:.0f} ms (ratio {t['ratio_min']:.1f}-{t['ratio_max']:.1f}).",
              f"Index: cold build {report['index_build_s']:.1f} s, cached load {report['index_load_s']:.2f} s.", "",
              "Calibration (ECE on the held-out half): " + ", ".join(
                  f"{k} {v['ece']:.3f}" for k, v in report["calibration"]["curves"].items()), "",
              f"Tutorial query `{TUTORIAL_QUERY}`:", ""]  # fmt: skip
    ex = report["tutorial_example"]
    for s in [ex["main"], *ex["secondary"], *ex["alternatives"][:4]]:
        if s:
            lines.append(f"- {s['role']}: {s['code']} {s['description']} (p = {s['probability']:.2f}; matched '{s['matched_text']}')")
    lines += ["", f"Machine: {report['machine']}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="30 terms, one repeat (a quick end-to-end check)")
    p.add_argument("--terms", type=int, default=None, help="held-out inclusion terms (default 300; smoke 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=None, help="timing repeats (default 3; smoke 1)")
    p.add_argument("--write-calibration", action="store_true", help="refit the shipped calibration on this run")
    p.add_argument("--out", default=str(ROOT / "reports" / "benchmarks"), help="output folder")
    args = p.parse_args(argv)
    n_terms = args.terms or (30 if args.smoke else 300)
    repeats = args.repeats or (1 if args.smoke else 3)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    result = evaluate(n_terms, args.seed)
    index = result["index"]
    build_s = time.perf_counter() - t0  # includes the evaluation's queries; the cold build alone is below
    t0 = time.perf_counter()
    from workbench.clinical.coding._index import build_index

    build_index()
    cold_s = time.perf_counter() - t0
    load_index()  # warm the cache
    from workbench.clinical.coding import _index

    _index._MEMO.clear()
    t0 = time.perf_counter()
    full = load_index()
    load_s = time.perf_counter() - t0
    verbatim = [t.term for t in result["terms"]][: max(10, n_terms // 3)]
    timing = _timing(index, verbatim, repeats)
    calibration = _calibration(result["calibration_data"], out)
    if args.write_calibration:
        data = result["calibration_data"]
        refit = cal.fit_calibration(data["x"], data["y"], note=(
            f"fit_calibration on the top-10 candidates of {n_terms} held-out inclusion terms (seed {args.seed}), all "
            "perturbations; label = right billable code. Refit: python benchmarks/coding.py --write-calibration"))
        print(f"calibration written to {refit.save()}")
    example = suggest_codes(TUTORIAL_QUERY, index=full).to_dict()
    report = {
        "benchmark": "coding", "terms": n_terms, "seed": args.seed, "accuracy": result["rows"],
        "examples": result["examples"], "timing": timing, "index_build_s": cold_s, "index_load_s": load_s,
        "evaluation_s": build_s, "calibration": calibration, "tutorial_example": example,
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
    }  # fmt: skip
    (out / "coding.json").write_text(json.dumps(report, indent=1, default=float))
    (out / "coding.md").write_text(_markdown(report))
    rows = {(r["system"], r["perturbation"], r["level"]): r for r in result["rows"]}
    ours, peer = rows[("ranker", "verbatim", "billable")], rows[(BASELINE, "verbatim", "billable")]
    summary = [{
        "benchmark": "coding", "work": f"top-5 ICD-10-CM codes for {len(verbatim)} held-out inclusion terms",
        "peer": BASELINE + " over billable descriptions", "ratio_min": timing["ratio_min"],
        "ratio_max": timing["ratio_max"], "headline": True,
        "note": (f"accuracy, verbatim, billable: ranker top-1 {ours['top1']:.2f} / top-5 {ours['top5']:.2f}, "
                 f"baseline {peer['top1']:.2f} / {peer['top5']:.2f}; the results differ by design"),
    }, {
        "benchmark": "coding", "work": "ICD-10-CM index: cached load vs cold build", "peer": "cold build_index()",
        "ratio_min": cold_s / load_s, "ratio_max": cold_s / load_s, "headline": False,
        "note": "a cache only we have: a footnote, not a comparison with a peer",
    }]  # fmt: skip
    (out / "coding.summary.json").write_text(json.dumps(summary, indent=1))
    print(_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
