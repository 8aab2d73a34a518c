import datetime as dt
import hashlib
import json

import polars as pl
import pytest

import workbench.clinical.fhir as fhir_module
from workbench.clinical import generate_cohort, observation_resources, patient_resource, pseudonymize, to_fhir
from workbench.clinical.fhir import effective_datetime, validation_error

KEY = b"an example key of thirty-two bytes!!"


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(n_patients=12, seed=5)


@pytest.fixture(scope="module")
def row(cohort):
    return cohort.row(0, named=True)


def test_patient_carries_only_the_pseudonym(row):
    p = pseudonymize(row["national_id"], KEY)
    patient = patient_resource(row, KEY)
    assert patient == {
        "resourceType": "Patient",
        "id": p,
        "identifier": [{"system": "urn:workbench:pseudonym:hmac-sha256", "value": p}],
        "gender": {"M": "male", "F": "female"}[row["sex"]],
        "birthDate": row["birth_date"].isoformat(),
    }
    assert validation_error(patient) is None
    text = json.dumps(patient, ensure_ascii=False)
    assert row["national_id"] not in text and row["name"] not in text


def test_observations_follow_the_documented_recipe(row):
    p = pseudonymize(row["national_id"], KEY)
    t = row["measured_at"].strftime("%Y-%m-%dT%H:%M:%S") + "+08:00"
    bp, hr = observation_resources(row, KEY)

    def expected_id(code):
        h = hashlib.sha256(f"{p}|{t}|{code}".encode()).hexdigest()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    assert bp["id"] == expected_id("85354-9") and hr["id"] == expected_id("8867-4")
    for obs in (bp, hr):
        assert obs["subject"] == {"reference": f"Patient/{p}"}
        assert obs["effectiveDateTime"] == t
        assert obs["status"] == "final"
        assert obs["category"][0]["coding"][0]["code"] == "vital-signs"
        assert validation_error(obs) is None
    assert bp["code"]["coding"][0]["code"] == "85354-9"
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]) for c in bp["component"]] == [
        ("8480-6", {"value": row["systolic"], "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}),
        ("8462-4", {"value": row["diastolic"], "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}),
    ]
    assert hr["code"]["coding"][0]["code"] == "8867-4"
    assert hr["valueQuantity"] == {
        "value": row["heart_rate"], "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"
    }  # fmt: skip
    assert "component" not in hr and "valueQuantity" not in bp


def test_effective_datetime_drops_fractions_and_refuses_aware_times():
    assert effective_datetime(dt.datetime(2026, 9, 1, 7, 5, 9, 999)) == "2026-09-01T07:05:09+08:00"
    with pytest.raises(ValueError, match="naive"):
        effective_datetime(dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc))


def test_row_errors_name_the_missing_field(row):
    with pytest.raises(ValueError, match="systolic"):
        observation_resources({**row, "systolic": None}, KEY)
    with pytest.raises(TypeError, match="mapping"):
        patient_resource(list(row.values()), KEY)
    with pytest.raises(ValueError, match="sex"):
        patient_resource({**row, "sex": "X"}, KEY)


def test_validation_catches_a_broken_resource(row):
    bad = patient_resource(row, KEY) | {"birthDate": "1990-13-40"}
    assert "birthDate" in validation_error(bad)
    bad_obs = observation_resources(row, KEY)[0] | {"status": None, "effectiveDateTime": "yesterday"}
    assert "effectiveDateTime" in validation_error(bad_obs) or "status" in validation_error(bad_obs)


def test_clean_cohort_exports_whole_and_reconciles(cohort):
    export = to_fhir(cohort, KEY)
    counts = export.reconcile()
    assert counts == {
        "rows_in": cohort.height,
        "rows_exported": cohort.height,
        "rows_rejected": 0,
        "patients": 12,
        "observations": 2 * cohort.height,
    }
    assert len({o["id"] for o in export.observations}) == len(export.observations)
    assert to_fhir(cohort, KEY).observations == export.observations  # deterministic


def _dirty(cohort):
    rows = cohort.head(8).to_dicts()
    rows[0]["systolic"] = None
    rows[1]["diastolic"] = rows[1]["systolic"] + 5
    rows[2]["heart_rate"] = 400
    rows[3]["national_id"] = rows[3]["national_id"][:-1] + str((int(rows[3]["national_id"][-1]) + 1) % 10)
    rows[4]["context"] = "sleep"
    rows[5]["measured_at"] = dt.datetime.combine(rows[5]["birth_date"], dt.time()) - dt.timedelta(days=1)
    return pl.DataFrame(rows, schema=cohort.schema)


def test_bad_rows_go_to_rejects_with_reasons_and_counts_reconcile(cohort):
    dirty = pl.concat([_dirty(cohort), cohort.slice(8)])
    export = to_fhir(dirty, KEY)
    counts = export.reconcile()
    assert counts["rows_rejected"] == 6 and counts["rows_exported"] == dirty.height - 6
    reasons = dict(zip(export.rejects["row_index"].to_list(), export.rejects["reason"].to_list()))
    assert reasons[0] == "systolic missing"
    assert reasons[1] == "systolic not above diastolic"
    assert reasons[2] == "heart_rate outside the plausible 20-250"
    assert reasons[3] == "national_id fails the checksum or format"
    assert reasons[4] == "context not rest/exercise"
    assert reasons[5] == "measured before birth"
    # The rejected rows are kept as given, so the source can be corrected.
    assert export.rejects.drop("row_index", "reason").equals(dirty.head(6))


def test_conflicting_demographics_reject_all_rows_of_that_id(cohort):
    first = cohort["national_id"][0]
    n = cohort.filter(pl.col("national_id") == first).height
    changed = cohort.with_columns(
        birth_date=pl.when((pl.col("national_id") == first) & (pl.int_range(pl.len()) == 0))
        .then(pl.col("birth_date") - pl.duration(days=1))
        .otherwise(pl.col("birth_date"))
    )
    export = to_fhir(changed, KEY)
    assert export.reconcile()["rows_rejected"] == n
    assert set(export.rejects["reason"]) == {"conflicting birth_date/sex for the same national_id"}
    assert len(export.patients) == 11


def test_a_resource_refused_by_fhir_validation_is_rejected_not_dropped(cohort, monkeypatch):
    real = fhir_module._observations

    def broken(p, measured_at, *values):
        pair = real(p, measured_at, *values)
        if measured_at == cohort["measured_at"][3]:
            pair[1]["effectiveDateTime"] = "not a time"
        return pair

    monkeypatch.setattr(fhir_module, "_observations", broken)
    export = to_fhir(cohort, KEY)
    assert export.reconcile()["rows_rejected"] == 1
    assert export.rejects["reason"][0].startswith("fhir Observation: effectiveDateTime")


def test_writers(cohort, tmp_path):
    export = to_fhir(cohort.head(30), KEY)
    bundle = json.loads(export.write_bundle(tmp_path / "b" / "bundle.json").read_text())
    assert bundle["type"] == "transaction"
    assert len(bundle["entry"]) == len(export.patients) + len(export.observations)
    first = bundle["entry"][0]
    assert first["request"] == {"method": "PUT", "url": f"Patient/{first['resource']['id']}"}
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)
    paths = export.write_ndjson(tmp_path / "nd")
    lines = paths["Observation"].read_text().splitlines()
    assert [json.loads(x) for x in lines] == export.observations
    assert [json.loads(x) for x in paths["Patient"].read_text().splitlines()] == export.patients
    text = (tmp_path / "b" / "bundle.json").read_text() + paths["Observation"].read_text()
    assert not any(i in text for i in cohort["national_id"].unique())


def test_to_fhir_argument_errors(cohort):
    with pytest.raises(TypeError, match="polars DataFrame"):
        to_fhir(cohort.to_dicts(), KEY)
    with pytest.raises(ValueError, match="context"):
        to_fhir(cohort.drop("context"), KEY)
    with pytest.raises(ValueError, match="at least 32"):
        to_fhir(cohort, b"short")
