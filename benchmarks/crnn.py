"""CRNN benchmark: the shipped recognizer beside Tesseract 5 on the same printed-line images.

Sets (``datasets/crnn/eval/``, rendered by ImageMagick/Pango in font families held out of training, see
``datasets/crnn/make_eval_sets.py``): ``heldout`` (clean lines, 10% longer than any training line) and
``degraded`` (rescaled, blurred, JPEG, rotated, noisy, unevenly lit).

Per set and reader: sequence accuracy (exact lines), CER (edit distance / reference characters) and lines/s.
Both read the very same PNG files on one CPU thread: ours in width-bucketed batches of 32, by best path
(``CRNN``) and by best path with dictionary correction over Debian's wamerican word list (``CRNN +
dictionary``, the margin tuned on held-out-font lines of our own renderer, stored in the checkpoint by
``calibrate.py``; Tesseract's LSTM reader also consults its word lists by default, so this is the like-for-like
row and the headline), and Tesseract (``tesseract IMG - --psm 7 -l eng``, one line per call, ``OMP_THREAD_LIMIT=1``) one process per
line, as its command line is used. Tesseract's typographic quotes, dashes and ligatures are mapped to the
ASCII our labels use (``’`` -> ``'``, ``—`` -> ``-``, ``ﬁ`` -> ``fi``) before scoring, so it is not
charged for a glyph our charset cannot express.

``--smoke``: 8 lines per set, one repeat; no timing claims. Writes ``OUT/crnn.json``, ``crnn.md`` and
``crnn.summary.json`` (ratio = Tesseract's seconds per line / ours).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EVAL = ROOT / "datasets" / "crnn" / "eval"
_ASCII = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-", "\u2013": "-",
                        "\u00a0": " ", "\u2026": "..."})
_LIGATURES = {"\ufb01": "fi", "\ufb02": "fl", "\ufb00": "ff", "\ufb03": "ffi", "\ufb04": "ffl"}


def normalize_tesseract(text: str) -> str:
    text = text.translate(_ASCII)
    for lig, plain in _LIGATURES.items():
        text = text.replace(lig, plain)
    return " ".join(text.split())


def load_set(name: str, limit: int | None) -> list[tuple[Path, str]]:
    from workbench.crnn import load_line_folder

    pairs = load_line_folder(EVAL / name)
    return pairs[:limit] if limit else pairs


def run_ours(rec, paths, repeats: int, dictionary=None, views: bool = False) -> tuple[list[str], list[float]]:
    from PIL import Image

    images = []
    for p in paths:
        with Image.open(p) as im:
            images.append(im.convert("L"))
    rec.recognize(images[:4], dictionary=dictionary, views=views)  # warm-up (allocator, kernels)
    times, preds = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        preds = rec.recognize(images, dictionary=dictionary, views=views)
        times.append(time.perf_counter() - t0)
    return preds, times


def run_tesseract(paths, repeats: int, timing_subset: int, cache: Path | None = None) -> tuple[list[str], list[float]]:
    """Tesseract's reading of every path and its seconds per line (min over repeats on a subset).

    ``cache`` (a JSON file) keeps both, keyed by the images' SHA-1, so rerunning the benchmark for a new
    model does not rerun Tesseract on unchanged images; delete it to measure again.
    """
    import hashlib

    key = hashlib.sha1(b"".join(Path(p).read_bytes() for p in paths)).hexdigest()
    store = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    if key in store:
        return store[key]["preds"], store[key]["s_per_line"]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def read(p):
        out = subprocess.run(["tesseract", str(p), "-", "--psm", "7", "-l", "eng"], capture_output=True,
                             text=True, env=env, timeout=60)
        return normalize_tesseract(out.stdout)

    t0 = time.perf_counter()
    preds = [read(p) for p in paths]
    times = [(time.perf_counter() - t0) / len(paths)]
    subset = paths[:timing_subset]
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        for p in subset:
            read(p)
        times.append((time.perf_counter() - t0) / len(subset))
    if cache is not None:
        store[key] = {"preds": preds, "s_per_line": times, "tesseract": _tesseract_version()}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(store))
    return preds, times  # seconds per line


def _tesseract_version() -> str:
    out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "?"


def by_family(name, paths, labels, ours, theirs) -> dict:
    """Exact lines per font family (from the set's meta.tsv), for both readers."""
    meta_file = EVAL / name / "meta.tsv"
    if not meta_file.exists():
        return {}
    face = dict(line.split("\t", 1) for line in meta_file.read_text(encoding="utf-8").splitlines() if "\t" in line)
    from workbench.crnn._fonts import HELDOUT_FAMILIES

    out: dict[str, dict] = {}
    for p, lab, o, t in zip(paths, labels, ours, theirs):
        desc = face.get(Path(p).name, "?")
        fam = next((f for f in sorted(HELDOUT_FAMILIES, key=len, reverse=True) if desc.startswith(f)), "?")
        row = out.setdefault(fam, {"lines": 0, "ours": 0, "tesseract": 0})
        row["lines"] += 1
        row["ours"] += o == lab
        row["tesseract"] += t == lab
    return dict(sorted(out.items()))


def score(preds, labels) -> dict:
    from workbench.crnn import character_error_rate, sequence_accuracy

    return {"lines": len(labels), "seq_acc": sequence_accuracy(preds, labels),
            "cer": character_error_rate(preds, labels)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="8 lines per set, one repeat")
    p.add_argument("--limit", type=int, help="lines per set (default: all)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    p.add_argument("--out", default=str(ROOT / "reports" / "benchmarks"))
    p.add_argument("--tesseract-cache", default=None,
                   help="JSON file keeping Tesseract's readings and timings per image set (default OUT/crnn_tesseract_cache.json)")
    args = p.parse_args(argv)
    import torch

    from workbench import crnn

    torch.set_num_threads(1)  # like for like with Tesseract's OMP_THREAD_LIMIT=1
    limit = 8 if args.smoke else args.limit
    repeats = 1 if args.smoke else max(1, args.repeats)
    rec = crnn.Recognizer.load(args.model)
    from workbench.crnn._dictionary import SYSTEM_WORDS

    words = rec.system_dictionary() if SYSTEM_WORDS.exists() else None
    have_tesseract = shutil.which("tesseract") is not None
    result = {"python": platform.python_version(), "torch": torch.__version__, "threads": 1, "smoke": args.smoke,
              "tesseract": _tesseract_version() if have_tesseract else None,
              "model": {"path": str(args.model or crnn.SHIPPED_MODEL.relative_to(ROOT)),
                        "params": crnn.count_parameters(rec.model)["total"]},
              "dictionary": None if words is None else {"word_list": words.name, "words": len(words.vocab),
                                                        "margin": words.margin, "min_length": words.min_length},
              "sets": {}}
    if not have_tesseract:
        result["note"] = "tesseract not installed (apt-get install tesseract-ocr): its rows are skipped"
        print(result["note"])
    for name in ("heldout", "degraded"):
        pairs = load_set(name, limit)
        paths, labels = [p for p, _ in pairs], [lab for _, lab in pairs]
        ours, t_ours = run_ours(rec, paths, repeats)
        entry = {"ours": {**score(ours, labels), "s_per_line": [t / len(paths) for t in t_ours]}}
        if words is not None:
            fixed, t_fixed = run_ours(rec, paths, repeats, words)
            entry["ours_dictionary"] = {**score(fixed, labels), "s_per_line": [t / len(paths) for t in t_fixed]}
            voted, t_voted = run_ours(rec, paths, repeats, words, views=True)
            entry["ours_views"] = {**score(voted, labels), "s_per_line": [t / len(paths) for t in t_voted]}
            ours = voted  # the examples and the per-family table show the CLI's default reader
        if have_tesseract:
            cache = Path(args.tesseract_cache) if args.tesseract_cache else Path(args.out) / "crnn_tesseract_cache.json"
            theirs, t_theirs = run_tesseract(paths, repeats, min(len(paths), 40), None if args.smoke else cache)
            entry["tesseract"] = {**score(theirs, labels), "s_per_line": t_theirs}
            assert len(theirs) == len(ours) == len(labels)  # both read every image
            entry["examples"] = [{"label": lab, "ours": o, "tesseract": t}
                                 for lab, o, t in zip(labels, ours, theirs) if o != lab or t != lab][:12]
            entry["by_family"] = by_family(name, paths, labels, ours, theirs)
        result["sets"][name] = entry
        print(name, json.dumps({k: {m: v[m] for m in ("seq_acc", "cer")} for k, v in entry.items() if k in READERS}),
              flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "crnn.json").write_text(json.dumps(result, indent=1))
    (out / "crnn.md").write_text(to_markdown(result))
    (out / "crnn.summary.json").write_text(json.dumps(summary_rows(result), indent=1))
    print(to_markdown(result))
    return 0


READERS = {"ours": "CRNN (shipped)", "ours_dictionary": "CRNN + dictionary",
           "ours_views": "CRNN + dictionary, 5 views voted (CLI default)", "tesseract": "Tesseract 5 --psm 7"}
HOW = {"ours": "best path", "ours_dictionary": "best path + dictionary", "ours_views": "dictionary, 5 views voted"}


def summary_rows(r: dict) -> list[dict]:
    rows = []
    for name, e in r["sets"].items():
        if "tesseract" not in e:
            continue
        theirs = e["tesseract"]
        best = next(k for k in ("ours_views", "ours_dictionary", "ours") if k in e)
        for key in ("ours", "ours_dictionary", "ours_views"):
            if key not in e:
                continue
            ours = e[key]
            ratios = [t / o for t in theirs["s_per_line"] for o in ours["s_per_line"]]
            how = HOW[key]
            rows.append({"benchmark": "crnn", "work": f"read {ours['lines']} printed lines ({name} set, {how}), 1 thread",
                         "peer": "tesseract 5 --psm 7", "ratio_min": min(ratios), "ratio_max": max(ratios),
                         "headline": name == "heldout" and key == best,
                         "note": (f"seq acc {ours['seq_acc']:.3f} vs {theirs['seq_acc']:.3f}, CER {ours['cer']:.4f} vs "
                                  f"{theirs['cer']:.4f}" + (" (smoke)" if r["smoke"] else ""))})
    return rows


def to_markdown(r: dict) -> str:
    lines = ["# CRNN vs Tesseract on held-out printed lines", "",
             f"torch {r['torch']}, 1 CPU thread each; model {r['model']}" + (" (smoke run)" if r["smoke"] else ""), "",
             *([f"dictionary: {r['dictionary']}", ""] if r.get("dictionary") else []),
             "| set | reader | lines | sequence accuracy | CER | lines/s (min-max) |", "| --- | --- | --- | --- | --- | --- |"]
    for name, e in r["sets"].items():
        for who in READERS:
            if who in e:
                a = e[who]
                speeds = [1 / s for s in a["s_per_line"]]
                lines.append(f"| {name} | {READERS[who]} | {a['lines']} | "
                             f"{a['seq_acc']:.4f} | {a['cer']:.4f} | {min(speeds):.1f}-{max(speeds):.1f} |")
    for name, e in r["sets"].items():
        if e.get("examples"):
            lines += ["", f"## Disagreements on {name} (first 12)", "", "| label | CRNN" + (" (CLI default)" if "ours_views" in e else "") + " | Tesseract |", "| --- | --- | --- |"]
            for x in e["examples"]:
                lines.append("| " + " | ".join("`" + x[k].replace("|", "\\|") + "`" for k in ("label", "ours", "tesseract")) + " |")
    for name, e in r["sets"].items():
        if e.get("by_family"):
            lines += ["", f"## Exact lines per held-out family, {name} set", "", "| family | lines | CRNN" + (" (CLI default)" if "ours_views" in e else "") + " | Tesseract |",
                      "| --- | --- | --- | --- |"]
            for fam, row in e["by_family"].items():
                lines.append(f"| {fam} | {row['lines']} | {row['ours'] / row['lines']:.2f} | {row['tesseract'] / row['lines']:.2f} |")
    if "note" in r:
        lines += ["", r["note"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
