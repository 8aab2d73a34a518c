-- Conditions coded with ICD-10-CM, created through POST /fhir/Condition (often from a $suggest answer).
-- `id` is a UUIDv5 of (patient, code, recorded date): the same diagnosis posted twice is one row, and
-- content_sha256 tells a replay (same body, 200) from a clash (same id, other body, 409).
CREATE TABLE fhir.condition (
    id             text PRIMARY KEY,
    patient_id     text NOT NULL REFERENCES fhir.patient (id),
    code           text NOT NULL,          -- ICD-10-CM code of Condition.code, with its dot
    recorded       date NOT NULL,
    resource       json NOT NULL,
    content_sha256 text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX condition_subject ON fhir.condition (patient_id, recorded, id);
CREATE INDEX condition_code ON fhir.condition (code, recorded, id);
