"""The coding router on a minimal FastAPI app: scopes, OperationOutcome errors, limits, no text logged,
Conditions validated and stored, and the HTML page driven in headless Chromium."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

pytest.importorskip("simple_icd_10_cm")

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from workbench.clinical.service import JwtKey, ServiceConfig, issue_token  # noqa: E402
from workbench.clinical.service import coding_router as cr  # noqa: E402
from workbench.clinical.service.auth import AuthError, ClientRegistry, TokenGate  # noqa: E402
from workbench.clinical.service.config import ClientRecord, hash_secret  # noqa: E402

NOTE = "left chronic otitis media status post"
SECRET_WORD = "Zyxwvutsonian"  # a word that must never reach a log line


def _config(pg_url: str = "postgresql://nobody@127.0.0.1:1/none") -> ServiceConfig:
    key = secrets.token_hex(32).encode()
    coder = ClientRecord("coder", "client_credentials", hash_secret(secrets.token_hex(8)), frozenset(cr.SCOPES))
    return ServiceConfig(pg_url=pg_url, jwt_key=JwtKey("HS256", key, key), clients={"coder": coder},
                         allowed_hosts=("127.0.0.1", "localhost", "testserver"))


def _app(config: ServiceConfig, *, with_pool: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not with_pool:
            yield
            return
        from psycopg_pool import AsyncConnectionPool

        async with AsyncConnectionPool(config.pg_url, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            app.state.pool = pool
            yield

    app = FastAPI(lifespan=lifespan)
    app.state.config = config
    app.state.tokens = TokenGate(config, ClientRegistry(config.clients))  # the FHIR app's gate (revocation)
    app.include_router(cr.router)  # the one line the FHIR app needs

    @app.exception_handler(AuthError)
    async def _auth(request, exc):
        return cr.auth_error_response(exc)

    return app


def _token(config: ServiceConfig, *scopes: str) -> dict:
    return {"Authorization": "Bearer " + issue_token(config, "coder", frozenset(scopes))["access_token"]}


@pytest.fixture(scope="module")
def service():
    config = _config()
    with TestClient(_app(config)) as client:
        yield client, config


def test_suggest_answers_the_tutorial_example(service):
    client, config = service
    r = client.post("/coding/icd10cm/$suggest", json={"text": NOTE}, headers=_token(config, cr.SUGGEST_SCOPE))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["main"]["code"] == "H66.92" and body["main"]["matched_text"] == "Chronic otitis media NOS"
    assert 0 < body["main"]["probability"] < 1 and body["code_system"] == cr.ICD10CM_SYSTEM
    assert r.headers["cache-control"] == "no-store"


def test_fhir_parameters_form_and_draft_conditions(service):
    client, config = service
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "text", "valueString": "Chronic otitis media, left. HTN."},
        {"name": "count", "valueInteger": 5},
        {"name": "subject", "valueReference": {"reference": "Patient/abc"}}]}  # fmt: skip
    r = client.post("/coding/icd10cm/$suggest", json=params, headers=_token(config, cr.SUGGEST_SCOPE))
    assert r.status_code == 200, r.text
    conditions = r.json()["conditions"]
    assert [c["code"]["coding"][0]["code"] for c in conditions] == ["H66.92", "I10"]
    from fhir.resources.R4B.condition import Condition

    for c in conditions:
        Condition.model_validate(c)
        assert c["verificationStatus"]["coding"][0]["code"] == "provisional"


@pytest.mark.parametrize("headers, status", [({}, 401), ({"Authorization": "Bearer not-a-jwt"}, 401)])
def test_missing_or_bad_token_is_401_outcome(service, headers, status):
    client, _ = service
    r = client.post("/coding/icd10cm/$suggest", json={"text": NOTE}, headers=headers)
    assert r.status_code == status and r.json()["resourceType"] == "OperationOutcome"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_token_without_the_coding_scope_is_403(service):
    client, config = service
    r = client.post("/coding/icd10cm/$suggest", json={"text": NOTE}, headers=_token(config, "system/Patient.read"))
    assert r.status_code == 403 and cr.SUGGEST_SCOPE in r.headers["www-authenticate"]
    # The write scope does not imply the suggest scope, nor the other way round.
    r = client.post("/fhir/Condition", json={}, headers=_token(config, cr.SUGGEST_SCOPE))
    assert r.status_code == 403


@pytest.mark.parametrize("body, status, words", [
    ({"text": ""}, 400, "non-empty"),
    ({"text": "x" * 6000}, 413, "at most"),
    ({"text": NOTE, "count": 99}, 400, "count"),
    ({"text": NOTE, "subject": "Observation/1"}, 400, "Patient/"),
    ([NOTE], 400, "JSON object"),
])  # fmt: skip
def test_bad_input_is_an_operation_outcome(service, body, status, words):
    client, config = service
    r = client.post("/coding/icd10cm/$suggest", json=body, headers=_token(config, cr.SUGGEST_SCOPE))
    assert r.status_code == status and r.headers["content-type"].startswith("application/fhir+json")
    assert words in r.json()["issue"][0]["diagnostics"]


def test_body_limit_and_media_type(service):
    client, config = service
    headers = _token(config, cr.SUGGEST_SCOPE)
    big = json.dumps({"text": "otitis " * 3000})
    r = client.post("/coding/icd10cm/$suggest", content=big, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.post("/coding/icd10cm/$suggest", content=NOTE, headers={**headers, "Content-Type": "text/plain"})
    assert r.status_code == 415


def test_the_note_is_never_logged_nor_echoed(service, caplog):
    client, config = service
    headers = _token(config, cr.SUGGEST_SCOPE)
    with caplog.at_level(logging.DEBUG):
        client.post("/coding/icd10cm/$suggest", json={"text": f"{SECRET_WORD} otitis"}, headers=headers)
        r = client.post("/coding/icd10cm/$suggest", content=f'{{"text": "{SECRET_WORD}', headers={
            **headers, "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 400 and SECRET_WORD not in r.text
    assert all(SECRET_WORD not in record.getMessage() for record in caplog.records)


def test_the_page_is_served_with_a_nonce_csp(service):
    client, _ = service
    r = client.get("/coding/icd10cm")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in r.text and "innerHTML" not in r.text.split("<script")[1].split("//")[0]
    assert client.get("/coding/icd10cm").headers["content-security-policy"] != csp  # fresh per answer


# ---------------------------------------------------------------------------------- Conditions
@pytest.fixture(scope="module")
def condition_service(service_db):
    config = _config(service_db)
    import psycopg

    with psycopg.connect(service_db) as conn:
        patient = conn.execute("SELECT id FROM fhir.patient ORDER BY id LIMIT 1").fetchone()[0]
    with TestClient(_app(config, with_pool=True)) as client:
        yield client, config, patient, service_db


def test_a_suggested_condition_posts_validates_and_replays(condition_service):
    client, config, patient, url = condition_service
    headers = _token(config, cr.SUGGEST_SCOPE, cr.CONDITION_WRITE_SCOPE)
    drafts = client.post("/coding/icd10cm/$suggest", json={"text": NOTE, "subject": f"Patient/{patient}"},
                         headers=headers).json()["conditions"]  # fmt: skip
    r = client.post("/fhir/Condition", json=drafts[0], headers=headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["id"] and r.headers["location"].endswith(f"/fhir/Condition/{created['id']}/_history/1")
    again = client.post("/fhir/Condition", json=drafts[0], headers=headers)
    assert again.status_code == 200 and again.json()["id"] == created["id"]  # a replay, not a second row
    clash = {**drafts[0], "clinicalStatus": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]}}  # fmt: skip
    assert client.post("/fhir/Condition", json=clash, headers=headers).status_code == 409
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT code, patient_id FROM fhir.condition WHERE id = %s", (created["id"],)).fetchall()
    assert rows == [("H66.92", patient)]


@pytest.mark.parametrize("change, status, words", [
    ({"code": {"coding": [{"system": cr.ICD10CM_SYSTEM, "code": "H66.9"}]}}, 422, "billable"),
    ({"code": {"coding": [{"system": "http://snomed.info/sct", "code": "21186006"}]}}, 422, "exactly one coding"),
    ({"subject": {"reference": "Patient/no-such-patient"}}, 422, "no known Patient"),
    ({"clinicalStatus": "active"}, 400, "not a valid FHIR R4 Condition"),
    ({"id": "chosen-by-client"}, 400, "leave out 'id'"),
])  # fmt: skip
def test_invalid_conditions_are_refused(condition_service, change, status, words):
    client, config, patient, _ = condition_service
    good = cr.condition_resource("H66.92", "Otitis media, unspecified, left ear", f"Patient/{patient}")
    r = client.post("/fhir/Condition", json={**good, **change}, headers=_token(config, cr.CONDITION_WRITE_SCOPE))
    assert r.status_code == status and words in r.json()["issue"][0]["diagnostics"], r.text


# ------------------------------------------------------------------------------------- browser
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")


def test_the_page_shows_main_diagnosis_and_cc_in_chromium():
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make setup-system)")
    from workbench.clinical.service import serve_in_background

    config = _config()
    with serve_in_background(_app(config)) as server, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{server.url}/coding/icd10cm", timeout=30_000)
            page.fill("#token", _token(config, cr.SUGGEST_SCOPE)["Authorization"].split()[1])
            page.fill("#note", "Left chronic otitis media. HTN. No fever.")
            page.click("#suggest")
            page.wait_for_selector("#codes tbody tr.main", timeout=30_000)
            cells = page.locator("#codes tbody tr").all_inner_texts()
            assert cells[0].split("\t")[:2] == ["main", "H66.92"]
            assert cells[1].split("\t")[:2] == ["CC", "I10"]
            assert "fever" in page.inner_text("#negated")
            page.fill("#token", "wrong")
            page.click("#suggest")
            page.wait_for_selector("#error:has-text('JWT')", timeout=30_000)
            assert not errors or all("401" in e for e in errors)
        finally:
            browser.close()


def test_the_fhir_app_serves_the_coding_routes_with_its_scopes():
    from workbench.clinical.service import config as service_config
    from workbench.clinical.service.app import create_app

    app = create_app(_config())
    paths = set(app.openapi()["paths"])  # routers are included lazily; the schema lists every route
    assert {"/coding/icd10cm/$suggest", "/fhir/Condition"} <= paths
    assert set(cr.SCOPES) <= set(service_config.SCOPES), "the token endpoint must be able to grant the coding scopes"


def test_a_revoked_or_removed_client_cannot_ask_for_codes():
    config = _config()
    app = _app(config)
    with TestClient(app) as client:
        headers = _token(config, cr.SUGGEST_SCOPE)
        ok = client.post("/coding/icd10cm/$suggest", json={"text": NOTE}, headers=headers)
        assert ok.status_code == 200
        claims, _ = app.state.tokens.verify(headers["Authorization"].split()[1])
        app.state.tokens.revoke(claims)
        assert client.post("/coding/icd10cm/$suggest", json={"text": NOTE}, headers=headers).status_code == 401
        headers = _token(config, cr.SUGGEST_SCOPE)
        app.state.tokens.registry.replace({})
        assert client.post("/coding/icd10cm/$suggest", json={"text": NOTE}, headers=headers).status_code == 401


def test_the_router_fits_the_real_fhir_app_with_one_include(service_db):
    # create_app includes the router: the FHIR app's own handlers answer the router's token errors, and its
    # guard and body-size middleware sit in front of it.
    from workbench.clinical.service import create_app

    config = _config(service_db)
    app = create_app(config)
    with TestClient(app) as client:
        ok = client.post("/coding/icd10cm/$suggest", json={"text": NOTE}, headers=_token(config, cr.SUGGEST_SCOPE))
        assert ok.status_code == 200 and ok.json()["main"]["code"] == "H66.92"
        refused = client.post("/coding/icd10cm/$suggest", json={"text": NOTE}, headers=_token(config, "system/Patient.read"))
        assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
        assert client.get("/fhir/metadata").status_code == 200
        assert "/coding/icd10cm/$suggest" in client.get("/openapi.json").json()["paths"]
