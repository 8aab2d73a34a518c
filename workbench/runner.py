"""Executing notebooks with papermill into ``reports/``: runs, sweeps and the HTML index.

A run writes ``reports/<run-id>/`` with each executed notebook, its HTML, ``summary.json`` and
``index.html``, then points ``reports/latest`` at it. A failing notebook keeps its executed copy with the
error cell, is marked failed, and the other notebooks still run.
"""

from __future__ import annotations

import datetime as _dt
import html
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from workbench._parameters import (PROFILES, Parameter, check_parameters, declared_parameters, load_parameter_file,
                                   merge_cli_parameters, notebook_parameters, parse_value)
from workbench._record import RECORD_MIME
from workbench.errors import RunnerError

__all__ = [
    "KERNEL_NAME", "NOTEBOOKS_DIR", "PROFILES", "REPORTS_DIR", "NotebookResult", "Parameter", "RunnerError",
    "check_kernel", "check_parameters", "collect_records", "declared_parameters", "execute_in_place",
    "execute_notebook", "grid_points", "list_notebooks", "load_parameter_file", "merge_cli_parameters",
    "notebook_parameters", "parse_value", "render_index", "resolve_notebook", "run_notebooks", "sweep",
]

if TYPE_CHECKING:  # nbformat pulls in jsonschema (most of `workbench --help`'s start-up): import it where used
    import nbformat

KERNEL_NAME = "workbench"
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
REPORTS_DIR = ROOT / "reports"


@dataclass
class NotebookResult:
    """What one execution produced; the rows of ``summary.json``."""

    name: str
    status: str  # "passed" | "failed"
    duration_s: float
    parameters: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    html: str | None = None
    ipynb: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------- discovery
def list_notebooks(directory: str | os.PathLike = NOTEBOOKS_DIR) -> list[Path]:
    """The notebooks of ``directory`` in teaching order (their ``NN_`` prefix)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RunnerError(f"notebook directory {directory} does not exist; give an existing folder of .ipynb files")
    return sorted(p for p in directory.glob("*.ipynb") if not p.name.startswith("."))


def resolve_notebook(name: str | os.PathLike, directory: str | os.PathLike = NOTEBOOKS_DIR) -> Path:
    """Find a notebook by path, file name, stem or number prefix (``01`` or ``01_ctc_derivation``)."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    candidates = list_notebooks(directory)
    stem = path.stem if path.suffix == ".ipynb" else str(name)
    matches = [p for p in candidates if p.stem == stem or p.stem.split("_", 1)[0] == stem]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(p.stem for p in candidates) or "(none)"
    if not matches:
        raise RunnerError(f"no notebook named {name!r}. Available: {listing}")
    raise RunnerError(f"{name!r} matches several notebooks ({', '.join(p.stem for p in matches)}); give the full name")


def check_kernel(kernel_name: str = KERNEL_NAME) -> None:
    """Fail early, with the fix, when the Jupyter kernel the notebooks run on is not registered."""
    from jupyter_client.kernelspec import KernelSpecManager

    if kernel_name not in KernelSpecManager().find_kernel_specs():
        raise RunnerError(
            f"Jupyter kernel {kernel_name!r} is not registered. Run `make setup` (it installs the kernel into "
            f".venv), or `python -m ipykernel install --sys-prefix --name {kernel_name}`."
        )


# ------------------------------------------------------------------------------------------------ records
def collect_records(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The values a notebook published with :func:`workbench.record`, in execution order (last wins)."""
    metrics: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            payload = output.get("data", {}).get(RECORD_MIME)
            if isinstance(payload, Mapping) and "name" in payload:
                metrics[payload["name"]] = payload.get("value")
    return metrics


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


_PAPERMILL_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


def _failure(nb: nbformat.NotebookNode, exc: BaseException) -> dict[str, Any]:
    """Locate the failing cell and say which one and why.

    ``cell`` counts the cells of the source notebook from 1, as a reader would, skipping the cells
    papermill adds (injected parameters, error banners), so it points at the same cell in Jupyter.
    The cell's error output names the cause only when the notebook itself raised; when execution was
    stopped from outside (a cell timeout interrupts the kernel, which leaves a bare KeyboardInterrupt; a
    dead kernel leaves nothing), the exception that stopped it is the cause.
    """
    from papermill.exceptions import PapermillExecutionError

    found: dict[str, Any] = {"cell": None, "execution_count": getattr(exc, "exec_count", None), "source": ""}
    position = 0
    for cell in nb.cells:
        if _PAPERMILL_TAGS & set(cell.metadata.get("tags", [])):
            continue
        position += 1
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"] if cell.cell_type == "code" else []
        if errors:
            found = {"cell": position, "execution_count": cell.get("execution_count"),
                     "source": cell.source.strip().splitlines()[0][:200] if cell.source.strip() else "",
                     "ename": errors[0].get("ename"), "evalue": str(errors[0].get("evalue", ""))}
            break
    if not isinstance(exc, PapermillExecutionError) or "ename" not in found:
        found["ename"], found["evalue"] = type(exc).__name__, str(exc)[:2000]
    found["evalue"] = _ANSI.sub("", found["evalue"])
    return {key: found[key] for key in ("cell", "execution_count", "ename", "evalue", "source")}


# ---------------------------------------------------------------------------------------------- execution
_VOLATILE_METADATA = ("papermill", "execution")


def strip_volatile_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop papermill's per-run timestamps and durations so a committed notebook diffs cleanly."""
    for key in _VOLATILE_METADATA:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in _VOLATILE_METADATA:
            cell.metadata.pop(key, None)
    return nb


def export_html(ipynb: Path, html_path: Path) -> None:
    """The executed notebook as HTML whose math renders offline (MathJax bundled beside it)."""
    from workbench._offline_html import export_html as _export

    _export(Path(ipynb), Path(html_path))


# A notebook that declares this parameter writes its figures and files there; a run points it into the run's
# own folder so that two runs never overwrite each other's figures.
OUTPUT_DIR_PARAMETER = "output_dir"


def with_run_output_dir(path: Path, parameters: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``parameters`` plus ``output_dir=folder`` when the notebook declares it and the caller did not set it."""
    if OUTPUT_DIR_PARAMETER in parameters or OUTPUT_DIR_PARAMETER not in notebook_parameters(path):
        return parameters
    return {**parameters, OUTPUT_DIR_PARAMETER: str(folder)}


def execute_notebook(
    path: str | os.PathLike,
    output: str | os.PathLike,
    parameters: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
    kernel_name: str = KERNEL_NAME,
    progress: bool | Mapping[str, Any] = True,
    html_output: str | os.PathLike | None = None,
    kernel_log: str | os.PathLike | None = None,
) -> NotebookResult:
    """Execute one notebook with papermill into ``output``; never raises for an error inside the notebook.

    The kernel's working directory is the notebook's own folder, as in JupyterLab and nbval, so relative
    paths inside notebooks mean the same everywhere. ``progress`` is papermill's per-cell bar: a bool, or
    tqdm arguments (``{"desc": ..., "leave": False}``). The kernel process's own log goes to ``kernel_log``
    (removed when empty); without one it is shown on stderr only if the notebook failed.
    """
    import tempfile

    import nbformat
    import papermill

    from workbench._kernel import QuietKernelManager, kernel_config

    path, output = Path(path).resolve(), Path(output).resolve()
    parameters = dict(parameters or {})
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    failure: BaseException | None = None
    # Unix socket paths are limited to about 100 bytes: keep the sockets' folder short even if TMPDIR is long.
    short_tmp = "/tmp" if len(tempfile.gettempdir()) > 40 and os.path.isdir("/tmp") else None
    with tempfile.TemporaryDirectory(prefix="wb-kernel-", dir=short_tmp) as sockets:
        log = Path(kernel_log) if kernel_log is not None else Path(sockets) / "kernel.log"
        try:
            papermill.execute_notebook(
                str(path), str(output), parameters=parameters or None, kernel_name=kernel_name,
                cwd=str(path.parent), execution_timeout=timeout,
                progress_bar=dict(progress) if isinstance(progress, Mapping) else progress,
                log_output=False, kernel_manager_class=QuietKernelManager, config=kernel_config(sockets, str(log)),
            )
        except Exception as exc:  # a raising cell, a timeout or a dead kernel: report it, keep the other notebooks going
            failure = exc
        kept = log.read_text(encoding="utf-8", errors="replace").strip() if log.is_file() else ""
        if not kept and log.exists():
            log.unlink()
        elif kept and kernel_log is None and failure is not None:
            print(f"kernel log of {path.name}:\n{kept}", file=sys.stderr)
    duration = time.perf_counter() - started
    nb = nbformat.read(output, as_version=4) if output.exists() else nbformat.read(path, as_version=4)
    result = NotebookResult(
        name=path.stem,
        status="passed" if failure is None else "failed",
        duration_s=round(duration, 2),
        parameters=parameters,
        metrics=collect_records(nb),
        error=_failure(nb, failure) if failure is not None else None,
        ipynb=str(output),
    )
    if html_output is not None and output.exists():
        try:
            export_html(output, Path(html_output))
            result.html = str(html_output)
        except Exception as exc:  # HTML is a convenience; never hide the notebook's own status behind it
            print(f"warning: HTML export of {output.name} failed: {exc}", file=sys.stderr)
    return result


def execute_in_place(path: str | os.PathLike, *, timeout: float | None = None, kernel_name: str = KERNEL_NAME) -> NotebookResult:
    """Re-execute a notebook with its defaults and store the outputs in the notebook itself (for committing)."""
    import nbformat

    path = Path(path).resolve()
    check_kernel(kernel_name)
    notebook_parameters(path)  # refuses a notebook without a parameters cell
    result = execute_notebook(path, path, None, timeout=timeout, kernel_name=kernel_name, progress=sys.stderr.isatty())
    nb = nbformat.read(path, as_version=4)
    nbformat.write(strip_volatile_metadata(nb), path)
    return result


def _new_run_id(prefix: str = "run") -> str:
    return f"{prefix}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid() % 10000:04d}"


def _point_latest(out: Path, run_dir: Path) -> None:
    latest = out / "latest"
    tmp = out / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name, target_is_directory=True)
    os.replace(tmp, latest)  # atomic: readers see the old run or the new one, never nothing


def run_notebooks(
    notebooks: Sequence[str | os.PathLike] | None = None,
    parameters: Mapping[str, Any] | None = None,
    *,
    profile: str | None = None,
    out: str | os.PathLike = REPORTS_DIR,
    run_id: str | None = None,
    timeout: float | None = None,
    kernel_name: str = KERNEL_NAME,
    progress: bool = True,
) -> dict[str, Any]:
    """Execute notebooks into ``out/<run-id>/`` and write ``summary.json``, ``index.html`` and ``out/latest``.

    Parameters are checked against every notebook before any kernel starts. Returns the summary.
    """
    paths = [resolve_notebook(n) for n in notebooks] if notebooks else list_notebooks()
    if not paths:
        raise RunnerError("no notebooks to run")
    given = dict(parameters or {})
    if profile is not None:
        given["profile"] = profile
    per_notebook = {p: check_parameters(p, given) for p in paths}
    check_kernel(kernel_name)

    out = Path(out).resolve()
    run_dir = out / (run_id or _new_run_id())
    run_dir.mkdir(parents=True, exist_ok=True)
    per_notebook = {p: with_run_output_dir(p, params, run_dir / "files" / p.stem) for p, params in per_notebook.items()}
    results: list[NotebookResult] = []
    # One line per notebook. On a terminal papermill's cell bar runs meanwhile and is cleared when the line is
    # written; in a log the line is started before the notebook runs and finished after it.
    live = progress and sys.stderr.isatty()
    for i, path in enumerate(paths, 1):
        label = f"[{i}/{len(paths)}] {path.stem}"
        if not live:
            print(f"{label} ...", end=" ", file=sys.stderr, flush=True)
        try:
            result = execute_notebook(
                path, run_dir / path.name, per_notebook[path], timeout=timeout, kernel_name=kernel_name,
                progress={"desc": label, "leave": False, "file": sys.stderr} if live else False,
                html_output=run_dir / f"{path.stem}.html", kernel_log=run_dir / f"{path.stem}.kernel.log",
            )
        except KeyboardInterrupt:  # finish the notebook's line before the command reports the interrupt
            print(f"{label}: stopped" if live else "stopped", file=sys.stderr, flush=True)
            raise
        status = result.status if not result.error else f"failed in cell {result.error['cell']}: {result.error['ename']}"
        print(f"{label}: " if live else "", f"{status} ({result.duration_s:.1f} s)", sep="", file=sys.stderr, flush=True)
        results.append(result)
    summary = _summary(run_dir, results, kind="run")
    _point_latest(out, run_dir)
    return summary


def _relative(run_dir: Path, p: str | None) -> str | None:
    return os.path.relpath(p, run_dir) if p else None


def _summary(run_dir: Path, results: list[NotebookResult], *, kind: str, extra: dict | None = None) -> dict[str, Any]:
    rows = []
    for r in results:
        row = r.to_json()
        row["html"], row["ipynb"] = _relative(run_dir, r.html), _relative(run_dir, r.ipynb)
        rows.append(row)
    summary = {
        "run": run_dir.name,
        "kind": kind,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "passed": sum(r.status == "passed" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "notebooks": rows,
        **(extra or {}),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    (run_dir / "index.html").write_text(render_index(summary), encoding="utf-8")
    return summary


# ------------------------------------------------------------------------------------------------- sweeps
def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of a parameter grid, in a stable order."""
    for name, values in grid.items():
        if not values:
            raise RunnerError(f"sweep parameter {name} has no values; give at least one (-p {name} V1 V2 ...)")
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def _execute_point(path: str, output: str, html_output: str, parameters: dict, timeout, kernel_name) -> dict:
    # Runs on a dask worker: plain arguments in, a plain dict out.
    return execute_notebook(path, output, parameters, timeout=timeout, kernel_name=kernel_name, progress=False,
                            html_output=html_output, kernel_log=str(Path(output).with_suffix(".kernel.log"))).to_json()


def sweep(
    notebook: str | os.PathLike,
    grid: Mapping[str, Sequence[Any]],
    *,
    fixed: Mapping[str, Any] | None = None,
    scheduler: str | None = None,
    workers: int = 2,
    out: str | os.PathLike = REPORTS_DIR,
    run_id: str | None = None,
    timeout: float | None = None,
    kernel_name: str = KERNEL_NAME,
) -> dict[str, Any]:
    """Run every point of ``grid`` as its own papermill execution, fanned out on dask.distributed.

    ``scheduler`` (or ``WORKBENCH_DASK_SCHEDULER``) names a running cluster, whose workers must see the same
    file system; otherwise an in-process LocalCluster with ``workers`` single-threaded worker processes runs
    the points. Metrics per point go to ``summary.json``, ``sweep.parquet`` and the index.
    """
    import polars as pl
    from dask.distributed import Client, LocalCluster, as_completed

    path = resolve_notebook(notebook)
    points = grid_points(grid)
    fixed = dict(fixed or {})
    declared = declared_parameters(path)
    for point in points:
        check_parameters(path, {**fixed, **point}, declared)
    check_kernel(kernel_name)
    out = Path(out).resolve()
    run_dir = out / (run_id or _new_run_id("sweep"))
    run_dir.mkdir(parents=True, exist_ok=True)
    scheduler = scheduler or os.environ.get("WORKBENCH_DASK_SCHEDULER") or None

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = {}
        for i, point in enumerate(points):
            stem = f"{path.stem}__{i:03d}"
            params = with_run_output_dir(path, {**fixed, **point}, run_dir / "files" / stem)
            fut = client.submit(_execute_point, str(path), str(run_dir / f"{stem}.ipynb"), str(run_dir / f"{stem}.html"),
                                params, timeout, kernel_name, pure=False, key=f"point-{i}-{stem}")
            futures[fut] = i
        rows: list[dict | None] = [None] * len(points)
        from tqdm.auto import tqdm

        for fut in tqdm(as_completed(futures), total=len(futures), desc=f"sweep {path.stem}", file=sys.stderr):
            rows[futures[fut]] = fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    results = []
    for i, row in enumerate(rows):
        assert row is not None
        row["name"] = f"{path.stem} #{i}"
        results.append(NotebookResult(**row))
    table = [{"point": i, "status": r.status, "duration_s": r.duration_s, **points[i],
              **{f"metric.{k}": v for k, v in r.metrics.items() if not isinstance(v, (list, dict))}}
             for i, r in enumerate(results)]
    pl.DataFrame(table).write_parquet(run_dir / "sweep.parquet")
    summary = _summary(run_dir, results, kind="sweep",
                       extra={"notebook": path.stem, "grid": {k: list(v) for k, v in grid.items()}, "fixed": fixed,
                              "points": table, "parquet": "sweep.parquet"})
    _point_latest(out, run_dir)
    return summary


# --------------------------------------------------------------------------------------------------- index
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin-top:1rem}
th,td{border:1px solid #ccc;padding:.35rem .6rem;vertical-align:top;text-align:left;font-size:.9rem}
th{background:#f3f3f3}
.passed{color:#176d2c;font-weight:600}.failed{color:#b00020;font-weight:600}
code{font-size:.85rem;white-space:pre-wrap}
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 120 else text[:117] + "..."


def _kv(mapping: Mapping[str, Any]) -> str:
    return "<br>".join(f"<code>{html.escape(k)} = {html.escape(_fmt(v))}</code>" for k, v in mapping.items()) or "&ndash;"


def render_index(summary: Mapping[str, Any]) -> str:
    """The run's index page: status, duration, parameters, recorded metrics, errors and links."""
    rows = []
    for nb in summary["notebooks"]:
        err = nb.get("error")
        err_html = "&ndash;"
        if err:
            err_html = (f"cell {err.get('cell')} (In [{err.get('execution_count')}]): "
                        f"<b>{html.escape(str(err.get('ename')))}</b>: {html.escape(str(err.get('evalue'))[:500])}"
                        + (f"<br><code>{html.escape(err['source'])}</code>" if err.get("source") else ""))
        links = " ".join(f'<a href="{html.escape(nb[k])}">{k}</a>' for k in ("html", "ipynb") if nb.get(k))
        rows.append(
            f"<tr><td>{html.escape(nb['name'])}</td><td class=\"{nb['status']}\">{nb['status']}</td>"
            f"<td>{nb['duration_s']:.1f} s</td><td>{_kv(nb.get('parameters') or {})}</td>"
            f"<td>{_kv(nb.get('metrics') or {})}</td><td>{err_html}</td><td>{links}</td></tr>"
        )
    sweep_table = ""
    if summary.get("kind") == "sweep" and summary.get("points"):
        cols = list(dict.fromkeys(k for p in summary["points"] for k in p))
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(p.get(c, '')))}</td>" for c in cols) + "</tr>"
                       for p in summary["points"])
        sweep_table = f"<h2>Grid</h2><p>Also saved as <a href=\"sweep.parquet\">sweep.parquet</a>.</p><table><tr>{head}</tr>{body}</table>"
    title = f"workbench {summary.get('kind', 'run')} {summary['run']}"
    return (
        f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{summary['passed']} passed, {summary['failed']} failed &middot; "
        f"created {html.escape(summary['created'])}</p>{sweep_table}<h2>Notebooks</h2><table><tr><th>notebook</th><th>status</th>"
        f"<th>duration</th><th>parameters</th><th>metrics</th><th>error</th><th>files</th></tr>{''.join(rows)}</table></body></html>"
    )
