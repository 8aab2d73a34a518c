"""Every notebook with graded exercises round-trips through ``assign`` and ``grade``.

For each notebook in ``notebooks/`` whose cells grade an exercise, the test keeps only the cells the exercises
need (:func:`workbench.teaching.exercise_subset`: ``parameters``, ``exercise-setup``, ``solution``, ``check``),
assigns it, grades the untouched student copy (every exercise fails with a verdict, nothing crashes the
grader) and grades the solution copy (every exercise passes). The subset keeps each round trip to seconds;
the full notebooks, solutions included, are executed by nbval (``pytest notebooks/``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from workbench.teaching import assign, exercise_names, exercise_subset, grade_notebook

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
GRADED = [p for p in sorted(NOTEBOOKS.glob("*.ipynb")) if exercise_names(nbformat.read(p, as_version=4))]


def test_some_notebooks_have_graded_exercises():
    names = {p.name[:2] for p in GRADED}
    assert {"00", "01", "02", "03", "05"} <= names, f"graded notebooks found: {sorted(names)}"


def test_the_subset_keeps_only_the_tagged_cells_in_order():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell
    nb.cells = [cell("a", metadata={"tags": ["parameters"]}), cell("b"), cell("c", metadata={"tags": ["exercise-setup"]}),
                nbformat.v4.new_markdown_cell("d"), cell("e", metadata={"tags": ["solution"]}),
                cell("f", metadata={"tags": ["check", "exercise:x"]}), cell("g", metadata={"tags": ["nbval-ignore-output"]})]
    assert [c.source for c in exercise_subset(nb).cells] == ["a", "c", "e", "f"]
    assert len(nb.cells) == 7  # the input is not modified


@pytest.mark.parametrize("notebook", GRADED, ids=lambda p: p.stem)
def test_assign_then_grade_round_trips(notebook: Path, tmp_path: Path):
    full = nbformat.read(notebook, as_version=4)
    subset = exercise_subset(full)
    expected = exercise_names(full)
    assert exercise_names(subset) == expected
    # Inside a notebooks/ folder, so that relative output dirs ("../reports/...") land inside tmp_path.
    solution = tmp_path / "notebooks" / notebook.name
    solution.parent.mkdir()
    nbformat.write(subset, solution)
    [student] = assign([solution], tmp_path / "class")

    untouched = grade_notebook(student, timeout=120)
    assert [s.exercise for s in untouched] == expected
    assert not any(s.passed for s in untouched), [(s.exercise, s.message) for s in untouched]
    assert all("not written yet" in s.message for s in untouched), [s.message for s in untouched]

    solved = grade_notebook(solution, timeout=120)
    assert [(s.exercise, s.passed) for s in solved] == [(name, True) for name in expected], \
        [(s.exercise, s.message) for s in solved if not s.passed]
