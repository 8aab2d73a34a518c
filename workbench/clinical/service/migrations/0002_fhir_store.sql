-- The FHIR side: resources as the service serves them, with the columns that searches need indexed.
-- `resource` is json, not jsonb: json keeps the key order the mapping wrote ("resourceType" first),
-- and the service never looks inside it (searches use the typed columns beside it).
CREATE SCHEMA fhir;

CREATE TABLE fhir.patient (
    id         text PRIMARY KEY,           -- the pseudonym: HMAC-SHA256 of the national id
    gender     text NOT NULL,
    birth_date date NOT NULL,
    resource   json NOT NULL
);
CREATE INDEX patient_gender_birth ON fhir.patient (gender, birth_date, id);
CREATE INDEX patient_birth ON fhir.patient (birth_date, id);

-- Observations mapped from hospital.vitals (origin 'source') and those created through
-- POST /fhir/Observation (origin 'api'). A created Observation carries the client's identifier;
-- the unique constraint on it is what makes a repeated POST idempotent under concurrency.
CREATE TABLE fhir.observation (
    seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id                text PRIMARY KEY,
    patient_id        text NOT NULL REFERENCES fhir.patient (id),
    code              text NOT NULL,       -- LOINC code of Observation.code
    effective         timestamptz NOT NULL,
    resource          json NOT NULL,
    origin            text NOT NULL CHECK (origin IN ('source', 'api')),
    source_row_id     bigint,              -- hospital.vitals.row_id for origin 'source'
    identifier_system text,
    identifier_value  text,
    content_sha256    text,                -- of the created resource as posted (to tell a replay from a clash)
    created_at        timestamptz NOT NULL DEFAULT now(),
    lake_synced_at    timestamptz,         -- outbox: NULL until the value reached the feature lake
    CONSTRAINT observation_identifier_unique UNIQUE (identifier_system, identifier_value),
    CONSTRAINT observation_identifier_for_api CHECK (
        origin = 'source' OR (identifier_system IS NOT NULL AND identifier_value IS NOT NULL))
);
-- Keyset paging walks (effective, id) in either direction; each search shape has its index.
CREATE INDEX observation_subject_date ON fhir.observation (patient_id, effective, id);
CREATE INDEX observation_code_date ON fhir.observation (code, effective, id);
CREATE INDEX observation_date ON fhir.observation (effective, id);
CREATE INDEX observation_lake_outbox ON fhir.observation (seq) WHERE lake_synced_at IS NULL AND origin = 'api';

-- Source rows the mapping refused, with the reason (rows in = rows exported + rows rejected).
CREATE TABLE fhir.source_reject (
    row_id bigint PRIMARY KEY REFERENCES hospital.vitals (row_id) ON DELETE CASCADE,
    reason text NOT NULL
);

-- Which pseudonym belongs to which national id: kept on the hospital side (it re-identifies),
-- used only to hand a created Observation to the feature lake under the patient's pseudonym.
CREATE TABLE hospital.patient_link (
    national_id text PRIMARY KEY,
    patient_id  text NOT NULL UNIQUE
);
