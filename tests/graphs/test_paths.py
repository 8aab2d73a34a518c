"""Notebook 05 finds its folders from the package, wherever it is opened (issue 20: a bare StopIteration)."""

import os
from pathlib import Path

import nbformat
import pytest

import workbench
from workbench.errors import UserError
from workbench.graphs.paths import output_path, project_root

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "05_graph_models.ipynb"


def test_setup_cells_run_outside_the_repository(tmp_path, monkeypatch):
    # The old set-up walked up from the cwd looking for pyproject.toml and raised StopIteration outside a checkout.
    monkeypatch.chdir(tmp_path)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    setup = [c.source for c in nb.cells if c.cell_type == "code"][:2]  # parameters, then set-up
    namespace: dict = {}
    exec(setup[0] + f"\noutput_dir = {str(tmp_path / 'figures')!r}\n", namespace)
    exec(setup[1].replace("display(", "print("), namespace)
    assert namespace["out"] == tmp_path / "figures" and namespace["out"].is_dir()


def test_relative_paths_land_in_the_packages_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = project_root()
    assert root == Path(workbench.__file__).resolve().parents[1]
    target = output_path("reports/graphs")
    assert target == root / "reports" / "graphs" and not (tmp_path / "reports").exists()


def test_relative_paths_without_a_checkout_use_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("workbench.graphs.paths.project_root", lambda: None)
    assert output_path("figs") == tmp_path / "figs" and (tmp_path / "figs").is_dir()


def test_bad_output_dir_is_a_one_line_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot be created"):
        output_path(blocker / "sub")
    with pytest.raises(UserError, match="non-empty path"):
        output_path("  ")
    assert os.path.exists(blocker)


def test_public_surface_is_small_and_old_names_still_resolve():
    import workbench.graphs as wg
    assert "graph_database" not in wg.__all__ and "check_closure_answer" not in dir(wg)
    assert all(hasattr(wg, name) for name in wg.__all__)
    from workbench.graphs import generators
    assert wg.graph_database is generators.graph_database  # back-compat for importers outside the package
