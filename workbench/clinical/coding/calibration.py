"""Scores to probabilities: Platt-style logistic calibration and the reliability curve.

A BM25 score is not a probability: its scale depends on the query's words. Two features that do not,
the score relative to the query's best possible score and the margin to the runner-up, go through a
logistic model fitted on held-out queries whose right code is known (Platt 1999; the reliability
diagram and expected calibration error as in Guo et al., "On calibration of modern neural networks",
ICML 2017). The fitted coefficients ship beside this module (``icd10cm_calibration.json``);
``benchmarks/coding.py --write-calibration`` refits them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["Calibration", "features", "fit_calibration", "load_calibration", "reliability_curve"]

CALIBRATION_FILE = Path(__file__).with_name("icd10cm_calibration.json")  # package data: ships with the wheel


@dataclass(frozen=True)
class Calibration:
    """``p = sigmoid(w_rel * relative_score + w_margin * margin + bias)``."""

    w_rel: float
    w_margin: float
    bias: float
    fitted_on: int = 0  # number of (query, candidate) pairs
    note: str = ""

    def probability(self, relative_score: float, margin: float) -> float:
        z = self.w_rel * relative_score + self.w_margin * margin + self.bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def save(self, path: Path | str = CALIBRATION_FILE) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")
        return path


def features(candidates) -> np.ndarray:
    """``[relative_score, margin]`` per candidate; margin is (score - best other score) / score."""
    scores = np.array([c.score for c in candidates], dtype=float)
    rel = np.array([c.relative_score for c in candidates], dtype=float)
    out = np.zeros((len(scores), 2))
    for i, s in enumerate(scores):
        others = np.delete(scores, i)
        best_other = others.max() if others.size else 0.0
        out[i] = rel[i], (s - best_other) / s if s > 0 else 0.0
    return out


def fit_calibration(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-3, note: str = "") -> Calibration:
    """Logistic regression of ``y`` (1 = the candidate is right) on the ``x`` features (Newton steps)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) != len(y):
        raise ValueError("fit_calibration(x, y): expected x of shape (n, 2) and y of length n")
    if len(np.unique(y)) < 2:
        raise ValueError("fit_calibration: y needs both right (1) and wrong (0) candidates to fit a curve")
    design = np.column_stack([x, np.ones(len(x))])
    w = np.zeros(3)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -50, 50)))
        grad = design.T @ (p - y) + l2 * np.r_[w[:2], 0.0]
        hess = design.T @ (design * (p * (1 - p))[:, None]) + l2 * np.diag([1.0, 1.0, 0.0]) + 1e-9 * np.eye(3)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Calibration(float(w[0]), float(w[1]), float(w[2]), fitted_on=len(y), note=note)


def reliability_curve(p: np.ndarray, y: np.ndarray, bins: int = 10) -> dict:
    """Per equal-width bin: mean predicted probability, observed frequency, count; and the ECE."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    mean_p, freq, count = [], [], []
    for b in range(bins):
        sel = which == b
        count.append(int(sel.sum()))
        mean_p.append(float(p[sel].mean()) if sel.any() else float("nan"))
        freq.append(float(y[sel].mean()) if sel.any() else float("nan"))
    counts = np.array(count)
    gaps = np.nan_to_num(np.abs(np.array(mean_p) - np.array(freq)))
    ece = float((counts * gaps).sum() / max(counts.sum(), 1))
    return {"mean_predicted": mean_p, "observed": freq, "count": count, "ece": ece}


def load_calibration(path: Path | str = CALIBRATION_FILE) -> Calibration:
    """The shipped calibration (a missing file is an error that says how to make it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: run `python benchmarks/coding.py --write-calibration` to fit it on held-out terms"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    return Calibration(**data)
