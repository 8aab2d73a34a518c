"""The runner end to end: parameters, failures, the summary and index, the latest pointer, sweeps."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import polars as pl
import pytest

from workbench import runner


def test_notebook_parameters_reads_the_tagged_cell(passing_nb):
    assert runner.notebook_parameters(passing_nb) == {"profile": "quick", "x": 3, "scale": 1.5, "label": "a"}


def test_notebook_without_parameters_cell_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "bare.ipynb")
    with pytest.raises(runner.RunnerError, match="no cell tagged 'parameters'"):
        runner.notebook_parameters(tmp_path / "bare.ipynb")


def test_unknown_parameter_refused_before_any_kernel_starts(passing_nb, tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(runner, "execute_notebook", lambda *a, **k: started.append(a))
    with pytest.raises(runner.RunnerError) as err:
        runner.run_notebooks([passing_nb], {"y": 2}, out=tmp_path / "reports")
    assert "does not declare the parameter(s) y" in str(err.value)
    assert "Valid names: profile, x, scale, label" in str(err.value)
    assert started == [] and not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    "params, message",
    [({"x": "three"}, "expects an integer"), ({"x": 2.5}, "expects an integer"), ({"profile": "medium"}, "profile must be one of")],
)
def test_wrong_value_types_are_refused(passing_nb, params, message):
    with pytest.raises(runner.RunnerError, match=message):
        runner.check_parameters(passing_nb, params)


def test_cli_values_parse_as_yaml_and_files_come_first(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("x: 5\nlabel: from-file\nscale: 2\n")
    params = runner.merge_cli_parameters([("x", "7"), ("scale", "0.5"), ("flag", "true"), ("xs", "[1, 2]")], [f])
    assert params == {"x": 7, "label": "from-file", "scale": 0.5, "flag": True, "xs": [1, 2]}


def test_parameter_file_must_be_a_mapping(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(runner.RunnerError, match="mapping of name: value"):
        runner.load_parameter_file(f)


def test_resolve_notebook_by_number_and_stem():
    assert runner.resolve_notebook("00").name == "00_workbench_tour.ipynb"
    assert runner.resolve_notebook("00_workbench_tour").name == "00_workbench_tour.ipynb"
    with pytest.raises(runner.RunnerError, match="no notebook named 'nope'. Available: 00_workbench_tour"):
        runner.resolve_notebook("nope")


@pytest.mark.slow
def test_run_records_metrics_and_keeps_going_after_a_failure(passing_nb, failing_nb, tmp_path):
    out = tmp_path / "reports"
    summary = runner.run_notebooks([failing_nb, passing_nb], {"x": 4}, out=out, run_id="r1", progress=False)
    run_dir = out / "r1"
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["notebooks"] == summary["notebooks"]
    assert (summary["passed"], summary["failed"]) == (1, 1)

    failed, passed = summary["notebooks"]
    assert set(failed) >= {"name", "status", "duration_s", "parameters", "metrics", "error", "html", "ipynb"}
    assert failed["status"] == "failed" and failed["name"] == "20_fails"
    # The fourth cell of the source notebook (papermill's added cells are not counted); In [4] since the injected parameters cell ran too.
    assert failed["error"]["cell"] == 4 and failed["error"]["execution_count"] == 4 and failed["error"]["ename"] == "ValueError"
    assert "the input table has no rows" in failed["error"]["evalue"]
    # Recorded before the failing cell, nothing after it.
    assert failed["metrics"] == {"before_failure": 4}
    executed = nbformat.read(run_dir / failed["ipynb"], as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells if c.cell_type == "code" for o in c.outputs)

    assert passed["status"] == "passed" and passed["error"] is None
    assert passed["parameters"] == {"x": 4}
    assert passed["metrics"] == {"square": 24.0, "label": "a"}
    assert (run_dir / passed["html"]).read_text().lower().startswith("<!doctype html")

    index = (run_dir / "index.html").read_text()
    assert "1 passed, 1 failed" in index
    assert "cell 4 (In [4])" in index and "ValueError" in index and "the input table has no rows" in index
    assert 'href="10_square.html"' in index and "square = 24" in index
    assert (out / "latest").resolve() == run_dir.resolve()


@pytest.mark.slow
def test_cli_run_exits_nonzero_and_names_the_failing_cell(failing_nb, tmp_path, capsys):
    from workbench.cli import main

    code = main(["run", str(failing_nb), "--out", str(tmp_path), "--run-id", "cli", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "FAILED 20_fails: cell 4: ValueError: the input table has no rows" in err
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["failed"] == 1


@pytest.mark.slow
def test_latest_pointer_moves_to_the_newest_run(passing_nb, tmp_path):
    runner.run_notebooks([passing_nb], out=tmp_path, run_id="first", progress=False)
    runner.run_notebooks([passing_nb], {"x": 1}, out=tmp_path, run_id="second", progress=False)
    assert (tmp_path / "latest").resolve() == (tmp_path / "second").resolve()
    assert json.loads((tmp_path / "latest" / "summary.json").read_text())["notebooks"][0]["metrics"]["square"] == 1.5


@pytest.mark.slow
def test_in_place_execution_strips_volatile_metadata(passing_nb):
    result = runner.execute_in_place(passing_nb)
    nb = nbformat.read(passing_nb, as_version=4)
    assert result.status == "passed"
    assert "papermill" not in nb.metadata
    assert all("papermill" not in c.metadata and "execution" not in c.metadata for c in nb.cells)
    assert any("result 13.5" in o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.slow
def test_sweep_on_a_local_cluster_with_two_workers(passing_nb, tmp_path):
    summary = runner.sweep(passing_nb, {"x": [1, 2], "scale": [1.0, 10.0]}, fixed={"label": "s"},
                           workers=2, out=tmp_path, run_id="grid")
    assert summary["passed"] == 4 and summary["failed"] == 0
    table = pl.read_parquet(tmp_path / "grid" / "sweep.parquet").sort("point")
    assert table["x"].to_list() == [1, 1, 2, 2]
    assert table["scale"].to_list() == [1.0, 10.0, 1.0, 10.0]
    assert table["metric.square"].to_list() == [1.0, 10.0, 4.0, 40.0]
    assert table["metric.label"].to_list() == ["s"] * 4
    index = (tmp_path / "grid" / "index.html").read_text()
    assert "<h2>Grid</h2>" in index and "sweep.parquet" in index and "metric.square" in index


def test_grid_points_are_the_cartesian_product():
    assert runner.grid_points({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    with pytest.raises(runner.RunnerError, match="has no values"):
        runner.grid_points({"a": []})


def test_collect_records_last_value_wins():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={runner.RECORD_MIME: {"name": "m", "value": 1}, "text/plain": "m = 1"}),
        nbformat.v4.new_output("display_data", data={"text/plain": "noise"}),
        nbformat.v4.new_output("display_data", data={runner.RECORD_MIME: {"name": "m", "value": 2}, "text/plain": "m = 2"}),
    ]
    nb.cells = [cell]
    assert runner.collect_records(nb) == {"m": 2}


@pytest.mark.slow
def test_a_cell_past_the_timeout_fails_the_notebook_and_says_so(slow_nb, tmp_path):
    result = runner.execute_notebook(slow_nb, tmp_path / "out.ipynb", timeout=2, progress=False)
    assert result.status == "failed"
    assert result.duration_s < 25
    # The interrupted cell is located (the parameters cell is the second), and the cause is the timeout,
    # not the KeyboardInterrupt the kernel shows after being interrupted.
    assert result.error["cell"] == 3, result.error
    assert result.error["ename"] == "CellTimeoutError", result.error
    assert "timed out" in result.error["evalue"] and "after 2 seconds" in result.error["evalue"]


@pytest.mark.slow
def test_a_report_prints_one_quiet_line_per_notebook(passing_nb, failing_nb, tmp_path, capfd):
    """Kernels run over IPC, so ipykernel's TCP warning never appears; each notebook gets exactly one line."""
    runner.run_notebooks([passing_nb, failing_nb], out=tmp_path / "reports", run_id="quiet")
    err = capfd.readouterr().err
    assert "without encryption" not in err and "WARNING" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2, err
    assert re.fullmatch(r"\[1/2\] 10_square \.\.\. passed \(\d+\.\d s\)", lines[0]), lines[0]
    assert re.fullmatch(r"\[2/2\] 20_fails \.\.\. failed in cell 4: ValueError \(\d+\.\d s\)", lines[1]), lines[1]
    # The kernel's own log goes beside the notebook (kept only when not empty); over IPC it has no TCP warning,
    # so a kernel that ran cleanly leaves none, or on a loaded machine at most a note of its own (ipykernel
    # logs "IOStream.flush timed out" when output takes long to drain). (A stopped one may log
    # "KeyboardInterrupt caught", or not.)
    run_dir = tmp_path / "reports" / "quiet"
    clean_log = run_dir / "10_square.kernel.log"
    if clean_log.exists():
        text = clean_log.read_text()
        assert "without encryption" not in text and "Traceback" not in text and "Error" not in text, text
    failed_log = run_dir / "20_fails.kernel.log"
    assert not failed_log.exists() or "without encryption" not in failed_log.read_text()


@pytest.mark.slow
def test_on_a_terminal_the_cell_bar_gives_way_to_the_notebooks_line(passing_nb, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    runner.run_notebooks([passing_nb], out=tmp_path / "reports", run_id="tty")
    err = capsys.readouterr().err
    assert "[1/1] 10_square" in err.split("\n")[0]  # the bar carries the notebook's label while it runs
    shown = [segment.strip() for segment in err.replace("\r", "\n").splitlines() if segment.strip()]
    assert re.fullmatch(r"\[1/1\] 10_square: passed \(\d+\.\d s\)", shown[-1]), shown[-1]
    assert err.count("\n") == 1  # one line survives: the bar is cleared, not left behind
