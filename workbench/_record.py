"""Publishing results from a notebook so the runner can collect them.

A recorded value travels as a display output with its own MIME type. The executed notebook therefore
carries its results by itself: the runner, a sweep or any later reader finds them without a side
channel, and a person reading the notebook sees them printed where they were made.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

RECORD_MIME = "application/vnd.workbench.record+json"


def _jsonable(name: str, value: Any) -> Any:
    """Return ``value`` as plain JSON types, or raise naming what cannot be recorded."""
    # numpy / torch scalars and small arrays are common in notebooks: accept them by converting.
    if hasattr(value, "tolist") and callable(value.tolist):
        value = value.tolist()
    elif hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        # JSON has no NaN/inf; keep the information as a string rather than fail a long run at the end.
        value = str(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"record({name!r}, ...): the value of type {type(value).__name__} is not JSON-serializable "
            f"({exc}). Record numbers, strings, booleans, lists or dicts of them; convert arrays with "
            f".tolist() and frames with .to_dicts()."
        ) from None
    return value


def record(name: str, value: Any, *, display: bool = True) -> Any:
    """Publish ``value`` under ``name`` for the runner's ``summary.json`` and index page.

    Inside a notebook the value is shown as ``name = value`` and stored in the cell's output under
    :data:`RECORD_MIME`. Outside IPython (a plain script) nothing is displayed. Returns the
    JSON-ready value so the call can sit at the end of a cell.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"record(name, value): name must be a non-empty string, got {name!r}")
    value = _jsonable(name, value)
    if display:
        try:
            from IPython import get_ipython
            from IPython.display import display as ipy_display
        except ImportError:  # pragma: no cover - IPython ships with the package's dependencies
            return value
        if get_ipython() is not None:
            shown = json.dumps(value) if not isinstance(value, str) else value
            ipy_display({RECORD_MIME: {"name": name, "value": value}, "text/plain": f"{name} = {shown}"}, raw=True)
    return value


def set_seed(seed: int) -> None:
    """Seed Python's, numpy's and (when imported) torch's generators for a deterministic run."""
    import sys

    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
