"""The FHIR routes against a real PostgreSQL: reads, searches, keyset paging, creation, errors."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

pytestmark = pytest.mark.postgres

FHIR_JSON = "application/fhir+json"


def _outcome(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] and body["issue"][0]["severity"] == "error"
    return body


def _all_pages(api, url: str, headers: dict, params: dict | None = None) -> tuple[list[dict], list[int]]:
    """Follow next links; return every entry's resource and the total reported on each page."""
    resources, totals = [], []
    response = api.get(url, params=params, headers=headers)
    while True:
        assert response.status_code == 200, response.text
        bundle = response.json()
        totals.append(bundle["total"])
        resources += [e["resource"] for e in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            return resources, totals
        response = api.get(nxt[0], headers=headers)


def _observation(patient_id: str, value: str, *, hr: int = 72, system: str = "urn:test:readings",
                 when: str = "2026-10-01T07:30:00+08:00") -> dict:  # fmt: skip
    return {
        "resourceType": "Observation",
        "identifier": [{"system": system, "value": value}],
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": hr, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }  # fmt: skip


def _post(api, headers, resource, content_type=FHIR_JSON):
    return api.post("/fhir/Observation", content=json.dumps(resource), headers={**headers, "Content-Type": content_type})


# ------------------------------------------------------------------------------------------ metadata
def test_metadata_is_a_valid_capability_statement_matching_the_routes(api):
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    response = api.get("/fhir/metadata")
    assert response.status_code == 200 and response.headers["content-type"].startswith(FHIR_JSON)
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {i["code"] for i in resources["Patient"]["interaction"]} == {"read", "search-type"}
    assert {i["code"] for i in resources["Observation"]["interaction"]} == {"read", "search-type", "create"}
    # Every advertised route exists in the app's OpenAPI schema, and vice versa for FHIR paths.
    paths = set(api.get("/openapi.json").json()["paths"])
    assert paths >= {"/fhir/metadata", "/fhir/Patient", "/fhir/Patient/{patient_id}", "/fhir/Observation",
                     "/fhir/Observation/{observation_id}"}  # fmt: skip
    advertised = {p["name"] for p in resources["Observation"]["searchParam"]}
    assert advertised == {"subject", "code", "date", "_count", "_sort", "_summary"}


# -------------------------------------------------------------------------------------------- reads
def test_patient_read_returns_the_pseudonymous_patient(api, auth, patient_ids):
    response = api.get(f"/fhir/Patient/{patient_ids[0]}", headers=auth("reader"))
    assert response.status_code == 200 and response.headers["content-type"].startswith(FHIR_JSON)
    patient = response.json()
    assert patient["id"] == patient_ids[0]
    assert patient["identifier"] == [{"system": "urn:workbench:pseudonym:hmac-sha256", "value": patient_ids[0]}]
    assert "name" not in patient


def test_unknown_and_malformed_ids(api, auth):
    _outcome(api.get("/fhir/Patient/00000000-0000-0000-0000-000000000000", headers=auth("reader")), 404)
    _outcome(api.get("/fhir/Observation/no-such-observation", headers=auth("reader")), 404)
    _outcome(api.get("/fhir/Patient/bad%27id", headers=auth("reader")), 400)
    _outcome(api.get("/fhir/Nothing", headers=auth("reader")), 404)


# ----------------------------------------------------------------------------------------- searches
def test_patient_search_by_gender_and_birthdate_matches_the_database(api, auth, service_db):
    with psycopg.connect(service_db) as conn:
        expected = {r[0] for r in conn.execute(
            "SELECT id FROM fhir.patient WHERE gender = 'female' AND birth_date >= '1960-01-01'"
            " AND birth_date < '1980-01-01'")}  # fmt: skip
    found, totals = _all_pages(api, "/fhir/Patient", auth("reader"),
                               {"gender": "female", "birthdate": ["ge1960", "lt1980"], "_count": 3})  # fmt: skip
    assert {p["id"] for p in found} == expected and len(found) == len(expected)
    assert set(totals) == {len(expected)}
    assert all(p["gender"] == "female" and "1960" <= p["birthDate"] < "1980" for p in found)


def test_empty_parameters_are_ignored(api, auth, patient_ids):
    bundle = api.get("/fhir/Patient?gender=&birthdate=&_count=", headers=auth("reader")).json()
    assert bundle["total"] == len(patient_ids)
    assert api.get("/fhir/Observation?subject=&code=&date=&_sort=", headers=auth("reader")).status_code == 200


def test_observation_search_by_subject_code_and_date_window(api, auth, service_db, patient_ids):
    patient = patient_ids[1]
    with psycopg.connect(service_db) as conn:
        expected = [r[0] for r in conn.execute(
            "SELECT id FROM fhir.observation WHERE patient_id = %s AND code = '85354-9'"
            " AND effective >= '2026-09-05T00:00:00+08:00' AND effective < '2026-09-12T00:00:00+08:00'"
            " ORDER BY effective, id", (patient,))]  # fmt: skip
    assert expected, "the window should hold readings for this patient"
    found, _ = _all_pages(api, "/fhir/Observation", auth("reader"), {
        "subject": f"Patient/{patient}", "code": "http://loinc.org|85354-9",
        "date": ["ge2026-09-05", "lt2026-09-12"], "_count": 4})  # fmt: skip
    assert [o["id"] for o in found] == expected
    effective = [o["effectiveDateTime"] for o in found]
    assert effective == sorted(effective)


def test_date_prefix_semantics(api, auth, service_db):
    headers = auth("reader")
    with psycopg.connect(service_db) as conn:  # a patient with readings on that day (ids vary with the key)
        patient = conn.execute(
            "SELECT patient_id FROM fhir.observation WHERE code = '8867-4' AND origin = 'source'"
            " AND effective >= '2026-09-03T00:00:00+08:00' AND effective < '2026-09-04T00:00:00+08:00'"
            " GROUP BY patient_id ORDER BY count(*) DESC, patient_id LIMIT 1").fetchone()[0]  # fmt: skip
    params = {"subject": patient, "code": "8867-4", "_count": 50}
    whole_day, _ = _all_pages(api, "/fhir/Observation", headers, {**params, "date": "2026-09-03"})
    assert whole_day and all(o["effectiveDateTime"].startswith("2026-09-03") for o in whole_day)
    le, _ = _all_pages(api, "/fhir/Observation", headers, {**params, "date": "le2026-09-03"})
    gt, _ = _all_pages(api, "/fhir/Observation", headers, {**params, "date": "gt2026-09-03"})
    everything, _ = _all_pages(api, "/fhir/Observation", headers, params)
    assert {o["id"] for o in le} | {o["id"] for o in gt} == {o["id"] for o in everything}
    assert not {o["id"] for o in le} & {o["id"] for o in gt}
    ne, _ = _all_pages(api, "/fhir/Observation", headers, {**params, "date": "ne2026-09-03"})
    assert {o["id"] for o in ne} == {o["id"] for o in everything} - {o["id"] for o in whole_day}
    # 2026-09-03 in Taiwan starts at 2026-09-02T16:00Z: the same instant in UTC selects the same rows.
    utc, _ = _all_pages(api, "/fhir/Observation", headers,
                        {**params, "date": ["ge2026-09-02T16:00:00Z", "lt2026-09-03T16:00:00Z"]})  # fmt: skip
    assert [o["id"] for o in utc] == [o["id"] for o in whole_day]


def test_sort_descending_and_count_zero(api, auth, patient_ids):
    headers = auth("reader")
    params = {"subject": patient_ids[3], "code": "8867-4"}
    ascending, _ = _all_pages(api, "/fhir/Observation", headers, {**params, "_count": 7})
    descending, _ = _all_pages(api, "/fhir/Observation", headers, {**params, "_count": 7, "_sort": "-date"})
    assert [o["id"] for o in descending] == [o["id"] for o in ascending][::-1]
    only_total = api.get("/fhir/Observation", params={**params, "_count": 0}, headers=headers).json()
    assert only_total["total"] == len(ascending) and "entry" not in only_total


def test_paging_is_stable_under_inserts(api, auth, service_db, patient_ids):
    """Rows inserted between pages (before and after the cursor) neither duplicate nor hide a row."""
    patient = patient_ids[4]
    headers = auth("writer")
    params = {"subject": patient, "code": "8867-4", "_count": 5}
    before = [r[0] for r in psycopg.connect(service_db).execute(
        "SELECT id FROM fhir.observation WHERE patient_id = %s AND code = '8867-4' ORDER BY effective, id",
        (patient,))]  # fmt: skip
    seen: list[str] = []
    response = api.get("/fhir/Observation", params=params, headers=headers)
    page = 0
    while True:
        bundle = response.json()
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        # After each page, insert one reading before everything seen and one after everything.
        for when in ("2026-08-01T08:00:00+08:00", "2026-12-01T08:00:00+08:00"):
            created = _post(api, headers, _observation(patient, f"paging-{page}-{when[:10]}", when=when))
            assert created.status_code == 201, created.text
        page += 1
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            break
        response = api.get(nxt[0], headers=headers)
    original = [i for i in seen if i in set(before)]
    assert original == before, "every row present at the start is served exactly once, in order"
    assert len(seen) == len(set(seen)), "no row is served twice"


# ------------------------------------------------------------------------------- bad search input
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/fhir/Patient", {"gender": "woman"}),
        ("/fhir/Patient", {"birthdate": "1960-13-01"}),
        ("/fhir/Patient", {"birthdate": "ge1960-01-01T10:00"}),
        ("/fhir/Patient", {"name": "anything"}),
        ("/fhir/Observation", {"date": "sa2026-09-01"}),
        ("/fhir/Observation", {"date": "yesterday"}),
        ("/fhir/Observation", {"subject": "Group/1"}),
        ("/fhir/Observation", {"_count": "-1"}),
        ("/fhir/Observation", {"_count": "1e3"}),
        ("/fhir/Observation", {"_count": "100000000000"}),
        ("/fhir/Observation", {"_sort": "value"}),
        ("/fhir/Observation", {"_cursor": "not-a-cursor"}),
        ("/fhir/Observation", {"_count": ["5", "6"]}),
    ],
)
def test_bad_search_parameters_are_400(api, auth, path, params):
    body = _outcome(api.get(path, params=params, headers=auth("reader")), 400)
    assert body["issue"][0]["code"] == "invalid"


def test_huge_count_is_refused_not_clamped(api, auth):
    body = _outcome(api.get("/fhir/Observation", params={"_count": 51}, headers=auth("reader")), 400)
    assert "_count" in body["issue"][0]["diagnostics"]
    assert api.get("/fhir/Observation", params={"_count": 50}, headers=auth("reader")).status_code == 200


INJECTIONS = ["' OR '1'='1", "1; DROP TABLE fhir.patient; --", "x') UNION SELECT resource::text FROM fhir.patient --",
              "\\' OR 1=1 --", "%27%20OR%201=1"]  # fmt: skip


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize(
    ("path", "name"),
    [("/fhir/Patient", "gender"), ("/fhir/Patient", "birthdate"), ("/fhir/Patient", "_count"),
     ("/fhir/Patient", "_cursor"), ("/fhir/Observation", "subject"), ("/fhir/Observation", "code"),
     ("/fhir/Observation", "date"), ("/fhir/Observation", "_count"), ("/fhir/Observation", "_sort"),
     ("/fhir/Observation", "_cursor")],
)  # fmt: skip
def test_sql_injection_in_every_search_parameter_is_refused(api, auth, service_db, path, name, payload):
    response = api.get(path, params={name: payload}, headers=auth("reader"))
    _outcome(response, 400)
    with psycopg.connect(service_db) as conn:
        assert conn.execute("SELECT count(*) FROM fhir.patient").fetchone()[0] > 0


def test_injection_in_a_syntactically_valid_token_matches_nothing(api, auth):
    # "system|code" where the system part carries SQL: a valid token of another system, so no rows.
    bundle = api.get("/fhir/Observation", params={"code": "' OR 1=1 --|8867-4"}, headers=auth("reader")).json()
    assert bundle["total"] == 0


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_in_read_ids_is_refused(api, auth, payload):
    from urllib.parse import quote

    response = api.get("/fhir/Patient/" + quote(payload, safe=""), headers=auth("reader"))
    assert response.status_code in (400, 404)
    _outcome(response, response.status_code)


# ------------------------------------------------------------------------------------------ create
def test_create_observation_then_read_and_search_it(api, auth, patient_ids):
    headers = auth("writer")
    resource = _observation(patient_ids[5], "create-1", hr=88)
    response = _post(api, headers, resource)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"].endswith(f"/fhir/Observation/{created['id']}/_history/1")
    assert created["meta"]["versionId"] == "1" and created["valueQuantity"]["value"] == 88
    read = api.get(f"/fhir/Observation/{created['id']}", headers=headers).json()
    assert read == created
    found = api.get("/fhir/Observation", headers=headers,
                    params={"subject": patient_ids[5], "date": "2026-10-01T07:30:00+08:00"}).json()  # fmt: skip
    assert [e["resource"]["id"] for e in found["entry"]] == [created["id"]]


def test_create_is_idempotent_on_identifier_and_refuses_a_clash(api, auth, patient_ids):
    headers = auth("writer")
    resource = _observation(patient_ids[5], "replay-1")
    first = _post(api, headers, resource)
    again = _post(api, headers, resource, content_type="application/json; charset=utf-8")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    clash = _post(api, headers, _observation(patient_ids[5], "replay-1", hr=150))
    _outcome(clash, 409)


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda r: r.pop("identifier"), 422),
        (lambda r: r.update(status="not-a-status"), 422),
        (lambda r: r.update(resourceType="Patient"), 422),
        (lambda r: r.update(subject={"reference": "Patient/unknown-patient"}), 422),
        (lambda r: r.update(subject={"reference": "Group/1"}), 422),
        (lambda r: r.update(effectiveDateTime="2026-10-01"), 422),
        (lambda r: r.update(effectiveDateTime="2026-10-01T07:30:00"), 422),
        (lambda r: r.update(code={"coding": [{"system": "urn:other", "code": "x"}]}), 422),
        (lambda r: r.update(valueQuantity="seventy"), 422),
    ],
)
def test_invalid_observations_are_422(api, auth, patient_ids, mutate, status):
    resource = _observation(patient_ids[6], f"invalid-{uuid.uuid4()}")
    mutate(resource)
    _outcome(_post(api, auth("writer"), resource), status)


def test_body_that_is_not_json_is_400_and_wrong_content_type_is_415(api, auth):
    headers = {**auth("writer"), "Content-Type": FHIR_JSON}
    _outcome(api.post("/fhir/Observation", content=b"{not json", headers=headers), 400)
    _outcome(api.post("/fhir/Observation", content=b"[]", headers=headers), 422)
    for content_type in ("text/plain", "application/xml", "application/x-www-form-urlencoded"):
        _outcome(api.post("/fhir/Observation", content=b"{}", headers={**auth("writer"), "Content-Type": content_type}), 415)


def test_oversized_body_is_413_declared_or_streamed(api, auth, patient_ids):
    resource = _observation(patient_ids[6], "big")
    resource["note"] = [{"text": "x" * 20_000}]
    _outcome(_post(api, auth("writer"), resource), 413)

    def chunks():  # no Content-Length: the limit must count the streamed bytes
        for _ in range(40):
            yield b"x" * 1000

    headers = {**auth("writer"), "Content-Type": FHIR_JSON}
    _outcome(api.post("/fhir/Observation", content=chunks(), headers=headers), 413)


def test_a_clear_national_id_in_a_posted_resource_is_refused_and_not_echoed(api, auth, patient_ids, small_cohort, caplog):
    national_id = small_cohort["national_id"][0]
    resource = _observation(patient_ids[6], "nid-1")
    resource["note"] = [{"text": f"patient {national_id}"}]
    with caplog.at_level("DEBUG"):
        response = _post(api, auth("writer"), resource)
    body = _outcome(response, 422)
    assert national_id not in response.text and body["issue"][0]["code"] == "security"
    assert national_id not in caplog.text


def test_no_response_carries_a_clear_identifier(api, auth, small_cohort, patient_ids):
    clear = set(small_cohort["national_id"].unique().to_list()) | set(small_cohort["name"].unique().to_list())
    headers = auth("reader")
    texts = [api.get("/fhir/Patient", params={"_count": 50}, headers=headers).text,
             api.get("/fhir/Observation", params={"_count": 50}, headers=headers).text]  # fmt: skip
    texts += [api.get(f"/fhir/Patient/{p}", headers=headers).text for p in patient_ids]
    # A client that searches by a clear id is refused, and does not get it echoed back (diagnostics).
    echoed = api.get("/fhir/Observation", params={"subject": small_cohort["national_id"][0]}, headers=headers)
    assert echoed.status_code == 400 and echoed.json()["issue"][0]["code"] == "security"
    texts += [echoed.text, api.get(f"/fhir/Patient/{small_cohort['national_id'][0]}", headers=headers).text]
    for text in texts:
        assert not any(value in text for value in clear)


def test_every_error_is_an_operation_outcome(api, auth):
    cases = [
        (api.get("/fhir/Patient/x"), 401),
        (api.delete("/fhir/Patient/x", headers=auth("reader")), 405),
        (api.get("/fhir/Unknown", headers=auth("reader")), 404),
        (api.get("/fhir/Observation", params={"_count": "many"}, headers=auth("reader")), 400),
    ]
    for response, status in cases:
        _outcome(response, status)


def test_write_flows_through_the_on_created_hook(service_config, patient_ids, token_for):
    from fastapi.testclient import TestClient

    from workbench.clinical.service import create_app

    seen = []
    with TestClient(create_app(service_config, on_created=seen.append)) as client:
        headers = {"Authorization": f"Bearer {token_for('writer')}"}
        response = _post(client, headers, _observation(patient_ids[7], "hook-1"))
        replay = _post(client, headers, _observation(patient_ids[7], "hook-1"))
    assert (response.status_code, replay.status_code) == (201, 200)
    assert [row["id"] for row in seen] == [response.json()["id"]], "called once, for the new row only"


def test_cors_allows_only_configured_origins(api):
    allowed = api.options("/fhir/metadata", headers={"Origin": "http://127.0.0.1:8888",
                                                     "Access-Control-Request-Method": "GET"})  # fmt: skip
    assert allowed.headers.get("access-control-allow-origin") == "http://127.0.0.1:8888"
    assert "access-control-allow-credentials" not in allowed.headers
    other = api.get("/fhir/metadata", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers

