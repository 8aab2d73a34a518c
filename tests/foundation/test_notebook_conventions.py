"""Every notebook follows the house layout, so papermill, nbval and a reader can rely on it."""

from __future__ import annotations

import re

import nbformat
import pytest

from workbench import runner

NOTEBOOKS = runner.list_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_layout(path):
    nb = nbformat.read(path, as_version=4)
    assert re.fullmatch(r"\d\d[a-z]?_[a-z0-9_]+\.ipynb", path.name), f"{path.name}: name it NN_topic.ipynb"
    assert nb.metadata.get("kernelspec", {}).get("name") == "workbench", f"{path.name}: use the 'workbench' kernel"

    first, second = nb.cells[0], nb.cells[1]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), f"{path.name}: cell 1 is the title"
    assert re.search(r"quick", first.source, re.I), f"{path.name}: cell 1 must give the run time in quick mode"
    assert second.cell_type == "code" and "parameters" in second.metadata.get("tags", []), (
        f"{path.name}: cell 2 must be the code cell tagged 'parameters'")
    params = runner.notebook_parameters(path)
    assert params.get("profile") == "quick", f"{path.name}: profile must default to 'quick'"
    assert "seed" in params, f"{path.name}: declare a seed parameter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_outputs_are_committed_from_a_clean_run(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    counts = [c.execution_count for c in code]
    assert all(isinstance(n, int) for n in counts), f"{path.name}: execute it in place (workbench run {path.stem} --in-place)"
    assert counts == sorted(counts) and len(set(counts)) == len(counts), (
        f"{path.name}: cells were run out of order; re-execute top to bottom with --in-place")
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: committed outputs contain an error: {errors[0].get('ename')}"
    assert "papermill" not in nb.metadata, f"{path.name}: volatile papermill metadata committed; use --in-place"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_parameter_has_a_type(path):
    """A parameter defaulting to None says its type, so `-p NAME VALUE` is checked before a kernel starts."""
    untyped = [name for name, p in runner.declared_parameters(path).items() if p.type is None]
    assert not untyped, (f"{path.name}: give {', '.join(untyped)} a type in the parameters cell, e.g. "
                         f"`{untyped[0]} = None  # int; None: chosen by the profile`")
