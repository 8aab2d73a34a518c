"""Property-based API testing with schemathesis against the app's own OpenAPI schema, over loopback.

Bounded: ``CASES_PER_OPERATION`` generated cases per operation and mode (about 300 in all,
derandomized so a run is reproducible). Positive cases follow the schema, negative ones violate it. Every response must be a non-5xx status the schema
documents, with the documented content type and a body that matches the documented schema.

The operations are driven through hypothesis directly (``operation.as_strategy()``) rather than
schemathesis' pytest plugin, whose lazy-fixture loader does not support pytest 9 yet.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from workbench.clinical.service import create_app, serve_in_background

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CASES_PER_OPERATION = {"positive": 30, "negative": 15}
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
OPERATIONS = ["GET /fhir/metadata", "GET /fhir/Patient/{patient_id}", "GET /fhir/Patient",
              "GET /fhir/Observation/{observation_id}", "GET /fhir/Observation", "POST /fhir/Observation",
              "POST /auth/token", "POST /auth/revoke", "GET /users/me"]  # fmt: skip


@pytest.fixture(scope="module")
def live_service(service_config):
    with serve_in_background(create_app(service_config)) as server:
        yield server


@pytest.fixture(scope="module")
def api_operations(live_service) -> dict:
    # A generated body can exceed the service's size limit: 413 is then the right refusal, and schemathesis'
    # negative-data check must count it as one (its default list of refusals leaves 413 out).
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}
    )
    schema = schemathesis.openapi.from_url(live_service.url + "/openapi.json", config=config)
    return {op.ok().label: op.ok() for op in schema.get_all_operations()}


def test_the_schema_lists_every_route(api_operations):
    assert set(api_operations) == {
        "POST /auth/token", "GET /fhir/metadata", "GET /fhir/Patient/{patient_id}", "GET /fhir/Patient",
        "GET /fhir/Observation/{observation_id}", "GET /fhir/Observation", "POST /fhir/Observation",
        "POST /auth/revoke", "GET /users/me",
        # the ICD-10-CM coding router (its bad-input cases are in test_coding_api.py)
        "POST /coding/icd10cm/$suggest", "GET /coding/icd10cm", "POST /fhir/Condition",
    }  # fmt: skip


# Negative mode needs something typed to violate: the reads take one free-form string id and the
# metadata route takes nothing, so hypothesis cannot build a schema-violating request for them.
NO_NEGATIVE = {"GET /fhir/metadata", "GET /fhir/Patient/{patient_id}", "GET /fhir/Observation/{observation_id}",
               "GET /users/me"}


@pytest.mark.parametrize(
    ("label", "mode"),
    [(label, "positive") for label in OPERATIONS] + [(label, "negative") for label in OPERATIONS if label not in NO_NEGATIVE],
)
def test_operation_conforms_to_its_schema(label, mode, api_operations, live_service, token_for):
    """Positive cases follow the schema; negative ones break it on purpose and must be refused (4xx)."""
    from schemathesis.checks import (
        content_type_conformance,
        ignored_auth,
        negative_data_rejection,
        not_a_server_error,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
        unsupported_method,
    )

    operation = api_operations[label]
    authorization = f"Bearer {token_for('writer')}"
    calls = []

    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

    @given(case=strategy)
    @settings(max_examples=CASES_PER_OPERATION[mode], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case):
        headers = dict(case.headers or {})
        headers.setdefault("Authorization", authorization)
        response = case.call_and_validate(
            base_url=live_service.url, headers=headers,
            checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
                    response_headers_conformance, negative_data_rejection, ignored_auth, unsupported_method],
        )  # fmt: skip
        calls.append(response.status_code)

    run()
    from collections import Counter

    print(f"schemathesis {label} [{mode}]: {len(calls)} cases, statuses {dict(sorted(Counter(calls).items()))}")
    assert not [c for c in calls if c >= 500]
    # An operation without parameters has exactly one distinct case; the others use most of the budget
    # (hypothesis stops early only when it has exhausted what the schema can express).
    assert len(calls) >= (1 if label in ("GET /fhir/metadata", "GET /users/me") else CASES_PER_OPERATION[mode] // 2), len(calls)
