"""Sequence accuracy, character error rate and greedy decoding of a batch."""

from __future__ import annotations

import numpy as np
import torch
from rapidfuzz.distance import Levenshtein

from workbench.crnn._charset import CHARSET


def character_error_rate(predictions, labels) -> float:
    """Total edit distance over total reference length (Levenshtein, via rapidfuzz)."""
    predictions, labels = list(predictions), list(labels)
    if len(predictions) != len(labels):
        raise ValueError(f"predictions/labels: expected equal lengths, got {len(predictions)} and {len(labels)}")
    total = sum(len(lab) for lab in labels)
    edits = sum(Levenshtein.distance(p, lab) for p, lab in zip(predictions, labels))
    return edits / max(total, 1)


def sequence_accuracy(predictions, labels) -> float:
    """Fraction of lines transcribed exactly."""
    predictions, labels = list(predictions), list(labels)
    if len(predictions) != len(labels):
        raise ValueError(f"predictions/labels: expected equal lengths, got {len(predictions)} and {len(labels)}")
    return float(np.mean([p == lab for p, lab in zip(predictions, labels)])) if labels else 0.0


def greedy_decode_batch(log_probs: torch.Tensor, lengths=None, charset: str = CHARSET) -> list[str]:
    """Best-path decoding of a (T, N, C) batch: argmax per frame, merge repeats, drop blanks.

    The vectorized form used inside the training loop; ``workbench.ctc.best_path_decode`` is the
    per-sequence reference the Recognizer uses (the tests check they agree).
    """
    best = log_probs.argmax(-1).T.cpu().numpy()  # (N, T)
    out = []
    for n, path in enumerate(best):
        if lengths is not None:
            path = path[: int(lengths[n])]
        keep = np.ones(len(path), bool)
        keep[1:] = path[1:] != path[:-1]
        out.append("".join(charset[i - 1] for i in path[keep] if i != 0))
    return out
