"""Feature-lake benchmark: the point-in-time join vs DuckDB and polars, cold and warm; ingest; get latency.

Side by side in one run (ratio = peer time / lake time per alternating pair, min-max; > 1: the lake is faster):
- point-in-time join of E entity rows against F feature rows (K keys x D days, 10% of cells missing, ttl
  7 days), every side on ``--threads`` threads (default 1: polars via POLARS_MAX_THREADS, DuckDB ``SET
  threads``):
  - lake **cold**: ``FeatureLake.open`` afresh, then ``training_frame`` (reads zarr from disk, resolves keys);
  - lake **warm**: the same lake again (window and key index cached per stored version);
  - DuckDB ``ASOF LEFT JOIN`` on in-memory Arrow tables, the ttl applied on the matched time, ordered back;
  - polars ``join_asof`` by key, **both sorts timed** (entities and features by time), order restored.
  Results are checked equal row by row. Feast's offline store (``--feast``, its own venv) is optional.
- ingest: feature values per second for one large batch and for the same data in daily batches;
- ``get`` latency p50 / p99, latest value and as-of a random time.

Defaults: 10^5 keys x 111 days ~ 10^7 feature rows and 10^6 entity rows (the issue's size; a few minutes
and ~3 GB). ``--smoke``: toy sizes in seconds. Writes lake.json, lake.md and lake.summary.json to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def _threads_from_argv(argv) -> int:
    # polars fixes its thread pool at import: read --threads before importing it.
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


os.environ.setdefault("POLARS_MAX_THREADS", str(_threads_from_argv(sys.argv[1:])))

import polars as pl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_common_flags, fmt_range, machine_info, paired, summary_row, write_summary  # noqa: E402

from workbench.lake import EventKey, FeatureLake  # noqa: E402

NAME = "lake"

FEATURE = "/bench/feature/customer/x"
FEAST_VENV = Path(os.environ.get("WORKBENCH_FEAST_VENV", Path.home() / ".cache" / "workbench" / "feast-venv"))


def make_data(n_keys: int, n_days: int, n_entities: int, seed: int):
    rng = np.random.default_rng(seed)
    names = pl.Series("customer", [f"c{i:07d}" for i in range(n_keys)])
    cust = np.repeat(np.arange(n_keys), n_days)
    day = np.tile(np.arange(n_days), n_keys)
    keep = rng.random(cust.size) >= 0.1
    cust, day = cust[keep], day[keep]
    t0 = np.datetime64("2026-01-01T00:00:00", "ns")
    features = pl.DataFrame({
        "customer": names.gather(cust),
        "time": pl.Series(t0 + (day + 1).astype("timedelta64[D]")),
        FEATURE: np.round(rng.normal(size=cust.size), 6),
    })
    seconds = rng.integers(0, (n_days + 3) * 86400, n_entities)
    entities = pl.DataFrame({
        "customer": names.gather(rng.integers(0, n_keys, n_entities)),
        "event_time": pl.Series(t0 + (seconds * 10**9).astype("timedelta64[ns]")),
    })
    return features, entities


def timed(fn, repeats: int = 1):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_ingest(features: pl.DataFrame, work: Path, daily_batches: int) -> tuple[dict, Path]:
    warm = FeatureLake.open(work / "warm_up")  # first use imports xarray/zarr; keep that out of the timing
    warm.register_feature(FEATURE, "float")
    warm.write(features.head(10))
    one = work / "lake_one_batch"
    lake = FeatureLake.open(one)
    lake.register_feature(FEATURE, "float")
    seconds, report = timed(lambda: lake.write(features))
    result = {"values": report.values_written, "one_batch_s": seconds,
              "one_batch_values_per_s": report.values_written / seconds}
    days = features["time"].unique().sort()
    per_batch = max(1, len(days) // daily_batches)
    inc = FeatureLake.open(work / "lake_batches")
    inc.register_feature(FEATURE, "float")
    t0, n = time.perf_counter(), 0
    for start in range(0, len(days), per_batch):
        chunk = features.filter(pl.col("time").is_in(days[start : start + per_batch].implode()))
        n += inc.write(chunk).values_written
    seconds = time.perf_counter() - t0
    result.update({"batches": -(-len(days) // per_batch), "batched_s": seconds, "batched_values_per_s": n / seconds})
    return result, one


def polars_pit(entities: pl.DataFrame, features: pl.DataFrame, ttl: str) -> pl.DataFrame:
    """join_asof by key with both sorts inside (the lake pays for its own ordering too)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # sortedness within groups cannot be checked; it holds
        return (entities.with_row_index("__i").sort("event_time")
                .join_asof(features.sort("time"), left_on="event_time", right_on="time", by="customer",
                           strategy="backward", tolerance=ttl)
                .sort("__i").drop("__i", "time"))


def duckdb_pit(con, ttl_s: int) -> pl.Series:
    """DuckDB's ASOF LEFT JOIN on the registered tables; the ttl applied to the matched time; entity order."""
    sql = f"""
        SELECT e.__i, CASE WHEN f.time >= e.event_time - INTERVAL {ttl_s} SECOND THEN f.x END AS x
        FROM entities e ASOF LEFT JOIN features f ON e.customer = f.customer AND e.event_time >= f.time
        ORDER BY e.__i"""
    return pl.from_arrow(con.sql(sql).to_arrow_table())["x"]  # con.sql: no extra copy of the rows


FEAST_SCRIPT = r'''
import json, sys, time
from datetime import timedelta
import pandas as pd
import feast
from feast import Entity, FeatureStore, FeatureView, Field, FileSource
from feast.repo_config import RepoConfig
from feast.types import Float64

work, ttl_s = sys.argv[1], int(sys.argv[2])
customer = Entity(name="customer", join_keys=["customer"])
source = FileSource(path=f"{work}/features.parquet", timestamp_field="event_timestamp")
view = FeatureView(name="bench", entities=[customer], ttl=timedelta(seconds=ttl_s),
                   schema=[Field(name="x", dtype=Float64)], source=source)
last_error = None
for version in (3, 2):
    try:
        config = RepoConfig(project="bench", registry=f"{work}/registry.db", provider="local",
                            offline_store={"type": "file"},
                            online_store={"type": "sqlite", "path": f"{work}/online.db"},
                            entity_key_serialization_version=version)
        store = FeatureStore(config=config)
        store.apply([customer, view])
        break
    except Exception as exc:
        last_error = exc
else:
    raise last_error
entities = pd.read_parquet(f"{work}/entities.parquet")
t0 = time.perf_counter()
out = store.get_historical_features(entity_df=entities, features=["bench:x"]).to_df()
seconds = time.perf_counter() - t0
out[["row", "x"]].to_parquet(f"{work}/feast_out.parquet")
print(json.dumps({"seconds": seconds, "rows": len(out), "feast_version": feast.__version__}))
'''


def ensure_feast(timeout_s: int) -> tuple[Path | None, str]:
    python = FEAST_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import feast"], capture_output=True).returncode == 0:
        return python, "reused"
    try:
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(FEAST_VENV)], check=True, capture_output=True, timeout=120)
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "feast"], capture_output=True, text=True,
                              timeout=timeout_s)
        if proc.returncode != 0:
            return None, f"pip install feast failed: {proc.stderr.strip().splitlines()[-1:]}"
    except subprocess.TimeoutExpired:
        return None, f"installing feast took longer than {timeout_s}s"
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"could not create the Feast venv: {exc}"
    return python, "installed"


def bench_feast(entities: pl.DataFrame, features: pl.DataFrame, expected: pl.Series, ttl_s: int, args) -> dict:
    python, how = ensure_feast(args.feast_install_timeout)
    if python is None:
        return {"status": "unavailable", "reason": how}
    with tempfile.TemporaryDirectory(prefix="lake-feast-") as work:
        features.select("customer", pl.col("time").dt.replace_time_zone("UTC").alias("event_timestamp"),
                        pl.col(FEATURE).alias("x")).write_parquet(f"{work}/features.parquet")
        entities.with_row_index("row").select(
            "row", "customer", pl.col("event_time").dt.replace_time_zone("UTC").alias("event_timestamp")
        ).write_parquet(f"{work}/entities.parquet")
        try:
            proc = subprocess.run([str(python), "-c", FEAST_SCRIPT, work, str(ttl_s)], capture_output=True, text=True,
                                  timeout=args.feast_timeout)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "reason": f"get_historical_features ran over {args.feast_timeout}s"}
        if proc.returncode != 0:
            return {"status": "failed", "reason": proc.stderr.strip().splitlines()[-1:] if proc.stderr else "?"}
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        got = pl.read_parquet(f"{work}/feast_out.parquet").with_columns(
            pl.col("row").cast(pl.Int64), pl.col("x").cast(pl.Float64).fill_nan(None))
        ours = pl.DataFrame({"row": np.arange(len(expected), dtype=np.int64), "ours": expected})
        both = ours.join(got, on="row", how="inner")
        dropped = ours.join(got, on="row", how="anti")
        # Feast's file offline store leaves out entity rows that no feature row can match (here: events
        # before the first feature time); on the rows it returns, the values must agree with ours.
        info["equal"] = bool(both["ours"].equals(both["x"].rename("ours")))
        info["rows_dropped_by_feast"] = dropped.height
        info["dropped_rows_null_in_lake"] = bool(dropped["ours"].is_null().all())
        info["dropped_rows_with_a_value"] = int(dropped["ours"].is_not_null().sum())
        examples = dropped.filter(pl.col("ours").is_not_null()).head(5).join(
            entities.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64)), on="row")
        info["dropped_examples"] = [{"customer": r["customer"], "event_time": str(r["event_time"]),
                                     "lake_value": r["ours"]} for r in examples.iter_rows(named=True)]
        info["status"] = "ok"
        info["venv"] = how
        return info


def bench_get(lake: FeatureLake, entities: pl.DataFrame, samples: int, seed: int) -> dict:
    rng = np.random.default_rng(seed + 7)
    rows = entities.sample(samples, seed=seed)
    keys = [EventKey({"customer": c}) for c in rows["customer"]]
    ats = rows["event_time"].to_list()
    lake.get(keys[0], FEATURE)  # load the window once; latency below is the steady state
    latest, asof = [], []
    for key, at in zip(keys, ats):
        t0 = time.perf_counter_ns()
        lake.get(key, FEATURE)
        latest.append(time.perf_counter_ns() - t0)
        t0 = time.perf_counter_ns()
        lake.get(key, FEATURE, at=at)
        asof.append(time.perf_counter_ns() - t0)
    del rng
    return {"samples": samples,
            "latest_p50_us": float(np.percentile(latest, 50) / 1e3), "latest_p99_us": float(np.percentile(latest, 99) / 1e3),
            "asof_p50_us": float(np.percentile(asof, 50) / 1e3), "asof_p99_us": float(np.percentile(asof, 99) / 1e3)}


def bench_pit(lake_path: Path, features: pl.DataFrame, entities: pl.DataFrame, ttl: str, ttl_s: int, threads: int,
              repeats: int) -> tuple[dict, list[dict], pl.Series]:
    def cold():
        return FeatureLake.open(lake_path).training_frame(entities, [FEATURE], ttl=ttl)

    warm_lake = FeatureLake.open(lake_path)
    ours = warm_lake.training_frame(entities, [FEATURE], ttl=ttl)[FEATURE]

    def warm():
        return warm_lake.training_frame(entities, [FEATURE], ttl=ttl)

    result, rows = {"non_null": int(ours.is_not_null().sum())}, []
    sizes = f"{entities.height:,} x {features.height:,}"
    peers = []
    peer_polars = lambda: polars_pit(entities, features, ttl)  # noqa: E731
    result["polars_equal"] = bool(peer_polars()[FEATURE].equals(ours))
    peers.append(("polars", f"polars {pl.__version__} join_asof by key, sorts timed", peer_polars, result["polars_equal"]))
    try:
        import duckdb
    except ImportError:
        result["duckdb"] = "not installed: pip install duckdb"
        print("  duckdb not installed; skipped", flush=True)
    else:
        con = duckdb.connect()
        con.execute(f"SET threads TO {threads}")
        con.register("entities", entities.with_row_index("__i").to_arrow())
        con.register("features", features.rename({FEATURE: "x"}).to_arrow())
        result["duckdb_equal"] = bool(duckdb_pit(con, ttl_s).rename(FEATURE).equals(ours))
        peers.append(("duckdb", f"DuckDB {duckdb.__version__} ASOF LEFT JOIN", lambda: duckdb_pit(con, ttl_s), result["duckdb_equal"]))
    for key, label, peer, equal in peers:
        for mode, ours_fn in (("cold", cold), ("warm", warm)):
            stats = paired(ours_fn, peer, repeats)
            result[f"{key}_{mode}"] = stats
            note = (f"equal: {equal}; {threads} thread(s) each; " +
                    ("lake freshly opened: reads zarr, resolves keys, no index" if mode == "cold"
                     else "lake window and key index cached (the peer has no such cache)"))
            rows.append(summary_row(NAME, f"point-in-time join {sizes}, ttl {ttl}, lake {mode}", label, stats,
                                    headline=mode == "cold", note=note))
            print(f"  PIT {mode} vs {key}: {fmt_range(stats)}x (equal {equal})", flush=True)
    return result, rows, ours


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_flags(parser)
    parser.add_argument("--keys", type=int, default=100_000, help="customers (default 10^5)")
    parser.add_argument("--days", type=int, default=111, help="daily window times per customer (default 111)")
    parser.add_argument("--entity-rows", type=int, default=1_000_000, help="entity rows to join (default 10^6)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed pairs per comparison")
    parser.add_argument("--threads", type=int, default=1, help="threads for every side (polars, DuckDB)")
    parser.add_argument("--daily-batches", type=int, default=10, help="batches for the batched ingest")
    parser.add_argument("--get-samples", type=int, default=2000)
    parser.add_argument("--feast", action="store_true", help="also run Feast's offline store (own venv, installed on first use)")
    parser.add_argument("--feast-install-timeout", type=int, default=600)
    parser.add_argument("--feast-timeout", type=int, default=600, help="seconds for Feast's join")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.smoke:
        args.keys, args.days, args.entity_rows, args.repeats, args.get_samples = 300, 20, 3000, 1, 50
    for name in ("keys", "days", "entity_rows", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    ttl, ttl_s = "7d", 7 * 86400
    features, entities = make_data(args.keys, args.days, args.entity_rows, args.seed)
    result = {"machine": {**machine_info(args.threads), "polars": pl.__version__},
              "sizes": {"keys": args.keys, "days": args.days, "feature_rows": features.height,
                        "entity_rows": entities.height, "ttl": ttl}, "smoke": args.smoke}
    print(f"feature rows {features.height:,}, entity rows {entities.height:,}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="lake-bench-"))
    summary = []
    try:
        ingest, lake_path = bench_ingest(features, work, args.daily_batches)
        result["ingest"] = ingest
        print(f"ingest: {ingest['one_batch_values_per_s']:,.0f} values/s in one batch, "
              f"{ingest['batched_values_per_s']:,.0f} values/s in {ingest['batches']} batches", flush=True)
        result["pit"], summary, ours = bench_pit(lake_path, features, entities, ttl, ttl_s, args.threads, args.repeats)
        if args.feast:
            feast = bench_feast(entities, features, ours, ttl_s, args)
            result["feast"] = feast
            print(f"feast: {feast}", flush=True)
        else:
            result["feast"] = {"status": "skipped", "reason": "not asked for (--feast)"}
        result["get"] = bench_get(FeatureLake.open(lake_path), entities, min(args.get_samples, entities.height), args.seed)
        print(f"get: {result['get']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lake.json").write_text(json.dumps(result, indent=2, default=float))
    write_summary(args.out, NAME, summary)
    pit, ing, get, feast = result["pit"], result["ingest"], result["get"], result["feast"]
    pit_lines = "\n".join(f"| {r['peer']} | {r['work'].rsplit(', lake ', 1)[1]} | {r['ratio_min']:.2f}-{r['ratio_max']:.2f} | {r['note']} |"
                          for r in summary)
    feast_line = (f"Feast {feast.get('feast_version', '')} offline store: {feast['seconds']:.2f} s; equal on the rows it returns: "
                  f"{feast['equal']} (it returns {feast['rows']:,} of {entities.height:,} rows)"
                  if feast.get("status") == "ok" else f"Feast: {feast['status']} ({feast.get('reason')})")
    md = f"""# Feature lake benchmark

{result['sizes']['feature_rows']:,} feature rows ({args.keys:,} keys x {args.days} days, 10% missing),
{entities.height:,} entity rows, ttl {ttl}; {args.threads} thread(s) on every side; {result['machine']}.
Ratio = peer time / lake time per alternating pair, min-max over {args.repeats} repeats (> 1: the lake is faster).

## Point-in-time join

| peer | lake | ratio | notes |
| --- | --- | ---: | --- |
{pit_lines}

{feast_line}.

## Ingest

| batches | seconds | values/s |
| --- | ---: | ---: |
| 1 | {ing['one_batch_s']:.2f} | {ing['one_batch_values_per_s']:,.0f} |
| {ing['batches']} (daily ranges, each an atomic commit) | {ing['batched_s']:.2f} | {ing['batched_values_per_s']:,.0f} |

## get latency ({get['samples']} samples)

| query | p50 (us) | p99 (us) |
| --- | ---: | ---: |
| latest | {get['latest_p50_us']:.1f} | {get['latest_p99_us']:.1f} |
| as of a time | {get['asof_p50_us']:.1f} | {get['asof_p99_us']:.1f} |
"""
    (args.out / "lake.md").write_text(md)
    print(md)
    ok = pit["polars_equal"] and pit.get("duckdb_equal", True)
    if not ok:
        print("MISMATCH: the lake's join differs from a peer's", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
