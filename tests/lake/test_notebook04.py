"""Notebook 04 finds its folders through the package (issue 20) and grades its exercise by the convention."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
NB = REPO / "notebooks" / "04_feature_lake.ipynb"


def test_the_root_comes_from_the_package_not_the_working_directory(tmp_path):
    nb = nbformat.read(NB, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "Path.cwd()" not in source
    line = next(ln for ln in source.splitlines() if ln.startswith("root = "))
    code = f"import workbench\nfrom pathlib import Path\n{line}\nprint(root)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert Path(out.stdout.strip()) == REPO and (REPO / "pyproject.toml").is_file()


def test_the_exercise_runs_from_its_tagged_cells_alone(capsys):
    nb = nbformat.read(NB, as_version=4)
    tags = [set(c.metadata.get("tags", [])) for c in nb.cells]
    assert any({"check", "exercise:as_of"} <= t for t in tags) and any("solution" in t for t in tags)
    keep = {"parameters", "exercise-setup", "solution", "check"}
    code = "\n".join(c.source for c, t in zip(nb.cells, tags) if keep & t)
    exec(compile(code, str(NB), "exec"), {})  # the check cell asserts the solution passes
    assert capsys.readouterr().out.startswith("OK: ")
