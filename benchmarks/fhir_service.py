"""FHIR service benchmark: what the REST layer costs over the same queries sent straight to PostgreSQL.

Side by side in one run, for 1, 8 and 32 concurrent clients over loopback, each point bounded in time:

* ``patient_read``: ``GET /fhir/Patient/{id}`` vs ``SELECT resource::text FROM fhir.patient WHERE id = $1``;
* ``http_floor`` (1 client, service only): ``GET /fhir/metadata``, no token check and no database,
  the cost of httpx + uvicorn + FastAPI alone;
* ``observation_search``: ``GET /fhir/Observation?subject=..&code=85354-9&_count=20`` vs the two
  statements the service runs for it (``count(*)`` for ``total``, the keyset page query).

The service runs in its own process (``python -m workbench.clinical.cli serve fhir``, uvicorn) against a
throwaway PostgreSQL cluster; clients are asyncio tasks in this process: httpx for HTTP, and for the
direct peer psycopg 3 async through a connection pool of the *same size* as the service's
(``--pool-size``), sending the same statements the service sends.
Reported: requests/s, p50 and p99 latency, and the overhead ratios (direct rps / service rps, service
p50 / direct p50), each point repeated ``--repeats`` times (ranges in the summary). Every service
answer is checked equal to the direct query's rows before timing. On a 2-core machine client, server
and database share the cores, so absolute numbers are low; the ratios are the point. Writes
reports/benchmarks/fhir_service.json, .md and fhir_service.summary.json.

``--profile`` runs the service under cProfile instead, drives one workload at a time and prints the
functions with the most own time (for the closing note of issue 22).

Defaults take about two minutes: --patients 100 --seconds 2. Full: --full (300 patients, 10 s per
point). ``--smoke``: 20 patients, 0.3 s per point, 1 and 4 clients (checks results, times nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.clinical import generate_cohort  # noqa: E402
from workbench.clinical.service import (  # noqa: E402
    free_loopback_port,
    hash_secret,
    prepare_database,
    throwaway_postgres,
)

PATIENT_SQL = "SELECT resource::text FROM fhir.patient WHERE id = %s"
COUNT_SQL = "SELECT count(*) FROM fhir.observation WHERE TRUE AND patient_id = %s AND code = ANY(%s)"
PAGE_SQL = ("SELECT effective, id, resource::text FROM fhir.observation WHERE TRUE AND patient_id = %s"
            " AND code = ANY(%s) ORDER BY effective, id LIMIT %s")  # fmt: skip
PAGE = 20


async def _drive(n_clients: int, seconds: float, make_worker) -> dict:
    """Run ``n_clients`` workers for ``seconds``; each returns its latencies (s). Summarize."""
    stop_at = time.perf_counter() + seconds
    started = time.perf_counter()
    results = await asyncio.gather(*[make_worker(i, stop_at) for i in range(n_clients)])
    elapsed = time.perf_counter() - started
    lat = np.concatenate([np.asarray(r, dtype=float) for r in results]) if results else np.array([])
    return {
        "requests": int(lat.size),
        "rps": float(lat.size / elapsed),
        "p50_ms": float(np.percentile(lat, 50) * 1e3) if lat.size else None,
        "p99_ms": float(np.percentile(lat, 99) * 1e3) if lat.size else None,
    }


async def bench_service(base: str, token: str, workload: str, ids: list[str], n_clients: int, seconds: float) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=n_clients, max_keepalive_connections=n_clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:

        async def worker(i: int, stop_at: float) -> list[float]:
            rng = random.Random(i)
            out = []
            while time.perf_counter() < stop_at:
                pid = rng.choice(ids)
                t0 = time.perf_counter()
                if workload == "http_floor":
                    r = await client.get("/fhir/metadata")
                elif workload == "patient_read":
                    r = await client.get(f"/fhir/Patient/{pid}")
                else:
                    r = await client.get("/fhir/Observation", params={"subject": f"Patient/{pid}", "code": "85354-9", "_count": PAGE})
                r.raise_for_status()
                r.content  # noqa: B018 - the body is part of the cost
                out.append(time.perf_counter() - t0)
            return out

        await client.get("/fhir/metadata")  # warm the connection
        return await _drive(n_clients, seconds, worker)


async def direct_query(conn, workload: str, pid: str):
    """The statements the service runs for one request, sent straight to PostgreSQL."""
    if workload == "patient_read":
        return await (await conn.execute(PATIENT_SQL, (pid,))).fetchone()
    total = (await (await conn.execute(COUNT_SQL, (pid, ["85354-9"]))).fetchone())[0]
    return total, await (await conn.execute(PAGE_SQL, (pid, ["85354-9"], PAGE + 1))).fetchall()


async def bench_direct(url: str, workload: str, ids: list[str], n_clients: int, seconds: float, pool_size: int) -> dict:
    from psycopg_pool import AsyncConnectionPool

    async with AsyncConnectionPool(url, min_size=pool_size, max_size=pool_size, kwargs={"autocommit": True}) as pool:

        async def worker(i: int, stop_at: float) -> list[float]:
            rng = random.Random(i)
            out = []
            while time.perf_counter() < stop_at:
                pid = rng.choice(ids)
                t0 = time.perf_counter()
                async with pool.connection() as conn:
                    await direct_query(conn, workload, pid)
                out.append(time.perf_counter() - t0)
            return out

        return await _drive(n_clients, seconds, worker)


async def check_equal(base: str, token: str, url: str, ids: list[str]) -> None:
    """Before timing: the service serves exactly the rows the direct queries return."""
    import httpx
    import psycopg

    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:
            for pid in ids[:3]:
                (text,) = await direct_query(conn, "patient_read", pid)
                assert (await client.get(f"/fhir/Patient/{pid}")).json() == json.loads(text), "patient read differs"
                total, rows = await direct_query(conn, "observation_search", pid)
                bundle = (await client.get("/fhir/Observation", params={"subject": f"Patient/{pid}", "code": "85354-9",
                                                                        "_count": PAGE})).json()  # fmt: skip
                assert bundle["total"] == total, "search total differs"
                assert [e["resource"] for e in bundle.get("entry", [])] == [json.loads(r[2]) for r in rows[:PAGE]], \
                    "search page differs"
        finally:
            await conn.close()


def _start_service(pg_url: str, clients_json: str, jwt_key: str, pool_size: int,
                   profile_out: Path | None = None) -> tuple[subprocess.Popen, str]:  # fmt: skip
    import httpx

    port = free_loopback_port()
    env = {**os.environ, "WORKBENCH_PG_URL": pg_url, "WORKBENCH_JWT_KEY": jwt_key, "WORKBENCH_FHIR_CLIENTS": clients_json,
           "WORKBENCH_FHIR_POOL_SIZE": str(pool_size), "WORKBENCH_FHIR_MAX_COUNT": "100"}  # fmt: skip
    env.pop("WORKBENCH_LAKE", None)
    profiler = ["-m", "cProfile", "-o", str(profile_out)] if profile_out else []
    proc = subprocess.Popen(
        [sys.executable, *profiler, "-m", "workbench.clinical.cli", "serve", "fhir", "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        env=env, cwd=ROOT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/fhir/metadata", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the FHIR service did not start")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    import signal

    proc.send_signal(signal.SIGINT)  # uvicorn exits cleanly on SIGINT, so cProfile can write its file
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _get_token(base: str, client_secret: str) -> str:
    import httpx

    return httpx.post(base + "/auth/token", data={"grant_type": "client_credentials", "client_id": "bench",
                                                  "client_secret": client_secret}).json()["access_token"]  # fmt: skip


def _profiled_server(env: dict, port: int, out: str) -> None:
    """Child process: build the app, then profile only the serving (imports and start-up excluded)."""
    import cProfile

    os.environ.update(env)
    import uvicorn

    from workbench.clinical.service import ServiceConfig, create_app
    from workbench.clinical.service._protocol import uvicorn_config

    app = create_app(ServiceConfig.from_env())
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(out)


def profile(pg_url: str, clients_json: str, jwt_key: str, client_secret: str, ids: list[str], args) -> None:
    """One workload at a time under cProfile in the server; print the top own-time functions."""
    import multiprocessing
    import pstats
    import signal
    import tempfile

    import httpx

    env = {"WORKBENCH_PG_URL": pg_url, "WORKBENCH_JWT_KEY": jwt_key, "WORKBENCH_FHIR_CLIENTS": clients_json,
           "WORKBENCH_FHIR_POOL_SIZE": str(args.pool_size)}  # fmt: skip
    for workload in ("patient_read", "observation_search"):
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "service.prof")
            port = free_loopback_port()
            child = multiprocessing.get_context("spawn").Process(target=_profiled_server, args=(env, port, out))
            child.start()
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    httpx.get(base + "/fhir/metadata", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            token = _get_token(base, client_secret)
            result = asyncio.run(bench_service(base, token, workload, ids, 1, args.seconds))
            os.kill(child.pid, signal.SIGINT)
            child.join(30)
            stats = pstats.Stats(out)
            print(f"\n== {workload}: {result['requests']} requests, 1 client; top functions by own time in the "
                  "service (waiting in epoll excluded) ==")
            stats.sort_stats("tottime").print_stats(r"^(?!.*select\.epoll).*$", 18)


def _ratio_rows(results: list[dict]) -> list[dict]:
    rows = []
    for workload in ("patient_read", "observation_search"):
        for n in sorted({r["clients"] for r in results if r["workload"] == workload}):
            points = [r for r in results if r["workload"] == workload and r["clients"] == n]
            ratios = [r["postgres"]["p50_ms"] / r["service"]["p50_ms"] for r in points]
            rows.append({"benchmark": "fhir_service", "work": f"{workload}, {n} clients, p50 latency",
                         "peer": "PostgreSQL direct (psycopg async, same pool size, same statements)",
                         "ratio_min": min(ratios), "ratio_max": max(ratios),
                         "headline": workload == "patient_read" and n == 8,
                         "note": "peer time / service time; below 1 = the REST layer costs that factor"})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100, help="cohort size loaded into the database (default 100)")
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per point and peer (default 2)")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels (default 1,8,32)")
    parser.add_argument("--pool-size", type=int, default=8, help="database pool size of the service AND the direct peer (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of every point (default 3)")
    parser.add_argument("--full", action="store_true", help="300 patients, 10 s per point")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: checks results equal, times nothing")
    parser.add_argument("--profile", action="store_true", help="cProfile the service per workload instead")
    parser.add_argument("--label", default="", help="a label stored with the results (e.g. before/after)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks"), help="output directory")
    args = parser.parse_args(argv)
    if args.full:
        args.patients, args.seconds = 300, 10.0
    if args.smoke:
        args.patients, args.seconds, args.clients, args.repeats = 20, 0.3, "1,4", 1
    levels = [int(x) for x in args.clients.split(",") if x.strip()]
    if not levels or min(levels) < 1 or args.seconds <= 0 or args.patients < 1 or args.repeats < 1:
        parser.error("--clients must list positive integers; --seconds, --patients and --repeats must be positive")

    key = secrets.token_hex(32).encode()
    jwt_key = secrets.token_hex(32)
    client_secret = secrets.token_urlsafe(24)
    clients_json = json.dumps({"bench": {"grant": "client_credentials", "secret_hash": hash_secret(client_secret),
                                         "scopes": ["system/Patient.read", "system/Observation.read"]}})  # fmt: skip
    results = []
    with throwaway_postgres() as pg:
        counts = prepare_database(pg.url, generate_cohort(n_patients=args.patients, seed=0), key)
        import psycopg

        with psycopg.connect(pg.url) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM fhir.patient ORDER BY id")]
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")  # fresh statistics, as a loaded production table would have
        if args.profile:
            profile(pg.url, clients_json, jwt_key, client_secret, ids, args)
            return 0
        proc, base = _start_service(pg.url, clients_json, jwt_key, args.pool_size)
        try:
            token = _get_token(base, client_secret)
            asyncio.run(check_equal(base, token, pg.url, ids))
            print("results checked equal: service answers == direct PostgreSQL rows", flush=True)
            # The floor: a route with no token check and no database (the CapabilityStatement), i.e.
            # what httpx + uvicorn + FastAPI cost by themselves on this machine.
            floor = asyncio.run(bench_service(base, token, "http_floor", ids, 1, args.seconds))
            print(f"http_floor            1 client : {floor['rps']:8.1f} req/s p50 {floor['p50_ms']:7.2f} ms", flush=True)
            for repeat in range(args.repeats):
                for workload in ("patient_read", "observation_search"):
                    for n in levels:
                        service = asyncio.run(bench_service(base, token, workload, ids, n, args.seconds))
                        direct = asyncio.run(bench_direct(pg.url, workload, ids, n, args.seconds, args.pool_size))
                        row = {
                            "workload": workload, "clients": n, "repeat": repeat, "service": service, "postgres": direct,
                            "throughput_overhead": direct["rps"] / service["rps"] if service["rps"] else None,
                            "p50_overhead": service["p50_ms"] / direct["p50_ms"] if direct["p50_ms"] else None,
                        }  # fmt: skip
                        results.append(row)
                        print(f"{workload:19s} {n:3d} clients: service {service['rps']:8.1f} req/s p50 {service['p50_ms']:7.2f} ms "
                              f"p99 {service['p99_ms']:7.2f} ms | postgres {direct['rps']:8.1f} req/s p50 {direct['p50_ms']:6.2f} ms "
                              f"| overhead x{row['throughput_overhead']:.1f} throughput, x{row['p50_overhead']:.1f} p50", flush=True)  # fmt: skip
        finally:
            _stop(proc)
    report = {
        "benchmark": "fhir_service",
        "label": args.label,
        "settings": {"patients": args.patients, "observations": counts.observations, "seconds_per_point": args.seconds,
                     "clients": levels, "pool_size_both_sides": args.pool_size, "page_size": PAGE,
                     "repeats": args.repeats, "smoke": args.smoke},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "http_floor_1_client": floor,
        "results": results,
    }  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = f".{args.label}" if args.label else ""
    (out / f"fhir_service{suffix}.json").write_text(json.dumps(report, indent=2))
    lines = [
        f"# FHIR service vs direct PostgreSQL{' (' + args.label + ')' if args.label else ''}",
        "",
        f"{args.patients} patients ({counts.observations} Observations), {args.seconds:g} s per point, "
        f"{args.repeats} repeats, pool of {args.pool_size} connections on both sides, {os.cpu_count()} CPUs "
        "shared by client, server and database.",
        "Overhead = direct req/s ÷ service req/s (throughput) and service p50 ÷ direct p50 (latency); "
        "min-max over repeats.",
        f"HTTP floor (GET /fhir/metadata: no token check, no database; 1 client): {floor['rps']:.0f} req/s, "
        f"p50 {floor['p50_ms']:.2f} ms. Clients are Python (httpx / psycopg async) in one process.",
        "",
        "| workload | clients | service p50 ms | service p99 ms | PostgreSQL p50 ms | p50 overhead | throughput overhead |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in ("patient_read", "observation_search"):
        for n in levels:
            pts = [r for r in results if r["workload"] == workload and r["clients"] == n]

            def span(values, fmt="{:.2f}"):
                return fmt.format(min(values)) + ("" if len(values) == 1 else "-" + fmt.format(max(values)))

            lines.append(f"| {workload} | {n} | {span([p['service']['p50_ms'] for p in pts])} | "
                         f"{span([p['service']['p99_ms'] for p in pts])} | {span([p['postgres']['p50_ms'] for p in pts])} | "
                         f"×{span([p['p50_overhead'] for p in pts], '{:.1f}')} | "
                         f"×{span([p['throughput_overhead'] for p in pts], '{:.1f}')} |")  # fmt: skip
    (out / f"fhir_service{suffix}.md").write_text("\n".join(lines) + "\n")
    if not args.smoke:
        (out / "fhir_service.summary.json").write_text(json.dumps(_ratio_rows(results), indent=2))
    else:
        (out / "fhir_service.summary.json").write_text(json.dumps(
            [{**row, "note": "smoke run: toy sizes, not a measurement"} for row in _ratio_rows(results)], indent=2))
    print(f"wrote {out / f'fhir_service{suffix}.json'}, .md and fhir_service.summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
