"""The survey's comparison, generated from each model's own metadata so that it cannot drift from the code.

Angles and Gutierrez (ACM CSUR 40(1), 2008; "AG08" below) describe a database model by three components and
compare the graph models along them: the **data structures** (what a database is), the **query and
manipulation language** (how it is read and changed) and the **integrity constraints** (which databases are
legal). Every model module here carries a ``SURVEY`` record with those three entries in our own words, the
original paper, and the names of the operators this package implements for it. :func:`comparison_table`
collects the records of the twelve models; each cell cites the model's paper and the survey.
"""

from __future__ import annotations

import importlib
from typing import Any

from workbench.errors import UserError

SURVEY_REFERENCE = "R. Angles, C. Gutierrez, Survey of graph database models, ACM Computing Surveys 40(1), 2008"

#: The modules whose ``SURVEY`` records make the table, in the table's order (chronological, then by name).
MODEL_MODULES = ("labelled", "groovy", "good", "gmod", "simatic", "gram", "goal", "pamal", "ggl", "oem", "gdm",
                 "rdf")

AXES = ("data_structure", "query_language", "integrity")
_REQUIRED = ("model", "year", "cite", "reference", *AXES, "operators")


def records() -> list[dict[str, Any]]:
    """Every model's ``SURVEY`` record, checked for completeness."""
    out = []
    for name in MODEL_MODULES:
        module = importlib.import_module(f"workbench.graphs.{name}")
        record = getattr(module, "SURVEY", None)
        if not isinstance(record, dict):
            raise UserError(f"workbench.graphs.{name} has no SURVEY record; add one with {_REQUIRED}")
        missing = [k for k in _REQUIRED if k not in record]
        if missing:
            raise UserError(f"workbench.graphs.{name}.SURVEY lacks {missing}")
        out.append({**record, "module": name})
    return out


def resolve(module: str, dotted: str) -> Any:
    """The object an ``operators`` entry names: looked up in the model's module first, then from
    ``workbench.graphs`` (so ``gul.GdmInstance.add`` names a method of another module)."""
    for base, path in ((f"workbench.graphs.{module}", dotted), ("workbench.graphs", dotted)):
        parts = path.split(".")
        for k in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join([base] + parts[:k - 1]) if k > 1 else base)
            except ImportError:
                continue
            try:
                for attr in parts[k - 1:]:
                    obj = getattr(obj, attr)
                return obj
            except AttributeError:
                continue
    raise UserError(f"workbench.graphs.{module}.SURVEY names operator {dotted!r}, which does not exist")


def comparison_table(citations: bool = True):
    """A pandas DataFrame, one row per model: year, the three axes, and the operators implemented here.

    With ``citations=True`` each axis cell ends with ``[<model paper>; AG08]``."""
    import pandas as pd

    rows = []
    for r in records():
        cite = f" [{r['cite']}; AG08]" if citations else ""
        ops = ", ".join(r["operators"])
        for op in r["operators"]:
            resolve(r["module"], op)
        rows.append({"model": r["model"], "year": r["year"] or "",
                     "data structure": r["data_structure"] + cite,
                     "query / manipulation language": r["query_language"] + cite,
                     "integrity constraints": r["integrity"] + cite,
                     "implemented here": ops})
    return pd.DataFrame(rows).set_index("model")


def references() -> list[str]:
    """The bibliography of the table: the survey, then each model's paper."""
    return [f"AG08: {SURVEY_REFERENCE}"] + [f"{r['cite']}: {r['reference']}" for r in records()]


__all__ = ["AXES", "MODEL_MODULES", "SURVEY_REFERENCE", "comparison_table", "records", "references", "resolve"]
