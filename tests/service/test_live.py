"""Over real sockets: uvicorn in a thread (50 concurrent POSTs), uvicorn in a subprocess via the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from workbench.clinical.service import create_app, free_loopback_port, serve_in_background

pytestmark = pytest.mark.postgres


def _heart_rate(patient_id: str, value: str) -> dict:
    return {
        "resourceType": "Observation", "identifier": [{"system": "urn:test:concurrent", "value": value}],
        "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": "2026-10-02T08:00:00+08:00",
        "valueQuantity": {"value": 64, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }  # fmt: skip


def test_fifty_concurrent_identical_posts_leave_one_row(service_config, service_db, token_for, patient_ids):
    body = json.dumps(_heart_rate(patient_ids[8], "same-reading-50"))
    headers = {"Authorization": f"Bearer {token_for('writer')}", "Content-Type": "application/fhir+json"}

    async def storm(base: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            return await asyncio.gather(*[client.post("/fhir/Observation", content=body, headers=headers)
                                          for _ in range(50)])  # fmt: skip

    with serve_in_background(create_app(service_config)) as server:
        responses = asyncio.run(storm(server.url))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [201], statuses
    assert len({r.json()["id"] for r in responses}) == 1
    with psycopg.connect(service_db) as conn:
        count = conn.execute("SELECT count(*) FROM fhir.observation WHERE identifier_system = 'urn:test:concurrent'"
                             " AND identifier_value = 'same-reading-50'").fetchone()[0]  # fmt: skip
    assert count == 1
    assert not server.running


def test_uvicorn_subprocess_from_the_cli(service_db, clients, client_secrets, small_cohort, patient_ids, tmp_path):
    """`python -m workbench.clinical.cli serve fhir` in a subprocess, spoken to over loopback with httpx."""
    import secrets

    port = free_loopback_port()
    stored = {name: {"grant": c.grant, "secret_hash": c.secret_hash, "scopes": sorted(c.scopes)} for name, c in clients.items()}
    env = {**os.environ, "WORKBENCH_PG_URL": service_db, "WORKBENCH_JWT_KEY": secrets.token_hex(32),
           "WORKBENCH_FHIR_CLIENTS": json.dumps(stored), "WORKBENCH_JWT_TTL_S": "120"}  # fmt: skip
    env.pop("WORKBENCH_LAKE", None)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.clinical.cli", "serve", "fhir", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/fhir/metadata", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as client:
            token = client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "reader",
                                                     "client_secret": client_secrets["reader"]}).json()  # fmt: skip
            assert token["expires_in"] == 120
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            patient = client.get(f"/fhir/Patient/{patient_ids[0]}", headers=headers)
            assert patient.status_code == 200 and patient.json()["id"] == patient_ids[0]
            page = client.get("/fhir/Observation", params={"subject": f"Patient/{patient_ids[0]}", "_count": 3},
                              headers=headers).json()  # fmt: skip
            assert len(page["entry"]) == 3 and page["link"][1]["url"].startswith(base)
            assert client.get("/fhir/Patient", headers={"Authorization": "Bearer x.y.z"}).status_code == 401
            assert client.get("/docs").status_code == 200
            assert client.get("/openapi.json").json()["components"]["securitySchemes"]["smart"]["type"] == "oauth2"
            # A clear national id in the query string is refused, and blanked before the access log sees it.
            refused = client.get("/fhir/Observation", params={"subject": small_cohort["national_id"][0]}, headers=headers)
            assert refused.status_code == 400 and "server" not in refused.headers
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log_text = log_path.read_text()
    assert "GET /fhir/Patient/" in log_text, "the access log is on"
    assert "GET /fhir/Observation?[redacted]" in log_text, "the request with an id was logged, blanked"
    assert not any(nid in log_text for nid in small_cohort["national_id"].unique().to_list())
    assert proc.returncode is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=2)


def test_serve_refuses_a_public_host_without_the_flag(capsys):
    from workbench.clinical.cli import main

    assert main(["serve", "fhir", "--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
