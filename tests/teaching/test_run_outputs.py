"""Every file a run writes lands under that run's --out; the report's math does not need a network."""

from __future__ import annotations

from pathlib import Path

import nbformat

from workbench import runner


def _figure_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "workbench", "display_name": "Python (workbench)", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Figures\n\n$$\\alpha_t(s)$$"),
        nbformat.v4.new_code_cell('profile = "quick"\noutput_dir = "../reports/figures"  # str', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from pathlib import Path\nout = Path(output_dir); out.mkdir(parents=True, exist_ok=True)\n"
                                  "(out / 'figure.txt').write_text(profile)"),
    ]
    nbformat.write(nb, path)
    return path


def test_two_runs_write_their_files_into_their_own_folders(tmp_path: Path):
    (tmp_path / "nb").mkdir()
    nb = _figure_notebook(tmp_path / "nb" / "10_figures.ipynb")
    first = runner.run_notebooks([nb], out=tmp_path / "a", run_id="one", progress=False)
    second = runner.run_notebooks([nb], profile="full", out=tmp_path / "b", run_id="two", progress=False)
    assert first["notebooks"][0]["status"] == "passed" and second["notebooks"][0]["status"] == "passed"
    assert (tmp_path / "a" / "one" / "files" / "10_figures" / "figure.txt").read_text() == "quick"
    assert (tmp_path / "b" / "two" / "files" / "10_figures" / "figure.txt").read_text() == "full"
    assert not (tmp_path / "reports").exists()  # the notebook's own default was not used
    html = (tmp_path / "a" / "one" / "10_figures.html").read_text()
    assert "ajax/libs/mathjax" not in html and "_static/mathjax/MathJax.js" in html


def test_an_explicit_output_dir_wins(tmp_path: Path):
    (tmp_path / "nb").mkdir()
    nb = _figure_notebook(tmp_path / "nb" / "10_figures.ipynb")
    mine = tmp_path / "mine"
    runner.run_notebooks([nb], {"output_dir": str(mine)}, out=tmp_path / "a", run_id="one", progress=False)
    assert (mine / "figure.txt").read_text() == "quick"
