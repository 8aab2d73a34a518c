"""A created blood-pressure + heart-rate pair flows into the feature lake and through its resolver."""

from __future__ import annotations

import json
import math

import psycopg
import pytest

from workbench.clinical.service import ServiceConfig, create_app
from workbench.clinical.service.lake_flow import CONTEXT_EXTENSION, LakeFlow

pytestmark = pytest.mark.postgres

WHEN = "2026-10-05T18:20:00+08:00"


def _bp(patient_id: str, sbp: int, dbp: int) -> dict:
    quantity = lambda v: {"value": v, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}  # noqa: E731
    return {
        "resourceType": "Observation", "identifier": [{"system": "urn:test:lake", "value": f"bp-{patient_id}"}],
        "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": WHEN,
        "extension": [{"url": CONTEXT_EXTENSION, "valueCode": "exercise"}],
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": quantity(sbp)},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": quantity(dbp)},
        ],
    }  # fmt: skip


def _hr(patient_id: str, rate: int) -> dict:
    return {
        "resourceType": "Observation", "identifier": [{"system": "urn:test:lake", "value": f"hr-{patient_id}"}],
        "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": WHEN,
        "valueQuantity": {"value": rate, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }  # fmt: skip


def test_created_reading_reaches_the_lake_and_its_resolver(service_config, service_db, token_for, patient_ids,
                                                           pseudonym_key, tmp_path):  # fmt: skip
    from fastapi.testclient import TestClient

    from workbench.clinical import mean_arterial_pressure
    from workbench.clinical.lake_features import MAP, SYSTOLIC
    from workbench.lake import EventKey, FeatureLake

    lake_path = str(tmp_path / "lake")
    config = ServiceConfig(pg_url=service_db, jwt_key=service_config.jwt_key, clients=service_config.clients,
                           allowed_hosts=service_config.allowed_hosts,
                           lake_path=lake_path, pseudonym_key=pseudonym_key)  # fmt: skip
    patient = patient_ids[9]
    headers = {"Authorization": f"Bearer {token_for('writer')}", "Content-Type": "application/fhir+json"}
    with TestClient(create_app(config)) as client:
        first = client.post("/fhir/Observation", content=json.dumps(_bp(patient, 162, 84)), headers=headers)
        assert first.status_code == 201
        with psycopg.connect(service_db) as conn:  # half a reading: nothing to write yet
            assert conn.execute("SELECT lake_synced_at FROM fhir.observation WHERE id = %s",
                                (first.json()["id"],)).fetchone()[0] is None  # fmt: skip
        second = client.post("/fhir/Observation", content=json.dumps(_hr(patient, 130)), headers=headers)
        assert second.status_code == 201
    with psycopg.connect(service_db) as conn:
        synced = conn.execute("SELECT count(*) FROM fhir.observation WHERE id = ANY(%s) AND lake_synced_at IS NOT NULL",
                              ([first.json()["id"], second.json()["id"]],)).fetchone()[0]  # fmt: skip
    assert synced == 2
    lake = FeatureLake.open(lake_path)
    key = EventKey({"patient": patient}, window="hour")
    assert lake.get(key, SYSTOLIC, window="hour", at="2026-10-05T19:00:00") == 162.0
    expected_map = float(mean_arterial_pressure(162.0, 84.0, 130.0))
    assert math.isclose(lake.get(key, MAP, window="hour", at="2026-10-05T19:00:00"), expected_map, rel_tol=1e-9)
    # Nothing left pending: a second sync writes nothing.
    assert LakeFlow(service_db, lake_path, pseudonym_key).sync().readings == 0


def test_lake_flow_refuses_a_key_other_than_the_databases(api, service_db, token_for, patient_ids, tmp_path):
    patient = patient_ids[10]
    headers = {"Authorization": f"Bearer {token_for('writer')}", "Content-Type": "application/fhir+json"}
    for resource in (_bp(patient, 150, 90), _hr(patient, 70)):  # the session app has no lake: stays pending
        assert api.post("/fhir/Observation", content=json.dumps(resource), headers=headers).status_code == 201
    with pytest.raises(RuntimeError, match="key differs"):
        LakeFlow(service_db, str(tmp_path / "lake"), b"another-key-of-at-least-32-bytes!!").sync()
    with pytest.raises(ValueError, match="lake_path"):
        LakeFlow(service_db, "", b"k" * 32)
