"""Connectionist temporal classification (Graves et al. 2006) as used by CRNN (Shi, Bai, Yao 2015).

Single-sequence numpy functions follow the derivation (``collapse``, ``forward_backward``,
``brute_force_log_likelihood``, ``ctc_grad``); ``ctc_loss`` is the batched torch drop-in for
``torch.nn.functional.ctc_loss``; decoders turn a (T, C) array of log-probabilities into labellings
(``best_path_decode``, ``prefix_beam_search``; compiled and batched: ``prefix_beam_search_batch``) or
into lexicon words (``BKTree`` for the lesson, ``DeletionIndex`` for speed, ``lexicon_decode``).
"""

from workbench.ctc._alignment import (
    brute_force_log_likelihood,
    collapse,
    ctc_grad,
    extend_with_blanks,
    forward_backward,
    log_likelihood,
    minimal_input_length,
)
from workbench.ctc._deletion_index import DeletionIndex, deletion_variants
from workbench.ctc._decode import best_path_decode, prefix_beam_search, prefix_beam_search_batch
from workbench.ctc._lexicon import (
    BKTree,
    LexiconDecodeResult,
    LexiconFallbackWarning,
    batch_log_likelihood,
    levenshtein,
    lexicon_decode,
)


def __getattr__(name):
    # torch is heavy: import the loss only when it is asked for, so numpy-only users stay fast.
    if name == "ctc_loss":
        from workbench.ctc._loss import ctc_loss

        return ctc_loss
    raise AttributeError(f"module 'workbench.ctc' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"ctc_loss"})


__all__ = [
    "BKTree",
    "DeletionIndex",
    "LexiconDecodeResult",
    "LexiconFallbackWarning",
    "batch_log_likelihood",
    "best_path_decode",
    "brute_force_log_likelihood",
    "collapse",
    "ctc_grad",
    "ctc_loss",
    "deletion_variants",
    "extend_with_blanks",
    "forward_backward",
    "levenshtein",
    "lexicon_decode",
    "log_likelihood",
    "minimal_input_length",
    "prefix_beam_search",
    "prefix_beam_search_batch",
]
