"""ICD-10-CM code suggestions for clinical text: a BM25 retrieval ranker over the CMS code set.

The code set comes from ``simple-icd-10-cm`` (the CMS ICD-10-CM tables offline: about 98,500 codes with
descriptions, inclusion terms and the hierarchy). Public surface:

- :func:`suggest_codes` -> :class:`CodingResult` (main diagnosis, secondary diagnoses/CC, status codes,
  alternatives; each a :class:`Suggestion` with description, calibrated probability, evidence spans);
- :func:`load_index` / :func:`build_index` (optionally holding terms out), :func:`analyze` (the clinical
  tokenizer: abbreviations, negation, "status post", laterality);
- :mod:`.calibration` (reliability curve), :mod:`.evaluation` (held-out terms, perturbations, baseline).
"""

from workbench.clinical.coding._index import CodeIndex, build_index, load_index
from workbench.clinical.coding._text import ABBREVIATIONS, analyze, tokenize
from workbench.clinical.coding.calibration import Calibration, load_calibration, reliability_curve
from workbench.clinical.coding.suggest import MAX_TEXT_CHARS, CodingResult, Suggestion, suggest_codes

__all__ = [
    "ABBREVIATIONS",
    "MAX_TEXT_CHARS",
    "Calibration",
    "CodeIndex",
    "CodingResult",
    "Suggestion",
    "analyze",
    "build_index",
    "load_calibration",
    "load_index",
    "reliability_curve",
    "suggest_codes",
    "tokenize",
]
