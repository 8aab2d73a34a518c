"""FHIR service benchmark: what the REST layer costs over the same queries sent straight to PostgreSQL.

Side by side in one run, for 1, 8 and 32 concurrent clients over loopback, each point bounded in time:

* ``patient_read``: ``GET /fhir/Patient/{id}`` vs ``SELECT resource::text FROM fhir.patient WHERE id = $1``;
* ``http_floor`` (1 client, service only): ``GET /fhir/metadata``, no token check and no database,
  the cost of httpx + uvicorn + FastAPI alone;
* ``observation_search``: ``GET /fhir/Observation?subject=..&code=85354-9&_count=20`` vs the two
  statements the service runs for it (``count(*)`` for ``total``, the keyset page query).

The service runs in its own process (``python -m workbench.clinical.cli serve fhir``, uvicorn) against a
throwaway PostgreSQL cluster; clients are asyncio tasks in this process: for HTTP a minimal keep-alive
client (:class:`RawHttp`; ``--client httpx`` for httpx, which costs more CPU per request than the
service itself), and for the direct peer psycopg 3 async through a connection pool of the *same size*
as the service's (``--pool-size``), sending the same statements the service sends. An in-app section
calls the ASGI app in process (no HTTP) beside the same statements on its pool, to separate the
service's own cost from what the transport and the shared cores add. The 1-minute load average is
recorded with every point.
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


def _service_path(workload: str, pid: str) -> str:
    if workload == "http_floor":
        return "/fhir/metadata"
    if workload == "patient_read":
        return f"/fhir/Patient/{pid}"
    return f"/fhir/Observation?subject=Patient%2F{pid}&code=85354-9&_count={PAGE}"


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client (asyncio streams): one connection, one request at a time.

    The lean counterpart of psycopg on the direct side. httpx spends more CPU per request than the
    service's own request path (measured: ~1.3 ms vs ~0.25 ms p50 for ``/fhir/metadata`` at 1 client),
    and client and server share the same two cores, so with httpx the benchmark mostly timed httpx.
    It sends a fixed request, reads the head up to the blank line and exactly ``Content-Length`` body
    bytes (the service always sends one), and refuses anything but 200.
    """

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self._auth = f"authorization: Bearer {token}\r\n".encode()
        self.reader = self.writer = None

    async def __aenter__(self) -> RawHttp:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc) -> None:
        self.writer.close()

    async def get(self, path: str) -> bytes:
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nhost: 127.0.0.1\r\n" + self._auth + b"\r\n")
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200 "):
            status_line = head.split(b"\r\n", 1)[0].decode()
            raise RuntimeError(f"GET {path}: {status_line}")
        lower = head.lower()
        at = lower.index(b"\r\ncontent-length:") + 17
        return await self.reader.readexactly(int(lower[at:lower.index(b"\r\n", at)]))


async def bench_service(base: str, token: str, workload: str, ids: list[str], n_clients: int, seconds: float,
                        client: str = "raw") -> dict:  # fmt: skip
    """``n_clients`` concurrent keep-alive connections, each sending one request after the other."""
    if client == "httpx":
        return await _bench_service_httpx(base, token, workload, ids, n_clients, seconds)
    host, port = base.rsplit("//", 1)[1].rsplit(":", 1)

    async def worker(i: int, stop_at: float) -> list[float]:
        rng = random.Random(i)
        out = []
        async with RawHttp(host, int(port), token) as http:
            await http.get("/fhir/metadata")  # connection open and warm
            while time.perf_counter() < stop_at:
                path = _service_path(workload, rng.choice(ids))
                t0 = time.perf_counter()
                await http.get(path)
                out.append(time.perf_counter() - t0)
        return out

    return await _drive(n_clients, seconds, worker)


async def _bench_service_httpx(base: str, token: str, workload: str, ids: list[str], n_clients: int,
                               seconds: float) -> dict:  # fmt: skip
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=n_clients, max_keepalive_connections=n_clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:

        async def worker(i: int, stop_at: float) -> list[float]:
            rng = random.Random(i)
            out = []
            while time.perf_counter() < stop_at:
                path = _service_path(workload, rng.choice(ids))
                t0 = time.perf_counter()
                r = await http.get(path)
                r.raise_for_status()
                r.content  # noqa: B018 - the body is part of the cost
                out.append(time.perf_counter() - t0)
            return out

        await http.get("/fhir/metadata")  # warm the connection
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
        await pool.wait(timeout=30)  # every connection open before the clock starts, as the service's are
        for i in range(pool_size * 6):  # and warm: psycopg prepares a statement on its 5th use per connection
            async with pool.connection() as conn:
                await direct_query(conn, workload, ids[i % len(ids)])

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
    """Before timing: the service serves exactly the rows the direct queries return, through both clients."""
    import httpx
    import psycopg

    host, port = base.rsplit("//", 1)[1].rsplit(":", 1)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client, \
            RawHttp(host, int(port), token) as raw:  # fmt: skip
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:
            for pid in ids[:3]:
                (text,) = await direct_query(conn, "patient_read", pid)
                for body in ((await client.get(_service_path("patient_read", pid))).content,
                             await raw.get(_service_path("patient_read", pid))):  # fmt: skip
                    assert json.loads(body) == json.loads(text), "patient read differs"
                total, rows = await direct_query(conn, "observation_search", pid)
                for body in ((await client.get(_service_path("observation_search", pid))).content,
                             await raw.get(_service_path("observation_search", pid))):  # fmt: skip
                    bundle = json.loads(body)
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


def in_app(pg_url: str, clients_json: str, jwt_key: str, ids: list[str], seconds: float) -> dict:
    """Server-side cost per request with no HTTP in between: the ASGI app called in process, one request at
    a time, vs the direct statements on the app's own pool. CPU (this process) and wall time, in µs.

    It separates what the service's Python path costs from what the HTTP transport and the shared cores
    add, which the over-the-wire rows cannot do on a loaded 2-core machine.
    """
    from workbench.clinical.service import ServiceConfig, create_app, issue_token

    config = ServiceConfig.from_env({"WORKBENCH_PG_URL": pg_url, "WORKBENCH_JWT_KEY": jwt_key,
                                     "WORKBENCH_FHIR_CLIENTS": clients_json, "WORKBENCH_FHIR_MAX_COUNT": "100"})  # fmt: skip
    app = create_app(config)
    token = issue_token(config, "bench", frozenset(["system/Patient.read", "system/Observation.read"]))["access_token"]
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode())]

    async def call(workload: str, pid: str) -> None:
        path, _, query = _service_path(workload, pid).partition("?")
        from urllib.parse import unquote

        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http", "root_path": "",
                 "headers": headers, "state": {}, "method": "GET", "path": unquote(path), "raw_path": path.encode(),
                 "query_string": query.encode()}  # fmt: skip
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(f"in-app {workload}: status {sent[0]['status']}")

    async def run() -> dict:
        out = {}
        async with app.router.lifespan_context(app):
            pool = app.state.pool

            async def direct(workload: str, pid: str) -> None:
                async with pool.connection() as conn:
                    await direct_query(conn, workload, pid)

            for workload in ("patient_read", "observation_search"):
                row = {}
                for side, fn in (("service", call), ("postgres", direct)):
                    for i in range(30):  # warm: psycopg prepares statements after 5 uses
                        await fn(workload, ids[i % len(ids)])
                    n, t0, c0 = 0, time.perf_counter(), time.process_time()
                    while time.perf_counter() - t0 < seconds / 2:
                        await fn(workload, ids[n % len(ids)])
                        n += 1
                    row[side] = {"requests": n, "wall_us": 1e6 * (time.perf_counter() - t0) / n,
                                 "cpu_us": 1e6 * (time.process_time() - c0) / n}  # fmt: skip
                out[workload] = row
        return out

    return asyncio.run(run())


def _ratio_rows(results: list[dict], inside: dict, client: str) -> list[dict]:
    rows = []
    for workload in ("patient_read", "observation_search"):
        for n in sorted({r["clients"] for r in results if r["workload"] == workload}):
            points = [r for r in results if r["workload"] == workload and r["clients"] == n]
            ratios = [r["postgres"]["p50_ms"] / r["service"]["p50_ms"] for r in points]
            rows.append({"benchmark": "fhir_service", "work": f"{workload}, {n} clients, p50 latency",
                         "peer": "PostgreSQL direct (psycopg async, same pool size, same statements)",
                         "ratio_min": min(ratios), "ratio_max": max(ratios),
                         "headline": workload == "patient_read" and n == 8,
                         "note": f"peer time / service time over loopback HTTP ({client} client); below 1 = the REST "
                                 "layer costs that factor"})  # fmt: skip
    for workload, row in inside.items():
        ratio = row["postgres"]["cpu_us"] / row["service"]["cpu_us"]
        rows.append({"benchmark": "fhir_service", "work": f"{workload}, in-app CPU per request (no HTTP)",
                     "peer": "PostgreSQL direct on the app's pool", "ratio_min": ratio, "ratio_max": ratio,
                     "headline": False, "note": "client-side CPU of one request, ASGI app vs the bare statements"})  # fmt: skip
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
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="HTTP client of the service side: raw (minimal keep-alive client, default) or httpx")
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
            floor = asyncio.run(bench_service(base, token, "http_floor", ids, 1, args.seconds, args.client))
            print(f"http_floor            1 client : {floor['rps']:8.1f} req/s p50 {floor['p50_ms']:7.2f} ms", flush=True)
            for repeat in range(args.repeats):
                for workload in ("patient_read", "observation_search"):
                    for n in levels:
                        load = os.getloadavg()[0]
                        service = asyncio.run(bench_service(base, token, workload, ids, n, args.seconds, args.client))
                        direct = asyncio.run(bench_direct(pg.url, workload, ids, n, args.seconds, args.pool_size))
                        row = {
                            "workload": workload, "clients": n, "repeat": repeat, "service": service, "postgres": direct,
                            "load_1min": load,
                            "throughput_overhead": direct["rps"] / service["rps"] if service["rps"] else None,
                            "p50_overhead": service["p50_ms"] / direct["p50_ms"] if direct["p50_ms"] else None,
                        }  # fmt: skip
                        results.append(row)
                        print(f"{workload:19s} {n:3d} clients: service {service['rps']:8.1f} req/s p50 {service['p50_ms']:7.2f} ms "
                              f"p99 {service['p99_ms']:7.2f} ms | postgres {direct['rps']:8.1f} req/s p50 {direct['p50_ms']:6.2f} ms "
                              f"| overhead x{row['throughput_overhead']:.1f} throughput, x{row['p50_overhead']:.1f} p50", flush=True)  # fmt: skip
        finally:
            _stop(proc)
        inside = in_app(pg.url, clients_json, jwt_key, ids, args.seconds)
        for workload, row in inside.items():
            print(f"in-app {workload:19s}: service {row['service']['cpu_us']:6.0f} us CPU {row['service']['wall_us']:6.0f} us wall"
                  f" | postgres {row['postgres']['cpu_us']:6.0f} us CPU {row['postgres']['wall_us']:6.0f} us wall", flush=True)  # fmt: skip
    report = {
        "benchmark": "fhir_service",
        "label": args.label,
        "settings": {"patients": args.patients, "observations": counts.observations, "seconds_per_point": args.seconds,
                     "clients": levels, "pool_size_both_sides": args.pool_size, "page_size": PAGE,
                     "repeats": args.repeats, "smoke": args.smoke},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "http_client": args.client,
        "load_1min_range": [min(r["load_1min"] for r in results), max(r["load_1min"] for r in results)],
        "http_floor_1_client": floor,
        "in_app_1_client": inside,
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
        f"p50 {floor['p50_ms']:.2f} ms. Clients are Python in one process: {args.client} for HTTP, psycopg async direct. "
        f"1-minute load average during the run: {report['load_1min_range'][0]:.1f}-{report['load_1min_range'][1]:.1f}.",
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
    lines += ["", "Inside the app (ASGI called in process, 1 request at a time, no HTTP), µs per request:", "",
              "| workload | service CPU | service wall | PostgreSQL direct CPU | direct wall | CPU ratio |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for workload, row in inside.items():
        sv, pg_ = row["service"], row["postgres"]
        lines.append(f"| {workload} | {sv['cpu_us']:.0f} | {sv['wall_us']:.0f} | {pg_['cpu_us']:.0f} | {pg_['wall_us']:.0f} | "
                     f"×{sv['cpu_us'] / pg_['cpu_us']:.1f} |")  # fmt: skip
    (out / f"fhir_service{suffix}.md").write_text("\n".join(lines) + "\n")
    if not args.smoke:
        (out / "fhir_service.summary.json").write_text(json.dumps(_ratio_rows(results, inside, args.client), indent=2))
    else:
        (out / "fhir_service.summary.json").write_text(json.dumps(
            [{**row, "note": "smoke run: toy sizes, not a measurement"} for row in _ratio_rows(results, inside, args.client)], indent=2))
    print(f"wrote {out / f'fhir_service{suffix}.json'}, .md and fhir_service.summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
