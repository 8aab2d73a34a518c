"""Benchmark workbench.ctc side by side with its peers; results as ratios in reports/benchmarks/ctc.{json,md}.

1. ``ctc_loss`` forward + backward vs ``torch.nn.functional.ctc_loss`` (CPU, and CUDA when present).
2. ``prefix_beam_search`` vs pyctcdecode's beam search without a language model, on the same log-probs
   (decodes per second; agreement of the top result; which top result is more probable when they differ).
3. ``BKTree.search`` vs a rapidfuzz ``process.extract`` linear scan over a lexicon at distance 1 and 2
   (queries per second; result sets must be identical).

Inputs are synthetic and seeded: CTC-like outputs that spell a random label with noise, and a lexicon of
random lowercase words (no download). Defaults finish in about two minutes on 2 shared CPU cores; pass
larger sizes for the full run, e.g. ``--decodes 200 --beam-widths 10 100 --repeats 50 --queries 1000``.
Run: ``.venv/bin/python benchmarks/ctc.py [--help]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import string
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from workbench.ctc import BKTree, ctc_loss, log_likelihood, prefix_beam_search

ROOT = Path(__file__).resolve().parents[1]
CHARSET = string.digits + string.ascii_lowercase  # CRNN's 36 classes plus blank


def median_seconds(fn, repeats: int, warmup: int = 2, sync=None) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if sync:
            sync()
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---------------------------------------------------------------------------------------------- loss
def _alpha_beta_loss(*args, **kwargs):
    return ctc_loss(*args, gradient="alpha_beta", **kwargs)


def bench_loss(shapes, repeats: int, devices, seed: int):
    rows = []
    for device in devices:
        sync = torch.cuda.synchronize if device == "cuda" else None
        for T, N, C, S in shapes:
            g = torch.Generator().manual_seed(seed)
            logits = torch.randn(T, N, C, generator=g).to(device)
            targets = torch.randint(1, C, (N, S), generator=g).to(device)
            target_lengths = torch.randint(S // 2, S + 1, (N,), generator=g).to(device)
            input_lengths = torch.full((N,), T, dtype=torch.long).to(device)

            def step(fn, source=logits):
                x = source.clone().requires_grad_(True)
                loss = fn(x.log_softmax(2), targets, input_lengths, target_lengths, reduction="mean", zero_infinity=True)
                loss.backward()
                return loss.detach(), x.grad

            ours_value, ours_grad = step(ctc_loss)
            native_value, native_grad = step(F.ctc_loss)
            rel = (abs(ours_value - native_value) / abs(native_value)).item()
            grad_err = ((ours_grad - native_grad).abs().max() / native_grad.abs().max()).item()
            # float32 rounding alone moves gradients by ~1e-4 at these sizes: measure both against float64.
            _, exact_grad = step(F.ctc_loss, logits.double())
            scale = exact_grad.abs().max()
            ours_vs_f64 = ((ours_grad.double() - exact_grad).abs().max() / scale).item()
            native_vs_f64 = ((native_grad.double() - exact_grad).abs().max() / scale).item()
            t_ours = median_seconds(lambda: step(ctc_loss), repeats, sync=sync)
            t_native = median_seconds(lambda: step(F.ctc_loss), repeats, sync=sync)
            t_alpha_beta = median_seconds(lambda: step(_alpha_beta_loss), repeats, sync=sync)
            rows.append({
                "device": device, "T": T, "N": N, "C": C, "S": S,
                "ours_ms": t_ours * 1e3, "native_ms": t_native * 1e3, "slowdown_vs_native": t_ours / t_native,
                "alpha_beta_ms": t_alpha_beta * 1e3, "alpha_beta_slowdown_vs_native": t_alpha_beta / t_native,
                "loss_rel_diff": rel, "grad_max_rel_diff": grad_err,
                "grad_err_vs_float64_ours": ours_vs_f64, "grad_err_vs_float64_native": native_vs_f64,
            })
            print(f"  loss {device} (T,N,C,S)=({T},{N},{C},{S}): ours {t_ours*1e3:.2f} ms (alpha_beta {t_alpha_beta*1e3:.2f} ms), "
                  f"native {t_native*1e3:.2f} ms -> {t_ours/t_native:.2f}x native ({t_alpha_beta/t_native:.2f}x); loss rel diff {rel:.1e}, grad rel diff {grad_err:.1e} "
                  f"(vs float64: ours {ours_vs_f64:.1e}, native {native_vs_f64:.1e})")
    return rows


# ------------------------------------------------------------------------------------------ decoding
def synthetic_outputs(count: int, T: int, C: int, seed: int, noise: float) -> list[np.ndarray]:
    """CTC-like (T, C) log-probs: a random label spread over the frames, blank in between, Gaussian noise."""
    rng = np.random.default_rng(seed)
    outputs = []
    for _ in range(count):
        S = int(rng.integers(max(1, T // 6), max(2, T // 3)))
        label = rng.integers(1, C, size=S)
        centers = np.sort(rng.choice(np.arange(1, T - 1), size=S, replace=False))
        logits = rng.normal(0.0, noise, (T, C))
        logits[:, 0] += 3.0
        for center, k in zip(centers, label):
            logits[center, k] += 6.0 + rng.normal(0, 1.0)
            if center + 1 < T:
                logits[center + 1, k] += 2.0  # characters often span two frames
        outputs.append(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))
    return outputs


def bench_decode(configs, decodes: int, seed: int):
    """Decode the same synthetic outputs with both; configs are (T, C, beam_width, noise) tuples."""
    try:
        from pyctcdecode import build_ctcdecoder
    except ImportError:
        print("  pyctcdecode not installed: `.venv/bin/pip install --no-deps pyctcdecode==0.5.0 pygtrie`")
        return [], "pyctcdecode not installed"
    rows = []
    for T, C, beam_width, noise in configs:
        labels = [""] + [chr(0x4E00 + i) if i >= len(CHARSET) else CHARSET[i] for i in range(C - 1)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import logging

            logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
            decoder = build_ctcdecoder(labels)
        outputs = synthetic_outputs(decodes, T, C, seed, noise)
        to_ids = {c: i for i, c in enumerate(labels) if i}

        def run_peer():
            return [decoder.decode_beams(x, beam_width=beam_width)[0][0] for x in outputs]

        def run_ours():
            return [prefix_beam_search(x, beam_width=beam_width, token_min_logp=-5.0)[0] for x in outputs]

        decoder.decode_beams(outputs[0], beam_width=beam_width)  # warm-up: pyctcdecode's first-call setup
        start = time.perf_counter(); peer = run_peer(); t_peer = time.perf_counter() - start
        start = time.perf_counter(); ours = run_ours(); t_ours = time.perf_counter() - start
        start = time.perf_counter(); [prefix_beam_search(x, beam_width=beam_width)[0] for x in outputs]; t_exact = time.perf_counter() - start
        ours_text = ["".join(labels[k] for k in lab) for lab, _ in ours]
        agree = sum(a == b for a, b in zip(ours_text, peer))
        better = worse = 0
        for x, a, b in zip(outputs, ours_text, peer):
            if a != b:
                la = log_likelihood(x, [to_ids[c] for c in a])
                lb = log_likelihood(x, [to_ids[c] for c in b])
                better += la > lb
                worse += la < lb
        rows.append({
            "T": T, "C": C, "beam_width": beam_width, "noise": noise, "decodes": decodes,
            "ours_per_s": decodes / t_ours, "ours_unpruned_per_s": decodes / t_exact, "pyctcdecode_per_s": decodes / t_peer,
            "speedup": t_peer / t_ours, "top1_agreement": agree / decodes,
            "disagreements_ours_more_probable": int(better), "disagreements_peer_more_probable": int(worse),
        })
        print(f"  decode T={T} C={C} beam={beam_width} noise={noise}: ours {decodes/t_ours:.1f}/s "
              f"(unpruned {decodes/t_exact:.1f}/s), pyctcdecode {decodes/t_peer:.2f}/s -> {t_peer/t_ours:.1f}x; "
              f"top-1 agreement {agree}/{decodes} (of the rest: ours more probable {better}, peer {worse})")
    return rows, None


# ------------------------------------------------------------------------------------------- BK-tree
def make_lexicon(size: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list(string.ascii_lowercase))
    words: set[str] = set()
    while len(words) < size:
        lengths = rng.integers(3, 12, size=size)
        words.update("".join(rng.choice(letters, size=n)) for n in lengths[: size - len(words)])
    return sorted(words)


def make_queries(lexicon: list[str], count: int, seed: int) -> list[str]:
    """Half lexicon words with one or two random edits (typical OCR misreads), half random strings."""
    rng = np.random.default_rng(seed + 1)
    letters = string.ascii_lowercase
    queries = []
    for i in range(count):
        if i % 2 == 0:
            word = list(lexicon[int(rng.integers(len(lexicon)))])
            for _ in range(int(rng.integers(1, 3))):
                pos = int(rng.integers(len(word)))
                word[pos] = letters[int(rng.integers(26))]
            queries.append("".join(word))
        else:
            queries.append("".join(rng.choice(list(letters), size=int(rng.integers(3, 12)))))
    return queries


def bench_bktree(lexicon_size: int, queries_count: int, seed: int):
    lexicon = make_lexicon(lexicon_size, seed)
    start = time.perf_counter()
    tree = BKTree(lexicon)
    build_s = time.perf_counter() - start
    queries = make_queries(lexicon, queries_count, seed)
    rows = []
    for k in (1, 2):
        start = time.perf_counter()
        ours = [tree.search_counted(q, k) for q in queries]
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        peer = [process.extract(q, lexicon, scorer=Levenshtein.distance, score_cutoff=k, limit=None) for q in queries]
        t_peer = time.perf_counter() - start
        identical = all({w for _, w in o[0]} == {w for w, _, _ in p} for o, p in zip(ours, peer))
        visited = statistics.mean(v for _, v in ours) / len(tree)
        rows.append({
            "max_distance": k, "lexicon_size": len(lexicon), "queries": len(queries),
            "bktree_per_s": len(queries) / t_ours, "rapidfuzz_scan_per_s": len(queries) / t_peer,
            "speedup": t_peer / t_ours, "identical_results": identical, "mean_fraction_visited": visited,
            "build_s": build_s,
        })
        print(f"  BK-tree k={k} over {len(lexicon):,} words: {len(queries)/t_ours:.0f} q/s, rapidfuzz scan "
              f"{len(queries)/t_peer:.0f} q/s -> {t_peer/t_ours:.2f}x; visits {visited:.1%} of the tree; "
              f"identical results: {identical} (tree built in {build_s:.1f} s)")
    return rows


# --------------------------------------------------------------------------------------------- main
def to_markdown(result) -> str:
    lines = ["# CTC benchmark", "", f"Run {result['when']} on {result['machine']} (torch {result['torch']}, "
             f"{result['threads']} threads). Inputs are synthetic and seeded (seed {result['seed']}): CTC-like "
             "outputs spelling a random label with noise; a lexicon of random lowercase words generated "
             "deterministically (no download).", ""]
    lines += ["## ctc_loss forward + backward vs torch native (goal: within 3x on CPU)", "",
              "float32. Gradients are w.r.t. the logits before log_softmax; 'grad rel diff' is max |ours - native| / max |native|; "
              "the last column measures each against a float64 computation, to show the float32 rounding floor.", "",
              "'ours' is the default `gradient=\"autograd\"`; 'alpha_beta' is `gradient=\"alpha_beta\"` (analytic backward).", "",
              "| device | (T, N, C, S) | ours ms | alpha_beta ms | native ms | ours / native | alpha_beta / native | loss rel diff | grad rel diff | grad error vs float64: ours / native |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in result["loss"]:
        lines.append(f"| {r['device']} | ({r['T']}, {r['N']}, {r['C']}, {r['S']}) | {r['ours_ms']:.2f} | {r['alpha_beta_ms']:.2f} | "
                     f"{r['native_ms']:.2f} | {r['slowdown_vs_native']:.2f}x | {r['alpha_beta_slowdown_vs_native']:.2f}x | {r['loss_rel_diff']:.1e} | {r['grad_max_rel_diff']:.1e} | "
                     f"{r['grad_err_vs_float64_ours']:.1e} / {r['grad_err_vs_float64_native']:.1e} |")
    lines += ["", "## prefix_beam_search vs pyctcdecode 0.5.0 without LM (goal: at least 5x faster)", ""]
    if result["decode_skipped"]:
        lines.append(f"Skipped: {result['decode_skipped']}.")
    else:
        lines += ["Both prune tokens below log-prob -5 per frame (pyctcdecode's default `token_min_logp`); "
                  "'unpruned' is ours without that pruning.", "",
                  "| T | C | beam | noise | ours /s | ours unpruned /s | pyctcdecode /s | speed-up | top-1 agreement | differing: ours / peer more probable |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for r in result["decode"]:
            lines.append(f"| {r['T']} | {r['C']} | {r['beam_width']} | {r['noise']} | {r['ours_per_s']:.1f} | {r['ours_unpruned_per_s']:.1f} | "
                         f"{r['pyctcdecode_per_s']:.2f} | {r['speedup']:.1f}x | {r['top1_agreement']:.0%} | "
                         f"{r['disagreements_ours_more_probable']} / {r['disagreements_peer_more_probable']} |")
    lines += ["", "## BKTree.search vs rapidfuzz process.extract linear scan", "",
              "| distance | lexicon | queries/s BK-tree | queries/s scan | BK-tree / scan | fraction of tree visited | identical |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in result["bktree"]:
        lines.append(f"| {r['max_distance']} | {r['lexicon_size']:,} | {r['bktree_per_s']:.0f} | {r['rapidfuzz_scan_per_s']:.0f} | "
                     f"{r['speedup']:.2f}x | {r['mean_fraction_visited']:.1%} | {r['identical_results']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="timed repetitions per loss shape (median reported)")
    parser.add_argument("--decodes", type=int, default=20, help="log-prob arrays decoded per decoding configuration")
    parser.add_argument("--beam-widths", type=int, nargs="+", default=[10, 25],
                        help="beam widths to compare (pyctcdecode's default is 100: about 1 s per decode for it here)")
    parser.add_argument("--noise", type=float, default=0.5, help="std of the logit noise in the synthetic outputs")
    parser.add_argument("--lexicon-size", type=int, default=100_000, help="words in the generated lexicon")
    parser.add_argument("--queries", type=int, default=100, help="BK-tree queries per distance")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: on a shared 2-core machine intra-op threads stall both sides)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks", help="output folder")
    parser.add_argument("--skip", nargs="*", default=[], choices=["loss", "decode", "bktree"], help="parts to leave out")
    args = parser.parse_args(argv)
    for name in ("repeats", "decodes", "lexicon_size", "queries", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": sys.version.split()[0], "torch": torch.__version__, "threads": args.threads, "seed": args.seed,
        "loss": [], "decode": [], "decode_skipped": None, "bktree": [],
    }
    if "loss" not in args.skip:
        print("ctc_loss vs torch native")
        result["loss"] = bench_loss([(32, 16, 37, 10), (100, 64, 80, 30)], args.repeats, devices, args.seed)
    if "decode" not in args.skip:
        print("prefix_beam_search vs pyctcdecode")
        configs = [(T, C, bw, args.noise) for T, C in [(26, 37), (100, 80)] for bw in args.beam_widths]
        result["decode"], result["decode_skipped"] = bench_decode(configs, args.decodes, args.seed)
    if "bktree" not in args.skip:
        print("BK-tree vs rapidfuzz linear scan")
        result["bktree"] = bench_bktree(args.lexicon_size, args.queries, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ctc.json").write_text(json.dumps(result, indent=2))
    (args.out / "ctc.md").write_text(to_markdown(result))
    print(f"wrote {args.out / 'ctc.json'} and {args.out / 'ctc.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
