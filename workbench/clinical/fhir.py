"""Vital-sign rows as FHIR R4 resources: Patient and vital-signs Observations, validated, with rejects.

Resources are plain ``dict``s (JSON-ready) built by a fixed recipe, so that the FHIR service can
rebuild the very same objects in SQL, and are validated with ``fhir.resources`` (its ``R4B``
package: R4B changed nothing in Patient or Observation relative to R4).

Recipes (``p`` is the patient's pseudonym, see :func:`~workbench.clinical.pseudonymize`; ``t`` is
``measured_at`` as ``YYYY-MM-DDTHH:MM:SS+08:00``: the data are naive Taiwan local times, and Taiwan
has kept UTC+8 without daylight saving since 1980; fractions of a second are dropped)::

    Patient      {"resourceType": "Patient", "id": p,
                  "identifier": [{"system": "urn:workbench:pseudonym:hmac-sha256", "value": p}],
                  "gender": "male" | "female", "birthDate": "YYYY-MM-DD"}

    Observation  {"resourceType": "Observation", "id": obs_id(p, t, code),
                  "meta": {"profile": [<bp | heartrate profile URL>]},
                  "status": "final",
                  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                            "code": "vital-signs", "display": "Vital Signs"}]}],
                  "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": ...}]},
                  "subject": {"reference": "Patient/" + p},
                  "effectiveDateTime": t,
                  -- blood pressure (code 85354-9):
                  "component": [{"code": {"coding": [LOINC 8480-6 Systolic blood pressure]},
                                 "valueQuantity": {"value": systolic, "unit": "mm[Hg]",
                                                   "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                                {... 8462-4 Diastolic blood pressure, diastolic ...}]
                  -- heart rate (code 8867-4):
                  "valueQuantity": {"value": heart_rate, "unit": "/min",
                                    "system": "http://unitsofmeasure.org", "code": "/min"}}

The observation id is deterministic, so exporting the same rows twice gives the same ids and a
FHIR server receiving the Bundle (PUT) upserts instead of duplicating::

    obs_id(p, t, code) = uuid_like(hex(SHA-256(UTF-8(p || "|" || t || "|" || code))))
    -- SQL (pgcrypto): encode(digest(p || '|' || t || '|' || code, 'sha256'), 'hex'), then cut 8-4-4-4-12
    -- with t = to_char(measured_at, 'YYYY-MM-DD"T"HH24:MI:SS') || '+08:00'

Values are the table's integers (JSON numbers without a fraction).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from workbench.clinical._national_id import is_valid_national_id
from workbench.clinical.cohort import CONTEXTS, VITALS_SCHEMA, require_vitals_frame
from workbench.clinical.pseudonym import _check_key, pseudonymize, uuid_like

PSEUDONYM_SYSTEM = "urn:workbench:pseudonym:hmac-sha256"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
BP_PANEL, SYSTOLIC, DIASTOLIC, HEART_RATE = "85354-9", "8480-6", "8462-4", "8867-4"
LOINC_DISPLAY = {
    BP_PANEL: "Blood pressure panel with all children optional",
    SYSTOLIC: "Systolic blood pressure",
    DIASTOLIC: "Diastolic blood pressure",
    HEART_RATE: "Heart rate",
}
PROFILES = {
    BP_PANEL: "http://hl7.org/fhir/StructureDefinition/bp",
    HEART_RATE: "http://hl7.org/fhir/StructureDefinition/heartrate",
}
TAIWAN_OFFSET = "+08:00"
GENDER = {"M": "male", "F": "female"}
# Plausibility limits for home readings: outside them a value is a device or typing error, not a
# patient state worth exporting (systolic 50-300 and diastolic 20-200 mmHg, heart rate 20-250/min).
PLAUSIBLE = {"systolic": (50, 300), "diastolic": (20, 200), "heart_rate": (20, 250)}


def effective_datetime(measured_at: dt.datetime) -> str:
    """``measured_at`` (naive, Taiwan local time) as a FHIR dateTime with the +08:00 offset, whole seconds."""
    if not isinstance(measured_at, dt.datetime):
        raise TypeError(f"effective_datetime(measured_at): expected a datetime, got {type(measured_at).__name__}")
    if measured_at.tzinfo is not None:
        raise ValueError("effective_datetime(measured_at): expected a naive Taiwan local time, got an aware datetime")
    return measured_at.strftime("%Y-%m-%dT%H:%M:%S") + TAIWAN_OFFSET


def observation_id(pseudonym: str, effective: str, code: str) -> str:
    """Deterministic Observation id: ``uuid_like(sha256_hex(f"{pseudonym}|{effective}|{code}"))``."""
    return uuid_like(hashlib.sha256(f"{pseudonym}|{effective}|{code}".encode("utf-8")).hexdigest())


def _coding(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


def _loinc(code: str) -> dict:
    return {"coding": [_coding(LOINC, code, LOINC_DISPLAY[code])]}


def _quantity(value: int, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _patient(pseudonym: str, birth_date: dt.date, sex: str) -> dict:
    return {
        "resourceType": "Patient",
        "id": pseudonym,
        "identifier": [{"system": PSEUDONYM_SYSTEM, "value": pseudonym}],
        "gender": GENDER[sex],
        "birthDate": birth_date.isoformat(),
    }


def _observation(pseudonym: str, effective: str, code: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": observation_id(pseudonym, effective, code),
        "meta": {"profile": [PROFILES[code]]},
        "status": "final",
        "category": [{"coding": [_coding(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")]}],
        "code": _loinc(code),
        "subject": {"reference": f"Patient/{pseudonym}"},
        "effectiveDateTime": effective,
    }


def _observations(pseudonym: str, measured_at: dt.datetime, systolic: int, diastolic: int, heart_rate: int) -> list:
    effective = effective_datetime(measured_at)
    bp = _observation(pseudonym, effective, BP_PANEL)
    bp["component"] = [
        {"code": _loinc(SYSTOLIC), "valueQuantity": _quantity(int(systolic), "mm[Hg]")},
        {"code": _loinc(DIASTOLIC), "valueQuantity": _quantity(int(diastolic), "mm[Hg]")},
    ]
    hr = _observation(pseudonym, effective, HEART_RATE)
    hr["valueQuantity"] = _quantity(int(heart_rate), "/min")
    return [bp, hr]


def _require(row: Mapping, columns: tuple[str, ...], origin: str) -> None:
    if not isinstance(row, Mapping):
        raise TypeError(f"{origin}(row): expected a mapping such as frame.row(i, named=True), got {type(row).__name__}")
    missing = [c for c in columns if row.get(c) is None]
    if missing:
        raise ValueError(f"{origin}(row): the row has no value for {missing}")


def patient_resource(row: Mapping[str, Any], key: bytes) -> dict:
    """The FHIR Patient of one vital-sign row (a mapping with national_id, birth_date, sex).

    ``id`` and the only ``identifier`` are the pseudonym of the national id under ``key``; name and
    national id are left out. See the module docstring for the exact shape.
    """
    _require(row, ("national_id", "birth_date", "sex"), "patient_resource")
    if row["sex"] not in GENDER:
        raise ValueError(f"patient_resource(row): sex must be 'M' or 'F', got {row['sex']!r}")
    return _patient(pseudonymize(row["national_id"], key), row["birth_date"], row["sex"])


def observation_resources(row: Mapping[str, Any], key: bytes) -> list[dict]:
    """The blood-pressure panel and heart-rate Observations of one vital-sign row, in that order.

    Ids follow ``uuid_like(sha256_hex(pseudonym + "|" + effectiveDateTime + "|" + LOINC code))``;
    see the module docstring for the exact shape and the SQL equivalent.
    """
    _require(row, ("national_id", "measured_at", "systolic", "diastolic", "heart_rate"), "observation_resources")
    return _observations(
        pseudonymize(row["national_id"], key), row["measured_at"], row["systolic"], row["diastolic"], row["heart_rate"]
    )


def _validation_models() -> dict[str, Any]:
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.patient import Patient

    return {"Patient": Patient, "Observation": Observation}


def validation_error(resource: dict) -> str | None:
    """``None`` when ``resource`` validates as its FHIR R4 type, else a one-line reason."""
    from pydantic import ValidationError

    model = _validation_models().get(resource.get("resourceType"))
    if model is None:
        return f"fhir: unsupported resourceType {resource.get('resourceType')!r}"
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"fhir {resource['resourceType']}: {where}: {first['msg']}" + (
            f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        )
    return None


@dataclass
class FhirExport:
    """The result of :func:`to_fhir`.

    ``patients`` and ``observations`` are validated resource dicts (one Patient per distinct
    pseudonym; two Observations per exported row); ``rejects`` holds every row that was not exported:
    its position in the input (``row_index``), the row's columns as given, and ``reason``. Rejects
    keep identifiers in clear so the source can be corrected: show them de-identified (drop
    ``national_id`` and ``name``). :meth:`reconcile` checks rows in = rows exported + rows rejected.
    """

    patients: list[dict]
    observations: list[dict]
    rejects: pl.DataFrame
    rows_in: int
    rows_exported: int
    observations_per_row: int = field(default=2, repr=False)

    def reconcile(self) -> dict[str, int]:
        """Counts of the export; raises ``AssertionError`` if rows or resources do not add up."""
        counts = {
            "rows_in": self.rows_in,
            "rows_exported": self.rows_exported,
            "rows_rejected": self.rejects.height,
            "patients": len(self.patients),
            "observations": len(self.observations),
        }
        if self.rows_in != self.rows_exported + self.rejects.height:
            raise AssertionError(f"rows in != exported + rejected: {counts}")
        if len(self.observations) != self.observations_per_row * self.rows_exported:
            raise AssertionError(f"observations != {self.observations_per_row} x rows exported: {counts}")
        return counts

    def resources(self) -> list[dict]:
        """Patients first (so references resolve in order), then observations."""
        return [*self.patients, *self.observations]

    def bundle(self) -> dict:
        """A FHIR transaction Bundle that upserts every resource (``PUT <type>/<id>``)."""
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                for r in self.resources()
            ],
        }

    def write_bundle(self, path: str | Path) -> Path:
        """Write :meth:`bundle` as JSON to ``path``; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.bundle(), ensure_ascii=False), encoding="utf-8")
        return path

    def write_ndjson(self, directory: str | Path) -> dict[str, Path]:
        """Write one ``<ResourceType>.ndjson`` per resource type (FHIR Bulk Data layout) into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {}
        for kind, resources in (("Patient", self.patients), ("Observation", self.observations)):
            path = directory / f"{kind}.ndjson"
            with path.open("w", encoding="utf-8") as fh:
                for resource in resources:
                    fh.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n")
            paths[kind] = path
        return paths


def row_problems(frame: pl.DataFrame) -> pl.Series:
    """For each row, ``None`` when it may be exported, else the reasons it may not, joined by "; "."""
    low = {c: lo for c, (lo, _) in PLAUSIBLE.items()}
    high = {c: hi for c, (_, hi) in PLAUSIBLE.items()}
    checks = [
        (pl.col("national_id").is_null(), "national_id missing"),
        (
            pl.col("national_id").is_not_null()
            & ~pl.col("national_id").map_elements(is_valid_national_id, return_dtype=pl.Boolean),
            "national_id fails the checksum or format",
        ),
        (pl.col("birth_date").is_null(), "birth_date missing"),
        (~pl.col("sex").is_in(list(GENDER)).fill_null(False), "sex not M/F"),
        (pl.col("measured_at").is_null(), "measured_at missing"),
        (pl.col("birth_date") > pl.col("measured_at").dt.date(), "measured before birth"),
        (~pl.col("context").is_in(list(CONTEXTS)).fill_null(False), "context not rest/exercise"),
        *[
            check
            for c in PLAUSIBLE
            for check in (
                (pl.col(c).is_null(), f"{c} missing"),
                (
                    (pl.col(c) < low[c]) | (pl.col(c) > high[c]),
                    f"{c} outside the plausible {low[c]}-{high[c]}",
                ),
            )
        ],
        (pl.col("systolic") <= pl.col("diastolic"), "systolic not above diastolic"),
        (
            pl.col("birth_date").n_unique().over("national_id").gt(1)
            | pl.col("sex").n_unique().over("national_id").gt(1),
            "conflicting birth_date/sex for the same national_id",
        ),
    ]
    reasons = pl.concat_str(
        [pl.when(cond.fill_null(False)).then(pl.lit(msg)) for cond, msg in checks], separator="; ", ignore_nulls=True
    )
    out = frame.select(pl.when(reasons != "").then(reasons).alias("reason")).to_series()
    return out


def to_fhir(frame: pl.DataFrame, key: bytes, *, validate: bool = True) -> FhirExport:
    """Map a vital-sign table to FHIR R4 Patients and Observations; nothing is dropped silently.

    A row is exported whole (its patient plus two observations) or rejected whole with the reasons:
    implausible or missing values, an id failing its checksum, conflicting demographics, and (with
    ``validate=True``) any resource that ``fhir.resources`` refuses. ``rows in = rows exported +
    rows rejected`` (:meth:`FhirExport.reconcile`).
    """
    require_vitals_frame(frame, "to_fhir(frame)")
    key = _check_key(key, "to_fhir(key)")
    indexed = frame.select(list(VITALS_SCHEMA)).with_row_index("row_index").with_columns(reason=row_problems(frame))

    ok = indexed.filter(pl.col("reason").is_null())
    pseudonyms = {nid: pseudonymize(nid, key) for nid in ok["national_id"].unique().to_list()}
    reasons: dict[int, str] = {}

    patients: dict[str, dict] = {}
    bad_patients: dict[str, str] = {}
    for row in ok.unique("national_id", keep="first", maintain_order=True).iter_rows(named=True):
        resource = _patient(pseudonyms[row["national_id"]], row["birth_date"], row["sex"])
        problem = validation_error(resource) if validate else None
        if problem:
            bad_patients[row["national_id"]] = problem
        else:
            patients[resource["id"]] = resource

    observations: list[dict] = []
    exported = 0
    for row in ok.iter_rows(named=True):
        if row["national_id"] in bad_patients:
            reasons[row["row_index"]] = bad_patients[row["national_id"]]
            continue
        pair = _observations(
            pseudonyms[row["national_id"]], row["measured_at"], row["systolic"], row["diastolic"], row["heart_rate"]
        )
        problem = next((p for p in map(validation_error, pair) if p), None) if validate else None
        if problem:
            reasons[row["row_index"]] = problem
            continue
        observations.extend(pair)
        exported += 1

    late = pl.DataFrame(
        {"row_index": list(reasons), "late_reason": list(reasons.values())},
        schema={"row_index": pl.UInt32, "late_reason": pl.String},
    )
    rejects = (
        indexed.join(late, on="row_index", how="left")
        .with_columns(reason=pl.coalesce("reason", "late_reason"))
        .drop("late_reason")
        .filter(pl.col("reason").is_not_null())
    )
    used = {o["subject"]["reference"].removeprefix("Patient/") for o in observations}
    return FhirExport(
        patients=[p for pid, p in patients.items() if pid in used],
        observations=observations,
        rejects=rejects,
        rows_in=frame.height,
        rows_exported=exported,
    )
