-- The source system as a hospital holds it: one row per reading, clear-text national id and name.
-- Columns are permissive on purpose (messy real data must load); the FHIR mapping decides what is
-- exportable and records the rest as rejects. Nothing in this schema is ever served over HTTP.
CREATE SCHEMA hospital;

CREATE TABLE hospital.vitals (
    row_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    national_id text,
    name        text,
    birth_date  date,
    sex         text,
    measured_at timestamp without time zone,  -- naive Taiwan local time, as the device records it
    systolic    integer,
    diastolic   integer,
    heart_rate  integer,
    context     text
);

CREATE INDEX vitals_patient_time ON hospital.vitals (national_id, measured_at);

COMMENT ON TABLE hospital.vitals IS
    'Vital-sign readings with clear-text identifiers (source of the FHIR mapping; never served).';
