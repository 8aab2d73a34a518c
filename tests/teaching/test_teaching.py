"""assign -> grade -> reset on a small notebook that follows the exercise convention."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from workbench.errors import UserError
from workbench.teaching import assign, exercise_names, grade, reset, stub_source


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "workbench", "display_name": "Python (workbench)", "language": "python"}
    cell = nbformat.v4.new_code_cell
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A tiny lesson"),
        cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
        cell('import math\n\ndef double(x):\n    """Return twice x."""\n    return 2 * x\n\nHELPER = 3',
             metadata={"tags": ["solution"]}),
        cell("from workbench.exercises import attempt, report\n"
             "got, err = attempt(double, 3)\n"
             "report('double', err is None and got == 6, err or f'double(3) should be 6, got {got}')",
             metadata={"tags": ["check", "exercise:double"]}),
        cell("def hypot(a, b):\n    return math.hypot(a, b)", metadata={"tags": ["solution"]}),
        cell("from workbench.exercises import attempt, report\n"
             "got, err = attempt(hypot, 3, 4)\n"
             "report('hypot', err is None and abs(got - 5) < 1e-12, err or f'hypot(3, 4) should be 5, got {got}')",
             metadata={"tags": ["check", "exercise:hypot"]}),
        cell("raise RuntimeError('a crashing check')", metadata={"tags": ["check", "exercise:crash"]}),
        cell("print(double(21))"),
    ]
    return nb


@pytest.fixture
def lesson(tmp_path: Path) -> Path:
    path = tmp_path / "lesson.ipynb"
    nbformat.write(_notebook(), path)
    return path


def test_stub_keeps_signature_docstring_and_imports_and_drops_the_answer():
    stub = stub_source('import math\n\ndef double(x):\n    """Return twice x."""\n    return 2 * x\n\nHELPER = 3')
    assert "import math" in stub and "def double(x):" in stub and "Return twice x." in stub
    assert "raise NotImplementedError" in stub
    assert "2 * x" not in stub and "HELPER" not in stub
    compile(stub, "<stub>", "exec")


def test_a_solution_without_a_function_is_refused_with_one_line():
    with pytest.raises(UserError, match="defines no function"):
        stub_source("answer = 42")


def test_assign_stubs_solutions_clears_outputs_and_keeps_checks(lesson: Path, tmp_path: Path):
    nb = nbformat.read(lesson, as_version=4)
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", text="42\n")]
    nbformat.write(nb, lesson)
    [copy] = assign([lesson], tmp_path / "class")
    student = nbformat.read(copy, as_version=4)
    sources = [c.source for c in student.cells]
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert "return 2 * x" not in "\n".join(sources)
    assert sources[3] == nb.cells[3].source  # the check is kept verbatim
    assert exercise_names(student) == ["double", "hypot", "crash"]
    assert student.metadata["workbench"]["assignment"]["solution_cells"] == 2


def test_grade_student_copy_fails_everything_solution_passes(lesson: Path, tmp_path: Path):
    [copy] = assign([lesson], tmp_path / "class")
    student = {s.exercise: s for s in grade([copy], tmp_path / "g1", timeout=60)}
    assert [s.passed for s in student.values()] == [False, False, False]
    assert "not written yet" in student["double"].message
    assert "RuntimeError" in student["crash"].message
    solution = {s.exercise: s for s in grade([lesson], tmp_path / "g2", timeout=60)}
    assert solution["double"].passed and solution["hypot"].passed
    assert not solution["crash"].passed
    rows = json.loads((tmp_path / "g2" / "scores.json").read_text())
    assert {r["exercise"]: r["passed"] for r in rows} == {"double": True, "hypot": True, "crash": False}
    assert "hypot" in (tmp_path / "g2" / "scores.csv").read_text()
    assert "2 of 3 exercises passed" in (tmp_path / "g2" / "scores.html").read_text()


def test_a_cell_timeout_fails_the_rest_with_the_reason(lesson: Path, tmp_path: Path):
    nb = nbformat.read(lesson, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("import time\ntime.sleep(30)"))
    nbformat.write(nb, lesson)
    scores = grade([lesson], tmp_path / "g", timeout=3)
    assert not any(s.passed for s in scores)
    assert all("3 s limit" in s.message for s in scores)


def test_reset_restores_a_student_copy_and_backs_up_the_work(lesson: Path, tmp_path: Path, monkeypatch):
    from workbench import runner

    monkeypatch.setattr(runner, "NOTEBOOKS_DIR", lesson.parent)
    [copy] = assign([lesson], tmp_path / "class")
    fresh = copy.read_bytes()
    nb = nbformat.read(copy, as_version=4)
    nb.cells[2].source = "def double(x):\n    return x + x"
    nbformat.write(nb, copy)
    path, saved = reset(copy, backups=tmp_path / "backups")
    assert saved is not None and "x + x" in saved.read_text()
    assert nbformat.read(path, as_version=4).cells[2].source == nbformat.reads(fresh.decode(), as_version=4).cells[2].source


def test_reset_restores_the_committed_version_of_a_tracked_notebook(lesson: Path, tmp_path: Path):
    repo = lesson.parent
    for args in (["init", "-q"], ["add", lesson.name],
                 ["-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "lesson"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    committed = lesson.read_bytes()
    lesson.write_text(lesson.read_text().replace("return 2 * x", "return 3 * x"))
    _, saved = reset(lesson, backups=tmp_path / "bk")
    assert lesson.read_bytes() == committed
    assert "3 * x" in saved.read_text()
    assert reset(lesson, backups=tmp_path / "bk") == (lesson.resolve(), None)  # unchanged: nothing to save


def test_cli_errors_are_one_line(tmp_path: Path):
    from workbench.teaching.cli import register
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["grade", str(tmp_path / "missing.ipynb"), "--out", str(tmp_path)])
    with pytest.raises(UserError, match="not found") as info:
        args.func(args)
    assert "\n" not in str(info.value)
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    args = parser.parse_args(["assign", str(bad), "--out", str(tmp_path / "o")])
    with pytest.raises(UserError, match="not a readable notebook"):
        args.func(args)
