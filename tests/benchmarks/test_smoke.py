"""Every benchmark still runs and still checks its results: ``benchmarks/<name>.py --smoke`` at toy sizes.

No timing is asserted (timing claims live in the benchmarks' reports). What is asserted: the script exits
0 (a mismatch with a peer exits non-zero), and it writes ``<name>.summary.json`` rows that the collector
(benchmarks/summary.py) accepts. A script whose owner has not added ``--smoke`` yet is skipped, by name.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
NOT_BENCHMARKS = {"_common.py", "summary.py"}  # shared helpers and the collector
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if p.name not in NOT_BENCHMARKS)
TIMEOUT_S = 300  # per script; a smoke run takes seconds on an idle machine

sys.path.insert(0, str(BENCHMARKS))
import summary  # noqa: E402


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_benchmark_smoke_run(script, tmp_path):
    if "--smoke" not in script.read_text(encoding="utf-8"):
        pytest.skip(f"benchmarks/{script.name} has no --smoke mode yet (its owner adds it)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    try:
        proc = subprocess.run([sys.executable, str(script), "--smoke", "--out", str(tmp_path)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"benchmarks/{script.name} --smoke ran over {TIMEOUT_S} s; smoke sizes must stay toy-sized")
    assert proc.returncode == 0, f"benchmarks/{script.name} --smoke exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    written = tmp_path / f"{script.stem}.summary.json"
    assert written.exists(), f"benchmarks/{script.name} --smoke wrote no {written.name} (see the brief's protocol)"
    rows, problems = summary.collect(tmp_path)
    assert not problems, problems
    assert rows and all(r["benchmark"] for r in rows)


def _write(folder, name, rows):
    (folder / f"{name}.summary.json").write_text(json.dumps(rows))


def test_summary_puts_headlines_first_and_writes_every_ratio_with_its_range(tmp_path):
    _write(tmp_path, "b", [{"benchmark": "b", "work": "w2", "peer": "p", "ratio_min": 0.5, "ratio_max": 0.75, "headline": False},
                           {"benchmark": "b", "work": "w1", "peer": "q", "ratio_min": 2, "ratio_max": 3.5, "headline": True, "note": "x|y"}])
    _write(tmp_path, "a", [{"benchmark": "a", "work": "w", "peer": "p", "ratio_min": None, "ratio_max": None, "headline": True}])
    assert summary.main(["--out", str(tmp_path)]) == 0
    md = (tmp_path / "summary.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| ")][2:]  # past the header and its rule
    assert [line.split(" | ")[1] for line in table] == ["w", "w1", "w2"]  # files by name, headlines first
    assert "**2.00-3.50**" in table[1] and "0.50-0.75" in table[2] and "not run" in table[0]
    assert "x\\|y" in table[1]  # a pipe in a note cannot break the table


@pytest.mark.parametrize("content, message", [
    ("not json", "c.summary.json"),
    ('{"rows": []}', "expected a list"),
    ('[{"benchmark": "c", "work": "w"}]', "lacks"),
    ('[{"benchmark": "c", "work": "w", "peer": "p", "ratio_min": 3, "ratio_max": 2}]', "ratio_min 3 > ratio_max 2"),
    ('[{"benchmark": "c", "work": "w", "peer": "p", "ratio_min": "fast", "ratio_max": 2}]', "expected a number"),
])
def test_a_broken_summary_file_is_named_and_left_out_not_fatal(tmp_path, content, message):
    (tmp_path / "c.summary.json").write_text(content)
    _write(tmp_path, "d", [{"benchmark": "d", "work": "w", "peer": "p", "ratio_min": 1, "ratio_max": 1}])
    rows, problems = summary.collect(tmp_path)
    assert [r["benchmark"] for r in rows] == ["d"]
    assert len(problems) == 1 and message in problems[0] and problems[0].startswith("c.summary.json")


def test_summary_refuses_a_missing_folder(tmp_path, capsys):
    assert summary.main(["--out", str(tmp_path / "nowhere")]) == 2
    assert "make bench" in capsys.readouterr().err
