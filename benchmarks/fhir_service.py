"""FHIR service benchmark: what the REST layer costs over the same queries sent straight to PostgreSQL.

Side by side in one run, for 1, 8 and 32 concurrent clients over loopback, each point bounded in time:

* ``patient_read``: ``GET /fhir/Patient/{id}`` vs ``SELECT resource::text FROM fhir.patient WHERE id = $1``;
* ``http_floor`` (1 client, service only): ``GET /fhir/metadata``, no token check and no database,
  the cost of httpx + uvicorn + FastAPI alone;
* ``observation_search``: ``GET /fhir/Observation?subject=..&code=85354-9&_count=20`` vs the two
  statements the service runs for it (``count(*)`` for ``total``, the keyset page query).

The service runs in its own process (``python -m workbench.clinical.cli serve fhir``, uvicorn) against a
throwaway PostgreSQL cluster; clients are asyncio tasks (httpx for HTTP, psycopg 3 async with one
connection per client for the direct peer) in this process. Reported: requests/s, p50 and p99
latency, and the overhead ratios (direct rps / service rps, service p50 / direct p50). On a 2-core
machine client, server and database share the cores, so absolute numbers are low; the ratios are
the point. Writes reports/benchmarks/fhir_service.json and .md.

Defaults take about a minute: --patients 100 --seconds 2. Full: --full (300 patients, 10 s per point).
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
PAGE_SQL = ("SELECT id, effective, resource::text FROM fhir.observation WHERE TRUE AND patient_id = %s"
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


async def bench_direct(url: str, workload: str, ids: list[str], n_clients: int, seconds: float) -> dict:
    import psycopg

    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(n_clients)]
    try:

        async def worker(i: int, stop_at: float) -> list[float]:
            rng = random.Random(i)
            conn = conns[i]
            out = []
            while time.perf_counter() < stop_at:
                pid = rng.choice(ids)
                t0 = time.perf_counter()
                if workload == "patient_read":
                    await (await conn.execute(PATIENT_SQL, (pid,))).fetchone()
                else:
                    await (await conn.execute(COUNT_SQL, (pid, ["85354-9"]))).fetchone()
                    await (await conn.execute(PAGE_SQL, (pid, ["85354-9"], PAGE + 1))).fetchall()
                out.append(time.perf_counter() - t0)
            return out

        return await _drive(n_clients, seconds, worker)
    finally:
        for conn in conns:
            await conn.close()


def _start_service(pg_url: str, clients_json: str, jwt_key: str, pool_size: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_loopback_port()
    env = {**os.environ, "WORKBENCH_PG_URL": pg_url, "WORKBENCH_JWT_KEY": jwt_key, "WORKBENCH_FHIR_CLIENTS": clients_json,
           "WORKBENCH_FHIR_POOL_SIZE": str(pool_size), "WORKBENCH_FHIR_MAX_COUNT": "100"}  # fmt: skip
    env.pop("WORKBENCH_LAKE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.clinical.cli", "serve", "fhir", "--port", str(port), "--no-access-log",
         "--log-level", "warning"],
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100, help="cohort size loaded into the database (default 100)")
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per point and peer (default 2)")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels (default 1,8,32)")
    parser.add_argument("--pool-size", type=int, default=8, help="the service's database pool size (default 8)")
    parser.add_argument("--full", action="store_true", help="300 patients, 10 s per point")
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks"), help="output directory")
    args = parser.parse_args(argv)
    if args.full:
        args.patients, args.seconds = 300, 10.0
    levels = [int(x) for x in args.clients.split(",") if x.strip()]
    if not levels or min(levels) < 1 or args.seconds <= 0 or args.patients < 1:
        parser.error("--clients must list positive integers; --seconds and --patients must be positive")

    import httpx

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
        proc, base = _start_service(pg.url, clients_json, jwt_key, args.pool_size)
        try:
            token = httpx.post(base + "/auth/token", data={"grant_type": "client_credentials", "client_id": "bench",
                                                           "client_secret": client_secret}).json()["access_token"]  # fmt: skip
            # The floor: a route with no token check and no database (the CapabilityStatement), i.e.
            # what httpx + uvicorn + FastAPI cost by themselves on this machine.
            floor = asyncio.run(bench_service(base, token, "http_floor", ids, 1, args.seconds))
            print(f"http_floor            1 client : {floor['rps']:8.1f} req/s p50 {floor['p50_ms']:7.2f} ms", flush=True)
            for workload in ("patient_read", "observation_search"):
                for n in levels:
                    service = asyncio.run(bench_service(base, token, workload, ids, n, args.seconds))
                    direct = asyncio.run(bench_direct(pg.url, workload, ids, n, args.seconds))
                    row = {
                        "workload": workload, "clients": n, "service": service, "postgres": direct,
                        "throughput_overhead": direct["rps"] / service["rps"] if service["rps"] else None,
                        "p50_overhead": service["p50_ms"] / direct["p50_ms"] if direct["p50_ms"] else None,
                    }  # fmt: skip
                    results.append(row)
                    print(f"{workload:19s} {n:3d} clients: service {service['rps']:8.1f} req/s p50 {service['p50_ms']:7.2f} ms "
                          f"p99 {service['p99_ms']:7.2f} ms | postgres {direct['rps']:8.1f} req/s p50 {direct['p50_ms']:6.2f} ms "
                          f"| overhead x{row['throughput_overhead']:.1f} throughput, x{row['p50_overhead']:.1f} p50", flush=True)  # fmt: skip
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    report = {
        "benchmark": "fhir_service",
        "settings": {"patients": args.patients, "observations": counts.observations, "seconds_per_point": args.seconds,
                     "clients": levels, "service_pool_size": args.pool_size, "page_size": PAGE},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "http_floor_1_client": floor,
        "results": results,
    }  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fhir_service.json").write_text(json.dumps(report, indent=2))
    lines = [
        "# FHIR service vs direct PostgreSQL",
        "",
        f"{args.patients} patients ({counts.observations} Observations), {args.seconds:g} s per point, service pool "
        f"{args.pool_size} connections, {os.cpu_count()} CPUs shared by client, server and database.",
        "Overhead = direct req/s ÷ service req/s (throughput) and service p50 ÷ direct p50 (latency).",
        f"HTTP floor (GET /fhir/metadata: no token check, no database; 1 client): {floor['rps']:.0f} req/s, "
        f"p50 {floor['p50_ms']:.2f} ms. Clients are Python (httpx / psycopg async) in one process.",
        "",
        "| workload | clients | service req/s | p50 ms | p99 ms | PostgreSQL req/s | p50 ms | p99 ms | throughput overhead | p50 overhead |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s, d = r["service"], r["postgres"]
        lines.append(f"| {r['workload']} | {r['clients']} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
                     f"{d['rps']:.0f} | {d['p50_ms']:.2f} | {d['p99_ms']:.2f} | ×{r['throughput_overhead']:.1f} | "
                     f"×{r['p50_overhead']:.1f} |")  # fmt: skip
    (out / "fhir_service.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'fhir_service.json'} and {out / 'fhir_service.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
