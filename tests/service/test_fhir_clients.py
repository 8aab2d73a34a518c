"""Issue 22 item 14: two real FHIR clients, fhirpy and fhirclient, drive the live service over loopback
through search, paging, read, count and create."""

from __future__ import annotations

import pytest

from workbench.clinical.service import create_app, serve_in_background

pytestmark = pytest.mark.postgres
fhirpy = pytest.importorskip("fhirpy", reason="fhirpy is in the dev extra: pip install -e .[dev]")
fhirclient = pytest.importorskip("fhirclient", reason="fhirclient is in the dev extra: pip install -e .[dev]")


@pytest.fixture(scope="module")
def live(service_config):
    with serve_in_background(create_app(service_config)) as server:
        yield server.url + "/fhir"


def _heart_rate(patient_id: str, value: str) -> dict:
    return {
        "resourceType": "Observation", "identifier": [{"system": "urn:test:fhir-clients", "value": value}],
        "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": "2026-10-06T08:00:00+08:00",
        "valueQuantity": {"value": 61, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }  # fmt: skip


def test_fhirpy_search_paging_read_count_create(live, token_for, patient_ids):
    from fhirpy import SyncFHIRClient

    client = SyncFHIRClient(live, authorization=f"Bearer {token_for('writer')}")
    females = client.resources("Patient").search(gender="female").limit(3).fetch()
    assert females and all(p["gender"] == "female" for p in females)
    everyone = client.resources("Patient").limit(5).fetch_all()  # follows the next links
    assert sorted(p["id"] for p in everyone) == sorted(patient_ids)
    patient = client.reference("Patient", patient_ids[5]).to_resource()
    assert patient["id"] == patient_ids[5]
    search = client.resources("Observation").search(subject=f"Patient/{patient_ids[5]}", code="85354-9")
    # fhirpy's count() adds the Aidbox-only _totalMethod: a strict server refuses it, so count leniently.
    lenient = SyncFHIRClient(live, authorization=f"Bearer {token_for('writer')}",
                             extra_headers={"Prefer": "handling=lenient"})  # fmt: skip
    counted = lenient.resources("Observation").search(subject=f"Patient/{patient_ids[5]}", code="85354-9").count()
    assert counted == len(search.limit(50).fetch_all()) > 0
    created = client.resource("Observation", **_heart_rate(patient_ids[5], "fhirpy-1"))
    created.save()
    assert created["id"] and client.reference("Observation", created["id"]).to_resource()["valueQuantity"]["value"] == 61


def test_fhirclient_search_paging_read_count_create(live, token_for, patient_ids):
    from fhirclient.models.observation import Observation
    from fhirclient.models.patient import Patient
    from fhirclient.server import FHIRServer

    server = FHIRServer(None, live)
    server.session.headers["Authorization"] = f"Bearer {token_for('writer')}"
    pages = list(Patient.where(struct={"_count": "7"}).perform_iter(server))
    assert len(pages) > 1, "paged through next links"
    ids = [entry.resource.id for page in pages for entry in page.entry or []]
    assert sorted(ids) == sorted(patient_ids)
    assert Patient.read(patient_ids[6], server).id == patient_ids[6]
    females = list(Patient.where(struct={"gender": "female"}).perform_resources_iter(server))
    assert females and all(p.gender == "female" for p in females)
    total = next(Observation.where(struct={"subject": f"Patient/{patient_ids[6]}", "_summary": "count"})
                 .perform_iter(server)).total  # fmt: skip
    listed = list(Observation.where(struct={"subject": f"Patient/{patient_ids[6]}", "_count": "50"})
                  .perform_resources_iter(server))  # fmt: skip
    assert total == len(listed) > 0
    observation = Observation(_heart_rate(patient_ids[6], "fhirclient-1"))
    answer = observation.create(server)
    assert answer["id"] and Observation.read(answer["id"], server).valueQuantity.value == 61
