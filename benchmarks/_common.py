"""What every benchmark script shares: paired timing with ranges, the summary rows, the common flags.

Ratios are peer time / our time (greater than 1: we are faster). On a shared, loaded machine a single
ratio of two medians taken minutes apart says little, so :func:`paired` times ours and the peer's
alternately, repeat by repeat, and the ratio range is taken over those pairs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "reports" / "benchmarks"


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true",
                        help="toy sizes: proves the script runs and still checks results equal; no timing claims")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default reports/benchmarks/)")


def seconds(fn, repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def paired(ours, peer, repeats: int, warmup: int = 1, min_time: float = 0.2) -> dict:
    """Time ``ours`` and ``peer`` alternately ``repeats`` times; ratios peer/ours per pair.

    Like timeit, a call shorter than ``min_time`` seconds is repeated within one sample (each side its
    own count) and the sample is the mean per call: on a loaded machine one scheduler stall would
    otherwise decide a millisecond timing. Returns ours/peer seconds per call (lists) and
    ``ratio_min``/``ratio_max``/``ratio_median``.
    """
    numbers = {}
    for fn in (ours, peer):
        t0 = time.perf_counter()
        for _ in range(max(1, warmup)):
            fn()
        once = (time.perf_counter() - t0) / max(1, warmup)
        numbers[fn] = max(1, int(min_time / once) if once > 0 else 1) if min_time else 1
    t_ours, t_peer = [], []
    for i in range(repeats):
        # Alternate who goes first so that a load spike or a cache effect does not always hit one side.
        order = (ours, peer) if i % 2 == 0 else (peer, ours)
        for fn in order:
            number = numbers[fn]
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            (t_ours if fn is ours else t_peer).append((time.perf_counter() - t0) / number)
    return ratio_stats(t_ours, t_peer)


def ratio_stats(t_ours: list[float], t_peer: list[float]) -> dict:
    ratios = [p / o for o, p in zip(t_ours, t_peer)]
    return {"ours_s": t_ours, "peer_s": t_peer, "ratio_min": min(ratios), "ratio_max": max(ratios),
            "ratio_median": statistics.median(ratios)}


def fmt_range(stats: dict) -> str:
    return f"{stats['ratio_min']:.2f}-{stats['ratio_max']:.2f}"


def summary_row(benchmark: str, work: str, peer: str, stats: dict | None, *, headline: bool, note: str = "") -> dict:
    """One row of ``<name>.summary.json`` (see benchmarks/summary.py); ``stats`` None: the peer did not run."""
    row = {"benchmark": benchmark, "work": work, "peer": peer, "headline": bool(headline), "note": note,
           "ratio_min": None, "ratio_max": None}
    if stats is not None:
        row["ratio_min"], row["ratio_max"] = float(stats["ratio_min"]), float(stats["ratio_max"])
    return row


def write_summary(out: Path, name: str, rows: list[dict]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.summary.json"
    path.write_text(json.dumps(rows, indent=2) + "\n")
    return path


def machine_info(threads: int | None = None) -> dict:
    import os
    import platform

    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    if threads is not None:
        info["threads"] = threads
    return info
