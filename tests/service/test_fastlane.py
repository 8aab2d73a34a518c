"""The fast lane (issue 22, speed) answers the hot GET routes exactly as the FastAPI routes do.

Two apps on one database: the default (fast lane on) and ``fast_lane=False`` (every request through
FastAPI's router and dependencies). Every request below, good or bad, must get the same status, body
and headers (but the request id) from both, and the audit record must name the same route.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from workbench.clinical.service import create_app
from workbench.clinical.service.fastlane import FastLane

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def both(service_config):
    with TestClient(create_app(service_config)) as fast, TestClient(create_app(service_config, fast_lane=False)) as slow:
        yield fast, slow


def _cases(patient_ids, token_for):
    reader, patients_only = token_for("reader"), token_for("patients-only")
    pid = patient_ids[0]
    ok = {"Authorization": f"Bearer {reader}"}
    return [
        (f"/fhir/Patient/{pid}", ok),
        ("/fhir/Patient/no-such-patient", ok),
        ("/fhir/Patient/bad$id", ok),
        (f"/fhir/Patient/{pid}", {}),
        (f"/fhir/Patient/{pid}", {"Authorization": "Bearer not.a.jwt"}),
        (f"/fhir/Patient/{pid}", {"Authorization": "Basic abc"}),
        ("/fhir/Observation/00000000-0000-0000-0000-000000000000", ok),
        ("/fhir/Observation/00000000-0000-0000-0000-000000000000", {"Authorization": f"Bearer {patients_only}"}),
        ("/fhir/Patient?gender=female&_count=3", ok),
        ("/fhir/Patient?gender=nonsense", ok),
        ("/fhir/Patient?unknown=1", ok),
        ("/fhir/Patient?unknown=1", {**ok, "Prefer": "handling=lenient"}),
        ("/fhir/Patient?_summary=count", ok),
        (f"/fhir/Observation?subject=Patient/{pid}&code=85354-9&_count=2", ok),
        (f"/fhir/Observation?subject=Patient/{pid}&_sort=-date&_count=0", ok),
        (f"/fhir/Observation?subject=Patient/{pid}&date=ge2026-01-01&date=lt2027-01-01", ok),
        ("/fhir/Observation?_cursor=forged.cursor", ok),
        ("/fhir/Observation?_count=100000", ok),
        ("/fhir/Observation", {"Authorization": f"Bearer {patients_only}"}),
        ("/fhir/Observation/", ok),  # not the fast lane's: a trailing slash goes on to FastAPI in both apps
        ("/fhir/Patient/a/b", ok),
    ]


def _comparable(response):
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, response.content, headers


def test_the_fast_lane_answers_like_the_fastapi_routes(both, patient_ids, token_for):
    fast, slow = both
    for path, headers in _cases(patient_ids, token_for):
        assert _comparable(fast.get(path, headers=headers)) == _comparable(slow.get(path, headers=headers)), path


def test_next_links_from_the_fast_lane_page_like_the_fastapi_routes(both, patient_ids, token_for):
    fast, slow = both
    headers = {"Authorization": f"Bearer {token_for('reader')}"}
    url = f"/fhir/Observation?subject=Patient/{patient_ids[1]}&_count=5"
    pages = 0
    while url and pages < 4:
        a, b = fast.get(url, headers=headers), slow.get(url, headers=headers)
        assert _comparable(a) == _comparable(b)
        nxt = [link["url"] for link in a.json()["link"] if link["relation"] == "next"]
        url = nxt[0].split("testserver", 1)[-1] if nxt and "testserver" in nxt[0] else (
            "/fhir/" + nxt[0].split("/fhir/", 1)[1] if nxt else None)  # fmt: skip
        pages += 1
    assert pages > 1, "the search paged"


def test_the_fast_lane_serves_exactly_the_four_hot_routes():
    lane = FastLane(app=None, fastapi_app=None, on_error=lambda exc: None)
    lane._routes = {t: t for t in ("/fhir/Patient/{patient_id}", "/fhir/Observation/{observation_id}",
                                   "/fhir/Patient", "/fhir/Observation")}  # fmt: skip
    for path, served in [("/fhir/Patient/abc", True), ("/fhir/Observation/abc", True), ("/fhir/Patient", True),
                         ("/fhir/Observation", True), ("/fhir/Patient/", False), ("/fhir/Patient/a/b", False),
                         ("/fhir/Condition", False), ("/fhir/metadata", False), ("/fhir/Patientx", False),
                         ("/users/me", False), ("/fhir/Observation/a/_history/1", False)]:  # fmt: skip
        scope = {"path": path}
        assert (lane._handler(scope) is not None) == served, path
        assert ("route" in scope) == served, path


def test_the_audit_names_the_same_route_on_both_paths(both, patient_ids, token_for):
    fast, slow = both
    headers = {"Authorization": f"Bearer {token_for('reader')}"}
    records = []
    for client in (fast, slow):
        client.app.state.audit.record = lambda **fields: records.append(fields)
        client.get(f"/fhir/Patient/{patient_ids[2]}", headers=headers)
        client.get("/fhir/Observation?_count=1", headers=headers)
    (a1, a2), (b1, b2) = records[:2], records[2:]
    for x, y in ((a1, b1), (a2, b2)):
        assert {k: v for k, v in x.items() if k != "request_id"} == {k: v for k, v in y.items() if k != "request_id"}
    assert a1["route"] == "/fhir/Patient/{patient_id}" and a1["principal"] == "reader" and a1["ids"] == [patient_ids[2]]
