"""Grade submissions: execute each headless, collect every check's verdict, write a score table.

Each submission runs in a fresh kernel with a per-cell timeout. Errors in cells do not stop the run (a broken
exercise must not cost the others their grade); a timeout or a dead kernel does, and every exercise not yet
checked then fails with that reason. Verdicts come from :func:`workbench.exercises.report` through the file
named by ``WORKBENCH_GRADE_LOG``; the last verdict of an exercise counts.
"""

from __future__ import annotations

import csv
import html
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.errors import UserError
from workbench.exercises import GRADE_LOG_ENV
from workbench.teaching._assign import CHECK_TAG, EXERCISE_PREFIX, _tags, exercise_names

DEFAULT_CELL_TIMEOUT = 300.0


@dataclass
class Score:
    submission: str
    exercise: str
    passed: bool
    message: str


def _read_verdicts(log: Path) -> dict[str, dict]:
    verdicts: dict[str, dict] = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a killed kernel carries no verdict
            verdicts[str(row.get("exercise"))] = row
    return verdicts


def _cell_error(nb, exercise: str) -> str | None:
    for cell in nb.cells:
        tags = _tags(cell)
        if CHECK_TAG in tags and f"{EXERCISE_PREFIX}{exercise}" in tags:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    return f"the check cell raised {output.get('ename')}: {output.get('evalue')}"
            if cell.get("execution_count") is None:
                return "the check cell did not run"
    return None


def _execute(nb, path: Path, timeout: float, kernel_name: str, log: Path) -> str | None:
    """Run ``nb`` in place; return why execution stopped early, or None when every cell ran."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    previous = os.environ.get(GRADE_LOG_ENV)
    os.environ[GRADE_LOG_ENV] = str(log)  # the kernel inherits the grader's environment
    try:
        client.execute()
    except CellTimeoutError:
        return f"a cell ran longer than the {timeout:g} s limit"
    except DeadKernelError:
        return "the kernel died (out of memory, or the code exited the interpreter)"
    finally:
        if previous is None:
            os.environ.pop(GRADE_LOG_ENV, None)
        else:
            os.environ[GRADE_LOG_ENV] = previous
    return None


def grade_notebook(path: str | Path, *, timeout: float = DEFAULT_CELL_TIMEOUT, kernel_name: str = "workbench",
                   executed_dir: Path | None = None) -> list[Score]:
    """Execute one submission and return one :class:`Score` per exercise (expected ones first)."""
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise UserError(f"grade: {path} does not exist; give the path of a submitted notebook (.ipynb)")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise UserError(f"grade: {path} is not a readable notebook ({type(exc).__name__}); ask for the file again") from None
    expected = exercise_names(nb)
    with tempfile.TemporaryDirectory(prefix="workbench-grade-") as tmp:
        log = Path(tmp) / "verdicts.jsonl"
        stopped = _execute(nb, path, timeout, kernel_name, log)
        verdicts = _read_verdicts(log)
    if executed_dir is not None:
        executed_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, executed_dir / path.name)
    scores = []
    for name in expected + [n for n in verdicts if n not in expected]:
        if name in verdicts:
            row = verdicts[name]
            scores.append(Score(path.name, name, bool(row.get("passed")), str(row.get("message", ""))))
        else:
            why = stopped or _cell_error(nb, name) or "the check never reported a verdict"
            scores.append(Score(path.name, name, False, why))
    return scores


def _table(scores: list[Score]) -> str:
    width = max([len("exercise")] + [len(s.exercise) for s in scores])
    lines = []
    for submission in dict.fromkeys(s.submission for s in scores):
        mine = [s for s in scores if s.submission == submission]
        lines.append(f"{submission}: {sum(s.passed for s in mine)}/{len(mine)} passed")
        for s in mine:
            lines.append(f"  {s.exercise:<{width}}  {'pass' if s.passed else 'FAIL'}  {s.message}")
    return "\n".join(lines)


def _html(scores: list[Score]) -> str:
    rows = "\n".join(
        f"<tr class='{'pass' if s.passed else 'fail'}'><td>{html.escape(s.submission)}</td>"
        f"<td>{html.escape(s.exercise)}</td><td>{'pass' if s.passed else 'fail'}</td>"
        f"<td>{html.escape(s.message)}</td></tr>" for s in scores)
    total = sum(s.passed for s in scores)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Grades</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
            ".pass td:nth-child(3){color:#080}.fail td:nth-child(3){color:#b00;font-weight:bold}</style></head>"
            f"<body><h1>Grades</h1><p>{total} of {len(scores)} exercises passed.</p>"
            "<table><tr><th>submission</th><th>exercise</th><th>result</th><th>what is wrong</th></tr>"
            f"{rows}</table></body></html>")


def grade(submissions: list[str | Path], out: str | Path, *, timeout: float = DEFAULT_CELL_TIMEOUT,
          kernel_name: str = "workbench") -> list[Score]:
    """Grade every submission; write ``scores.csv``, ``scores.json``, ``scores.html`` and the executed copies."""
    if not submissions:
        raise UserError("grade: no submission given; name one or more .ipynb files")
    if timeout <= 0:
        raise UserError(f"grade: --timeout must be a positive number of seconds, got {timeout:g}")
    out = Path(out)
    missing = [str(p) for p in submissions if not Path(p).is_file()]
    if missing:
        raise UserError(f"grade: {', '.join(missing)} not found; give paths of submitted notebooks (.ipynb)")
    scores: list[Score] = []
    for path in submissions:
        scores += grade_notebook(path, timeout=timeout, kernel_name=kernel_name, executed_dir=out / "executed")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "scores.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(Score.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(s) for s in scores)
    (out / "scores.json").write_text(json.dumps([asdict(s) for s in scores], indent=2), encoding="utf-8")
    (out / "scores.html").write_text(_html(scores), encoding="utf-8")
    return scores


def format_scores(scores: list[Score]) -> str:
    return _table(scores)
