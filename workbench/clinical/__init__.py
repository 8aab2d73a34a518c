"""Clinical features: a synthetic vital-sign cohort, keyed pseudonyms, FHIR R4 export, MAP and ARV.

Public surface:

- data: :func:`generate_cohort`, :func:`read_vitals` (CSV, parquet or PostgreSQL), :data:`VITALS_SCHEMA`
- pseudonyms: :func:`pseudonymize` (HMAC-SHA256, UUID-like), :func:`load_key`, :func:`session_key`
- national ids: :func:`is_valid_national_id`, :func:`valid_id_space_size`, :func:`recover_id_from_md5`
- FHIR: :func:`patient_resource`, :func:`observation_resources`, :func:`to_fhir` -> :class:`FhirExport`
- features: :func:`mean_arterial_pressure`, :func:`average_real_variability`
- lake (``workbench.lake``): :func:`register_clinical_features`, :func:`write_vitals`, :func:`hour_readings`
"""

from workbench.clinical._national_id import is_valid_national_id, valid_id_space_size
from workbench.clinical.cohort import VITALS_SCHEMA, generate_cohort, read_vitals
from workbench.clinical.features import average_real_variability, mean_arterial_pressure
from workbench.clinical.fhir import FhirExport, observation_resources, patient_resource, to_fhir
from workbench.clinical.lake_features import hour_readings, register_clinical_features, write_vitals
from workbench.clinical.md5_attack import md5_hex_of, recover_id_from_md5
from workbench.clinical.pseudonym import load_key, pseudonymize, session_key

__all__ = [
    "VITALS_SCHEMA",
    "FhirExport",
    "average_real_variability",
    "generate_cohort",
    "hour_readings",
    "is_valid_national_id",
    "load_key",
    "md5_hex_of",
    "mean_arterial_pressure",
    "observation_resources",
    "patient_resource",
    "pseudonymize",
    "read_vitals",
    "register_clinical_features",
    "recover_id_from_md5",
    "session_key",
    "to_fhir",
    "valid_id_space_size",
    "write_vitals",
]
