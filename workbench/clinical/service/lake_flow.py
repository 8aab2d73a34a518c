"""Created Observations flow into the feature lake (``workbench.lake``) through ``write_vitals``.

A lake reading is one row of the vitals table: systolic, diastolic *and* heart rate at one instant.
Over FHIR these arrive as two Observations (the blood-pressure panel 85354-9 and heart rate 8867-4),
possibly in two requests. So the flow pairs them: once both Observations of a patient and instant
exist, the reading is complete and is written. Every clock hour touched is written whole (the
source readings of that patient-hour plus the created ones), because a lake hour cell holds the
mean of its hour and a later write replaces it.

Measurement context (rest or exercise) travels as an extension on either Observation:
``{"url": CONTEXT_EXTENSION, "valueCode": "rest" | "exercise"}``; without one a reading counts as
taken at rest.

``fhir.observation.lake_synced_at`` is an outbox: it is set only after the lake write succeeded, so
a failed hand-off (lake locked, disk full) is retried by the next :meth:`LakeFlow.sync`.
"""

import datetime as dt
import json
import threading
from dataclasses import dataclass

from workbench.clinical.service.db import connect

__all__ = ["CONTEXT_EXTENSION", "LakeFlow", "LakeSyncReport"]

CONTEXT_EXTENSION = "urn:workbench:fhir:StructureDefinition/measurement-context"
BP_PANEL, SYSTOLIC, DIASTOLIC, HEART_RATE = "85354-9", "8480-6", "8462-4", "8867-4"
TAIPEI = dt.timezone(dt.timedelta(hours=8))

_PENDING_PAIRS = """
SELECT bp.patient_id, bp.effective, bp.id, hr.id, bp.resource::text, hr.resource::text, link.national_id
FROM fhir.observation AS bp
JOIN fhir.observation AS hr
  ON hr.patient_id = bp.patient_id AND hr.effective = bp.effective AND hr.code = %(hr)s AND hr.origin = 'api'
LEFT JOIN hospital.patient_link AS link ON link.patient_id = bp.patient_id
WHERE bp.code = %(bp)s AND bp.origin = 'api'
  AND (bp.lake_synced_at IS NULL OR hr.lake_synced_at IS NULL)
ORDER BY bp.patient_id, bp.effective
"""

_SOURCE_IN_HOURS = """
SELECT national_id, measured_at, systolic, diastolic, heart_rate, context
FROM fhir.vitals_checked
WHERE reason IS NULL AND (national_id, date_trunc('hour', measured_at)) IN (SELECT * FROM unnest(%s::text[], %s::timestamp[]))
"""


@dataclass(frozen=True)
class LakeSyncReport:
    """What one :meth:`LakeFlow.sync` did: readings written, observations marked, hours rewritten."""

    readings: int
    observations: int
    patient_hours: int


def _value(resource: dict, code: str) -> float | None:
    if (resource.get("code") or {}).get("coding", [{}])[0].get("code") == code and "valueQuantity" in resource:
        return resource["valueQuantity"].get("value")
    for component in resource.get("component") or []:
        codings = (component.get("code") or {}).get("coding") or []
        if any(c.get("code") == code for c in codings):
            return (component.get("valueQuantity") or {}).get("value")
    return None


def _context(*resources: dict) -> str:
    for resource in resources:
        for ext in resource.get("extension") or []:
            if ext.get("url") == CONTEXT_EXTENSION and ext.get("valueCode") in ("rest", "exercise"):
                return ext["valueCode"]
    return "rest"


class LakeFlow:
    """The ``on_created`` hook of :func:`create_app`: complete readings go to the lake at ``lake_path``.

    Calls are serialized by a lock (the lake takes one writer at a time). ``key`` is the
    pseudonymization key, the one the database's Patient ids were made with; a mismatch is refused.
    """

    def __init__(self, pg_url: str, lake_path: str, key: bytes) -> None:
        if not isinstance(lake_path, str) or not lake_path:
            raise ValueError("LakeFlow(lake_path): expected a lake directory or fsspec URL")
        self.pg_url = pg_url
        self.lake_path = lake_path
        self._key = bytes(key)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LakeFlow(lake_path={self.lake_path!r})"

    def __call__(self, created: dict) -> LakeSyncReport:
        return self.sync()

    def sync(self) -> LakeSyncReport:
        """Write every complete, not yet synced reading into the lake, then run the lake's resolver."""
        import polars as pl

        from workbench.clinical import VITALS_SCHEMA, pseudonymize, register_clinical_features, write_vitals
        from workbench.lake import FeatureLake

        with self._lock, connect(self.pg_url) as conn:
            pairs = conn.execute(_PENDING_PAIRS, {"bp": BP_PANEL, "hr": HEART_RATE}).fetchall()
            if not pairs:
                return LakeSyncReport(0, 0, 0)
            readings, marked = [], []
            for patient_id, effective, bp_id, hr_id, bp_text, hr_text, national_id in pairs:
                if national_id is None:
                    raise RuntimeError("a created Observation's patient has no hospital link; reload with load-db")
                if pseudonymize(national_id, self._key) != patient_id:
                    raise RuntimeError("the pseudonymization key differs from the one the database was built with")
                bp, hr = json.loads(bp_text), json.loads(hr_text)
                values = (_value(bp, SYSTOLIC), _value(bp, DIASTOLIC), _value(hr, HEART_RATE))
                marked += [bp_id, hr_id]
                if any(v is None for v in values):
                    continue  # not a reading the lake can hold (e.g. a panel without diastolic): mark and skip
                local = effective.astimezone(TAIPEI).replace(tzinfo=None, microsecond=0)
                readings.append((national_id, local, *(int(round(float(v))) for v in values), _context(bp, hr)))
            hours = sorted({(r[0], r[1].replace(minute=0, second=0)) for r in readings})
            rows = list(readings)
            if hours:
                source = conn.execute(_SOURCE_IN_HOURS, ([h[0] for h in hours], [h[1] for h in hours])).fetchall()
                rows += [tuple(r) for r in source]
                demographics = {
                    nid: (name, birth, sex)
                    for nid, name, birth, sex in conn.execute(
                        "SELECT DISTINCT ON (national_id) national_id, name, birth_date, sex FROM hospital.vitals"
                        " WHERE national_id = ANY(%s) ORDER BY national_id, row_id", ([h[0] for h in hours],))
                }  # fmt: skip
                frame = pl.DataFrame(
                    [
                        {"national_id": nid, "name": demographics[nid][0], "birth_date": demographics[nid][1],
                         "sex": demographics[nid][2], "measured_at": when, "systolic": sbp, "diastolic": dbp,
                         "heart_rate": hr, "context": ctx}
                        for nid, when, sbp, dbp, hr, ctx in rows
                    ],
                    schema=VITALS_SCHEMA,
                ).unique(["national_id", "measured_at"], keep="first", maintain_order=True)  # fmt: skip
                lake = FeatureLake.open(self.lake_path)
                register_clinical_features(lake)
                write_vitals(lake, frame, self._key)
                lake.run_pending()
            conn.execute("UPDATE fhir.observation SET lake_synced_at = now() WHERE id = ANY(%s)", (marked,))
            conn.commit()
            return LakeSyncReport(readings=len(readings), observations=len(marked), patient_hours=len(hours))
