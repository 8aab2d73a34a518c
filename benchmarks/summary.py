"""Collect every ``reports/benchmarks/*.summary.json`` into one table, ``reports/benchmarks/summary.md``.

Each benchmark script writes ``<name>.summary.json``: a list of rows
``{"benchmark", "work", "peer", "ratio_min", "ratio_max", "headline", "note"}`` where ratio = peer time /
our time (greater than 1: we are faster), min and max over the repeats of one run. This script reads
them all, headline rows first within each benchmark, and writes the markdown table. A file that is not
such a list is reported by name and left out, so one broken benchmark does not hide the others.

Run: ``python benchmarks/summary.py [--out DIR]`` (after the benchmarks; ``make bench`` runs it last).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("benchmark", "work", "peer", "ratio_min", "ratio_max", "headline", "note")


def _check_row(row, source: str, i: int) -> dict:
    if not isinstance(row, dict):
        raise ValueError(f"{source}: row {i} is a {type(row).__name__}, expected an object with {FIELDS}")
    missing = [f for f in ("benchmark", "work", "peer", "ratio_min", "ratio_max") if f not in row]
    if missing:
        raise ValueError(f"{source}: row {i} lacks {missing}; each row needs {FIELDS}")
    for f in ("ratio_min", "ratio_max"):
        v = row[f]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ValueError(f"{source}: row {i} has {f}={v!r}; expected a number or null (peer not run)")
    if row["ratio_min"] is not None and row["ratio_max"] is not None and row["ratio_min"] > row["ratio_max"]:
        raise ValueError(f"{source}: row {i} has ratio_min {row['ratio_min']} > ratio_max {row['ratio_max']}")
    return {"headline": False, "note": "", **row}


def collect(folder: Path) -> tuple[list[dict], list[str]]:
    """All rows of all ``*.summary.json`` in ``folder`` (sorted by file name) and the problems found."""
    rows, problems = [], []
    for path in sorted(folder.glob("*.summary.json")):
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, list):
                raise ValueError(f"{path.name}: expected a list of rows, got {type(data).__name__}")
            checked = [_check_row(r, path.name, i) for i, r in enumerate(data)]
        except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            problems.append(str(exc).splitlines()[0] if str(exc).startswith(path.name) else f"{path.name}: {exc}")
            continue
        # Headline rows first, otherwise the script's own order.
        rows += [r for r in checked if r["headline"]] + [r for r in checked if not r["headline"]]
    return rows, problems


def _ratio(row: dict) -> str:
    lo, hi = row["ratio_min"], row["ratio_max"]
    if lo is None or hi is None:
        return "not run"
    return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}-{hi:.2f}"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[dict], problems: list[str], machines: list[tuple[str, dict]] = ()) -> str:
    lines = ["# Benchmark summary", "",
             "Ratio = peer time / our time, min-max over the repeats of one run (greater than 1: we are faster). "
             "**Bold** rows are each benchmark's headline: the like-for-like comparison. Regenerate with `make bench`.",
             "", "| benchmark | work | peer | ratio (min-max) | note |", "| --- | --- | --- | ---: | --- |"]
    for r in rows:
        b = f"**{_cell(r['benchmark'])}**" if r["headline"] else _cell(r["benchmark"])
        ratio = f"**{_ratio(r)}**" if r["headline"] else _ratio(r)
        lines.append(f"| {b} | {_cell(r['work'])} | {_cell(r['peer'])} | {ratio} | {_cell(r.get('note', ''))} |")
    if not rows:
        lines.append("| - | no `*.summary.json` found | - | - | run the benchmarks first |")
    try:
        load_now = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load_now = "-"
    lines += ["", f"Collected {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} CPUs, "
                  f"load average then {load_now} (1 / 5 / 15 min)."]
    if machines:
        # Ratios within one run are what counts; the load says how much the machine was shared meanwhile.
        lines += ["", "## Machine during the run", "", "| benchmark | started (UTC) | CPUs | load average 1 / 5 / 15 min |",
                  "| --- | --- | ---: | --- |"]
        for name, m in machines:
            load = m.get("load_average")
            load_text = " / ".join(f"{x:.1f}" for x in load) if isinstance(load, (list, tuple)) else "-"
            lines.append(f"| {_cell(name)} | {_cell(m.get('when', '-'))} | {_cell(m.get('cpus', '-'))} | {load_text} |")
    if problems:
        lines += ["", "## Files left out", ""] + [f"- {_cell(p)}" for p in problems]
    return "\n".join(lines) + "\n"


def machines_of(folder: Path) -> list[tuple[str, dict]]:
    """(benchmark, its ``machine`` record) from each ``<name>.json`` beside a summary that has one."""
    out = []
    for path in sorted(folder.glob("*.summary.json")):
        name = path.name[: -len(".summary.json")]
        try:
            machine = json.loads((folder / f"{name}.json").read_text()).get("machine")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(machine, dict):
            out.append((name, machine))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks",
                        help="folder holding the *.summary.json files; summary.md is written there")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        print(f"error: --out {args.out} is not a folder; run the benchmarks first (make bench)", file=sys.stderr)
        return 2
    rows, problems = collect(args.out)
    md = to_markdown(rows, problems, machines_of(args.out))
    (args.out / "summary.md").write_text(md)
    print(md)
    for p in problems:
        print(f"warning: left out {p}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
