"""The comparison table: twelve models, three axes, a citation per cell, generated from the modules."""

import importlib

import pytest

from workbench.errors import UserError
from workbench.graphs import survey


def test_twelve_models_on_the_three_axes_with_citations():
    table = survey.comparison_table()
    assert len(table) == 12 and table.index.is_unique
    assert {"GGL", "GMOD", "PaMaL", "GOAL", "Gram", "GROOVY", "Simatic-XT", "GOOD", "GDM", "OEM", "RDF"} < set(table.index)
    for column in ("data structure", "query / manipulation language", "integrity constraints"):
        assert table[column].str.contains(r"\[[^\]]+; AG08\]$").all(), column
    cites = {r["cite"] for r in survey.records()}
    assert all(any(c in ref for ref in survey.references()) for c in cites)


def test_every_listed_operator_exists_and_is_callable():
    for record in survey.records():
        for op in record["operators"]:
            assert callable(survey.resolve(record["module"], op)), (record["model"], op)


def test_the_table_follows_the_module_metadata(monkeypatch):
    gram = importlib.import_module("workbench.graphs.gram")
    monkeypatch.setitem(gram.SURVEY, "integrity", "none at all")
    assert survey.comparison_table().loc["Gram", "integrity constraints"].startswith("none at all [")
    monkeypatch.setitem(gram.SURVEY, "operators", ("no_such_operator",))
    with pytest.raises(UserError, match="names operator 'no_such_operator', which does not exist"):
        survey.comparison_table()
