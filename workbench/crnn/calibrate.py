"""Calibrate the Recognizer's per-line confidence on held-out fonts, and draw its reliability curve.

The raw score is ``Recognizer.raw_confidence`` (the least certain frame's top probability). Isotonic
regression (pool-adjacent-violators; Zadrozny and Elkan 2002) maps it to the observed frequency of an
exactly right line on lines in the held-out font families, which training never saw. The map is stored in
the checkpoint (``state["calibration"]``) and applied by ``Recognizer.confidence``.

``python -m workbench.crnn.calibrate MODEL.pt --out DIR [--n 1500]`` fits on one seeded half of the lines,
reports the reliability curve (confidence bins vs accuracy, and the expected calibration error) on the other
half, and writes the map into MODEL.pt. It also tunes dictionary correction (``workbench.crnn._dictionary``) on the
same fitting half when the system word list is installed, and stores its margin beside the map.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def isotonic_fit(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing least-squares fit of ``y`` on ``x`` (pool adjacent violators).

    Returns knots ``(xs, ys)`` for ``np.interp``: each pooled block contributes its mean x and mean y.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"x, y: expected two equal-length non-empty 1-D arrays, got {x.shape} and {y.shape}")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    blocks: list[list[float]] = []  # [sum_y, count, sum_x]
    for xi, yi in zip(x, y):
        blocks.append([yi, 1.0, xi])
        # Merge while the last block's mean is below the previous one's (a violation of monotonicity).
        while len(blocks) > 1 and blocks[-1][0] / blocks[-1][1] < blocks[-2][0] / blocks[-2][1]:
            s, n, sx = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
            blocks[-1][2] += sx
    xs = np.array([b[2] / b[1] for b in blocks])
    ys = np.array([b[0] / b[1] for b in blocks])
    return xs, ys


def reliability(confidence, correct, bins: int = 10) -> dict:
    """Per equal-width bin: mean confidence, accuracy, count; and the expected calibration error."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows = []
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            conf, acc, n = float(confidence[sel].mean()), float(correct[sel].mean()), int(sel.sum())
            rows.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "confidence": conf, "accuracy": acc, "n": n})
            ece += n / len(confidence) * abs(conf - acc)
    return {"bins": rows, "ece": ece, "n": int(len(confidence)), "accuracy": float(correct.mean())}


def held_out_readings(rec, n: int, seed: int, fonts) -> tuple[list[np.ndarray], list[str], list]:
    """Log-probabilities, true texts and images of ``n`` rendered held-out-font lines (training's
    augmentation, half strength: the same mixture as the training run's validation)."""
    from workbench.crnn._render import RenderConfig, render_samples

    samples = render_samples(n, seed, fonts, max_len=48, config=RenderConfig(strength=0.5))
    images = [img for img, _, _ in samples]
    return rec.log_probs(images), [text for _, text, _ in samples], images


def voted_readings(rec, images, dictionary) -> tuple[np.ndarray, list[str]]:
    """Raw confidence and text of the five-view vote with ``dictionary`` (``Recognizer.read_lines(views=True)``)."""
    maps = rec.calibration, rec.dictionary_settings
    rec.calibration, rec.dictionary_settings = None, None  # read raw scores
    try:
        lines = rec.read_lines(images, dictionary=dictionary, views=True)
    finally:
        rec.calibration, rec.dictionary_settings = maps
    return np.array([line.confidence for line in lines]), [line.text for line in lines]


def scored_lines(rec, lps, texts) -> tuple[np.ndarray, np.ndarray]:
    """Raw confidence and exactness (best path) of each line."""
    from workbench.ctc import best_path_decode

    raw = np.array([rec.raw_confidence(lp) for lp in lps])
    correct = np.array([rec._text(best_path_decode(lp)) == text for lp, text in zip(lps, texts)])
    return raw, correct


#: Settings tried for dictionary correction: words shorter than min_length are left alone; margin in nats.
DICTIONARY_GRID = {"min_length": (3, 4), "margin": (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0)}


def tune_dictionary(dictionary, charset, lps, texts, grid=DICTIONARY_GRID) -> dict:
    """The (min_length, margin) of ``dictionary`` that reads the most lines exactly; ties go to the smaller
    margin (fewer corrections). Returns the choice and every grid point's accuracy; ``dictionary`` keeps its
    own settings."""
    points, before = [], (dictionary.min_length, dictionary.margin)
    for min_length in grid["min_length"]:
        for margin in grid["margin"]:
            dictionary.min_length, dictionary.margin = min_length, margin
            hits = sum(dictionary.correct(lp, charset) == text for lp, text in zip(lps, texts))
            points.append({"min_length": min_length, "margin": margin, "accuracy": hits / len(texts)})
    dictionary.min_length, dictionary.margin = before
    best = max(points, key=lambda p: (p["accuracy"], -p["margin"], -p["min_length"]))
    return {"margin": best["margin"], "min_length": best["min_length"], "grid": points}


def calibrate(model_path, out_dir, n: int = 1500, seed: int = 5_000_011, dictionary: bool = True) -> dict:
    """Fit the isotonic map on half of ``n`` held-out-font lines, report on the other half, store the map.

    With ``dictionary`` (and the system word list installed), also tune dictionary correction's margin on the
    same fitting half, report its exact-line accuracy on the other half, and store the setting.
    """
    import torch

    from workbench.crnn._fonts import heldout_fonts
    from workbench.crnn.recognizer import Recognizer

    rec = Recognizer.load(model_path)
    lps, texts, images = held_out_readings(rec, n, seed, heldout_fonts())
    raw, correct = scored_lines(rec, lps, texts)
    half = len(raw) // 2
    xs, ys = isotonic_fit(raw[:half], correct[:half])
    before = reliability(raw[half:], correct[half:])
    after = reliability(np.interp(raw[half:], xs, ys), correct[half:])
    state = torch.load(model_path, map_location="cpu", weights_only=True)
    fitted_on = f"{half} held-out-font lines, seed {seed}"
    state["calibration"] = {"x": xs.tolist(), "y": ys.tolist(), "fitted_on": fitted_on}
    report = {"raw": before, "calibrated": after, "knots": len(xs), "n_fit": half, "n_test": len(raw) - half}
    if dictionary:
        from workbench.crnn._dictionary import SYSTEM_WORDS, Dictionary

        if SYSTEM_WORDS.exists():
            words = Dictionary.system()
            tuned = tune_dictionary(words, rec.charset, lps[:half], texts[:half])
            words.margin, words.min_length = tuned["margin"], tuned["min_length"]
            fixed = np.array([words.correct(lp, rec.charset) == t for lp, t in zip(lps, texts)])
            tuned["test_accuracy"] = {"best_path": float(correct[half:].mean()), "dictionary": float(fixed[half:].mean())}
            # The corrected reading is right more often than the best path at the same raw score: its own map.
            dxs, dys = isotonic_fit(raw[:half], fixed[:half])
            tuned["reliability"] = {"raw": reliability(raw[half:], fixed[half:]),
                                    "calibrated": reliability(np.interp(raw[half:], dxs, dys), fixed[half:])}
            # The five-view vote (the CLI's default reading): its own map on the vote's raw score.
            vraw, vtexts = voted_readings(rec, images, words)
            voted = np.array([v == t for v, t in zip(vtexts, texts)])
            tuned["test_accuracy"]["views"] = float(voted[half:].mean())
            vxs, vys = isotonic_fit(vraw[:half], voted[:half])
            tuned["views_reliability"] = {"raw": reliability(vraw[half:], voted[half:]),
                                          "calibrated": reliability(np.interp(vraw[half:], vxs, vys), voted[half:])}
            state["dictionary"] = {"margin": tuned["margin"], "min_length": tuned["min_length"],
                                   "word_list": str(SYSTEM_WORDS), "fitted_on": fitted_on,
                                   "calibration": {"x": dxs.tolist(), "y": dys.tolist()},
                                   "views_calibration": {"x": vxs.tolist(), "y": vys.tolist()}}
            report["dictionary"] = tuned
    torch.save(state, model_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.json").write_text(json.dumps(report, indent=1))
    plot_reliability(report, out / "reliability.png")
    return report


def plot_reliability(report: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], ":", color="gray", label="perfect calibration")
    curves = [("raw", "s--", report["raw"]), ("calibrated", "o-", report["calibrated"])]
    if "dictionary" in report:
        curves.append(("with dictionary, its own map", "^-", report["dictionary"]["reliability"]["calibrated"]))
        if "views_reliability" in report["dictionary"]:
            curves.append(("dictionary + 5 views, its own map", "v-", report["dictionary"]["views_reliability"]["calibrated"]))
    for label, style, rel in curves:
        bins = rel["bins"]
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], style,
                label=f"{label} (ECE {rel['ece']:.3f})")
    ax.set(xlabel="confidence", ylabel="fraction of lines exactly right", xlim=(0, 1), ylim=(0, 1),
           title="reliability on held-out fonts")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m workbench.crnn.calibrate", description=__doc__.splitlines()[0])
    p.add_argument("model", help="checkpoint to calibrate (the map is written into it)")
    p.add_argument("--out", required=True, help="folder for calibration.json and reliability.png")
    p.add_argument("--n", type=int, default=1500, help="held-out-font lines (half fit, half test)")
    args = p.parse_args(argv)
    report = calibrate(args.model, args.out, args.n)
    print(json.dumps({k: report[k]["ece"] for k in ("raw", "calibrated")}))
    if "dictionary" in report:
        d = report["dictionary"]
        print(json.dumps({"dictionary": {"margin": d["margin"], "min_length": d["min_length"], **d["test_accuracy"],
                                         "ece": {k: d["reliability"][k]["ece"] for k in ("raw", "calibrated")},
                                         **({"views_ece": d["views_reliability"]["calibrated"]["ece"]}
                                            if "views_reliability" in d else {})}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
