-- The FHIR mapping of workbench.clinical.fhir written again in SQL, so the database can build the
-- resources itself. Same recipe, same bytes in, same JSON out (a test compares the two over the
-- whole cohort). pgcrypto provides hmac() for the pseudonym and digest() for observation ids.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- First 32 hex characters cut 8-4-4-4-12 (workbench.clinical.pseudonym.uuid_like).
CREATE FUNCTION fhir.uuid_like(hex text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    -- One reference to `hex`, so that inlining does not compute the digest once per cut.
    SELECT regexp_replace(lower(hex), '^(.{8})(.{4})(.{4})(.{4})(.{12}).*$', '\1-\2-\3-\4-\5')
$$;

-- pseudonym = uuid_like(hex(HMAC-SHA256(key, UTF-8 identifier)))
CREATE FUNCTION fhir.pseudonym(identifier text, key bytea) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT fhir.uuid_like(encode(hmac(convert_to(identifier, 'UTF8'), key, 'sha256'), 'hex'))
$$;

-- Naive Taiwan local time -> FHIR dateTime with the fixed +08:00 offset, whole seconds.
CREATE FUNCTION fhir.effective_datetime(measured_at timestamp) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(measured_at, 'YYYY-MM-DD"T"HH24:MI:SS') || '+08:00'
$$;

-- obs_id = uuid_like(hex(SHA-256(UTF-8(pseudonym || '|' || effective || '|' || code))))
CREATE FUNCTION fhir.observation_id(pseudonym text, effective text, code text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT fhir.uuid_like(encode(digest(convert_to(pseudonym || '|' || effective || '|' || code, 'UTF8'),
                                        'sha256'), 'hex'))
$$;

-- Checksum of a Taiwanese national id (workbench.clinical._national_id): the letter's area code is
-- 10 + its position in this order, the letters I, O, W, Z having been added last.
CREATE FUNCTION fhir.national_id_valid(national_id text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT national_id ~ '^[A-Z][12][0-9]{8}$' AND (
        WITH area AS (SELECT 9 + strpos('ABCDEFGHJKLMNPQRSTUVXYWZIO', substr(national_id, 1, 1)) AS code)
        SELECT (area.code / 10 + (area.code % 10) * 9
                + (SELECT sum(substr(national_id, 1 + i::int, 1)::int * w)
                   FROM unnest(ARRAY[8, 7, 6, 5, 4, 3, 2, 1, 1]) WITH ORDINALITY AS t(w, i))) % 10 = 0
        FROM area)
$$;

CREATE FUNCTION fhir.loinc(code text) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object('coding', json_build_array(json_build_object(
        'system', 'http://loinc.org',
        'code', code,
        'display', CASE code
            WHEN '85354-9' THEN 'Blood pressure panel with all children optional'
            WHEN '8480-6' THEN 'Systolic blood pressure'
            WHEN '8462-4' THEN 'Diastolic blood pressure'
            WHEN '8867-4' THEN 'Heart rate' END)))
$$;

CREATE FUNCTION fhir.quantity(value integer, unit text) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object('value', value, 'unit', unit, 'system', 'http://unitsofmeasure.org', 'code', unit)
$$;

CREATE FUNCTION fhir.patient_resource(national_id text, birth_date date, sex text, key bytea) RETURNS json
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
DECLARE
    p text := fhir.pseudonym(national_id, key);
BEGIN
    RETURN json_build_object(
        'resourceType', 'Patient',
        'id', p,
        'identifier', json_build_array(json_build_object('system', 'urn:workbench:pseudonym:hmac-sha256', 'value', p)),
        'gender', CASE sex WHEN 'M' THEN 'male' WHEN 'F' THEN 'female' END,
        'birthDate', to_char(birth_date, 'YYYY-MM-DD'));
END
$$;

-- The common head of both vital-sign Observations; `tail` is the value part (components or value).
CREATE FUNCTION fhir._observation(p text, t text, code text, tail_key text, tail json) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
        'resourceType', 'Observation',
        'id', fhir.observation_id(p, t, code),
        'meta', json_build_object('profile', json_build_array(CASE code
            WHEN '85354-9' THEN 'http://hl7.org/fhir/StructureDefinition/bp'
            WHEN '8867-4' THEN 'http://hl7.org/fhir/StructureDefinition/heartrate' END)),
        'status', 'final',
        'category', json_build_array(json_build_object('coding', json_build_array(json_build_object(
            'system', 'http://terminology.hl7.org/CodeSystem/observation-category',
            'code', 'vital-signs', 'display', 'Vital Signs')))),
        'code', fhir.loinc(code),
        'subject', json_build_object('reference', 'Patient/' || p),
        'effectiveDateTime', t,
        tail_key, tail)
$$;

-- [blood-pressure panel, heart rate] of one reading, in that order (a JSON array of two resources).
CREATE FUNCTION fhir.observation_resources(
    national_id text, measured_at timestamp, systolic integer, diastolic integer, heart_rate integer, key bytea
) RETURNS json
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
DECLARE
    p text := fhir.pseudonym(national_id, key);
    t text := fhir.effective_datetime(measured_at);
BEGIN
    RETURN json_build_array(
        fhir._observation(p, t, '85354-9', 'component', json_build_array(
            json_build_object('code', fhir.loinc('8480-6'), 'valueQuantity', fhir.quantity(systolic, 'mm[Hg]')),
            json_build_object('code', fhir.loinc('8462-4'), 'valueQuantity', fhir.quantity(diastolic, 'mm[Hg]')))),
        fhir._observation(p, t, '8867-4', 'valueQuantity', fhir.quantity(heart_rate, '/min')));
END
$$;

-- Why a source row cannot be exported (NULL when it can): the checks of
-- workbench.clinical.fhir.row_problems, in the same order and words. A NULL comparison is "no
-- finding" there too; the demographic conflict counts a missing value as one more distinct value.
CREATE VIEW fhir.vitals_checked AS
WITH demographics AS (
    SELECT national_id,
           count(DISTINCT birth_date) + bool_or(birth_date IS NULL)::int AS n_birth_dates,
           count(DISTINCT sex) + bool_or(sex IS NULL)::int AS n_sexes
    FROM hospital.vitals
    GROUP BY national_id
)
SELECT v.*, nullif(concat_ws('; ',
    CASE WHEN v.national_id IS NULL THEN 'national_id missing' END,
    CASE WHEN v.national_id IS NOT NULL AND NOT fhir.national_id_valid(v.national_id)
         THEN 'national_id fails the checksum or format' END,
    CASE WHEN v.birth_date IS NULL THEN 'birth_date missing' END,
    CASE WHEN v.sex IS NULL OR v.sex NOT IN ('M', 'F') THEN 'sex not M/F' END,
    CASE WHEN v.measured_at IS NULL THEN 'measured_at missing' END,
    CASE WHEN v.birth_date > v.measured_at::date THEN 'measured before birth' END,
    CASE WHEN v.context IS NULL OR v.context NOT IN ('rest', 'exercise') THEN 'context not rest/exercise' END,
    CASE WHEN v.systolic IS NULL THEN 'systolic missing' END,
    CASE WHEN v.systolic < 50 OR v.systolic > 300 THEN 'systolic outside the plausible 50-300' END,
    CASE WHEN v.diastolic IS NULL THEN 'diastolic missing' END,
    CASE WHEN v.diastolic < 20 OR v.diastolic > 200 THEN 'diastolic outside the plausible 20-200' END,
    CASE WHEN v.heart_rate IS NULL THEN 'heart_rate missing' END,
    CASE WHEN v.heart_rate < 20 OR v.heart_rate > 250 THEN 'heart_rate outside the plausible 20-250' END,
    CASE WHEN v.systolic <= v.diastolic THEN 'systolic not above diastolic' END,
    CASE WHEN d.n_birth_dates > 1 OR d.n_sexes > 1 THEN 'conflicting birth_date/sex for the same national_id' END
), '') AS reason
FROM hospital.vitals AS v
JOIN demographics AS d ON d.national_id IS NOT DISTINCT FROM v.national_id;

-- Rebuild the served resources from the source table under `key`, in one statement per table.
-- Returns (rows_in, rows_exported, rows_rejected, patients, observations).
CREATE FUNCTION fhir.refresh_from_source(key bytea)
RETURNS TABLE (rows_in bigint, rows_exported bigint, rows_rejected bigint, patients bigint, observations bigint)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM fhir.observation WHERE origin = 'source';
    DELETE FROM fhir.source_reject;
    DROP TABLE IF EXISTS pg_temp._checked;
    CREATE TEMP TABLE _checked ON COMMIT DROP AS SELECT * FROM fhir.vitals_checked;

    INSERT INTO fhir.source_reject (row_id, reason)
    SELECT c.row_id, c.reason FROM _checked AS c WHERE c.reason IS NOT NULL;

    INSERT INTO hospital.patient_link (national_id, patient_id)
    SELECT DISTINCT c.national_id, fhir.pseudonym(c.national_id, key)
    FROM _checked AS c WHERE c.reason IS NULL
    ON CONFLICT (national_id) DO UPDATE SET patient_id = EXCLUDED.patient_id;

    INSERT INTO fhir.patient (id, gender, birth_date, resource)
    SELECT DISTINCT ON (c.national_id) r ->> 'id', r ->> 'gender', c.birth_date, r
    FROM _checked AS c, fhir.patient_resource(c.national_id, c.birth_date, c.sex, key) AS r
    WHERE c.reason IS NULL
    ORDER BY c.national_id, c.row_id
    ON CONFLICT (id) DO UPDATE SET gender = EXCLUDED.gender, birth_date = EXCLUDED.birth_date,
                                   resource = EXCLUDED.resource;

    -- Two readings of one patient in the same second map to the same ids: keep the first.
    INSERT INTO fhir.observation (id, patient_id, code, effective, resource, origin, source_row_id)
    SELECT o ->> 'id', fhir.pseudonym(c.national_id, key), o -> 'code' -> 'coding' -> 0 ->> 'code',
           (c.measured_at AT TIME ZONE 'Asia/Taipei'), o, 'source', c.row_id
    FROM _checked AS c,
         json_array_elements(fhir.observation_resources(c.national_id, c.measured_at, c.systolic,
                                                        c.diastolic, c.heart_rate, key)) AS o
    WHERE c.reason IS NULL
    ORDER BY c.row_id
    ON CONFLICT (id) DO NOTHING;

    RETURN QUERY SELECT
        (SELECT count(*) FROM _checked),
        (SELECT count(*) FROM _checked WHERE reason IS NULL),
        (SELECT count(*) FROM fhir.source_reject),
        (SELECT count(*) FROM fhir.patient),
        (SELECT count(*) FROM fhir.observation WHERE origin = 'source');
END
$$;
