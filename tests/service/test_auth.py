"""OAuth2: the token endpoint, and every way a bearer token must be refused (each with its own test)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

import jwt
import pytest

from workbench.clinical.service import JwtKey, ServiceConfig, create_app, issue_token, load_clients, load_jwt_key

pytestmark = pytest.mark.postgres

PATIENT_SEARCH = "/fhir/Patient"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_made_jwt(header: dict, claims: dict, sign) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{sign(signing_input.encode())}"


def _claims(config: ServiceConfig, scope: str = "system/Patient.read", **over) -> dict:
    now = int(time.time())
    return {"iss": config.issuer, "aud": config.audience, "sub": "reader", "iat": now, "nbf": now,
            "exp": now + 60, "scope": scope, **over}  # fmt: skip


def _refused(response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    if error:
        assert f'error="{error}"' in challenge
    return body


# --------------------------------------------------------------------------------- token endpoint
def test_client_credentials_grant_issues_a_short_lived_scoped_jwt(api, client_secrets, service_config):
    response = api.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "reader",
                                              "client_secret": client_secrets["reader"]})  # fmt: skip
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == service_config.token_ttl_s <= 3600
    claims = jwt.decode(body["access_token"], service_config.jwt_key.verifying, algorithms=["HS256"],
                        audience=service_config.audience)  # fmt: skip
    assert claims["sub"] == "reader" and claims["exp"] - claims["iat"] == service_config.token_ttl_s
    assert set(claims["scope"].split()) == {"system/Patient.read", "system/Observation.read"}


def test_client_credentials_over_http_basic_and_a_narrowed_scope(api, client_secrets):
    basic = base64.b64encode(f"writer:{client_secrets['writer']}".encode()).decode()
    response = api.post("/auth/token", data={"grant_type": "client_credentials", "scope": "system/Patient.read"},
                        headers={"Authorization": f"Basic {basic}"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "system/Patient.read"


def test_password_grant_for_the_demo_user(api, client_secrets):
    response = api.post("/auth/token", data={"grant_type": "password", "username": "nurse",
                                              "password": client_secrets["nurse"]})  # fmt: skip
    assert response.status_code == 200
    assert set(response.json()["scope"].split()) == {"system/Observation.read", "system/Observation.write"}


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": "reader", "client_secret": "wrong-secret"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x" * 20}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "reader"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "nurse", "client_secret": "@nurse"}, 401, "invalid_client"),
        ({"grant_type": "password", "username": "nurse", "password": "wrong"}, 400, "invalid_grant"),
        ({"grant_type": "password", "username": "reader", "password": "@reader"}, 400, "invalid_grant"),
        ({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type"),
        ({}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "client_id": "reader", "client_secret": "@reader",
          "scope": "system/Observation.write"}, 400, "invalid_scope"),
        ({"grant_type": "client_credentials", "client_id": "reader", "client_secret": "@reader",
          "scope": "system/*.*"}, 400, "invalid_scope"),
    ],
)  # fmt: skip
def test_token_endpoint_refusals(api, client_secrets, form, status, error):
    form = {k: (client_secrets[v[1:]] if isinstance(v, str) and v.startswith("@") else v) for k, v in form.items()}
    response = api.post("/auth/token", data=form)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert "access_token" not in response.text


# --------------------------------------------------------------------------------- token refusals
def test_no_token(api):
    body = _refused(api.get(PATIENT_SEARCH), 401, "invalid_request")
    assert "Bearer" in body["issue"][0]["diagnostics"]


def test_not_a_bearer_scheme(api, token_for):
    _refused(api.get(PATIENT_SEARCH, headers={"Authorization": f"Token {token_for('reader')}"}), 401)


def test_malformed_token(api):
    for token in ("not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "ä" * 10):
        _refused(api.get(PATIENT_SEARCH, headers={"Authorization": f"Bearer {token}".encode()}), 401, "invalid_token")


def test_bad_signature(api, service_config):
    forged = jwt.encode(_claims(service_config), secrets.token_hex(32), algorithm="HS256")
    body = _refused(api.get(PATIENT_SEARCH, headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_token")
    assert "signature" in body["issue"][0]["diagnostics"]


def test_tampered_payload(api, token_for):
    header, payload, signature = token_for("patients-only").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] += " system/Observation.write"
    tampered = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    _refused(api.get(PATIENT_SEARCH, headers={"Authorization": f"Bearer {tampered}"}), 401, "invalid_token")


def test_expired_token(api, service_config):
    token = issue_token(service_config, "reader", frozenset({"system/Patient.read"}),
                        now=time.time() - service_config.token_ttl_s - 60)["access_token"]  # fmt: skip
    body = _refused(api.get(PATIENT_SEARCH, headers={"Authorization": f"Bearer {token}"}), 401, "invalid_token")
    assert "expired" in body["issue"][0]["diagnostics"]


def test_wrong_audience_and_issuer(api, service_config):
    key = service_config.jwt_key.signing
    for over in ({"aud": "urn:other-service"}, {"iss": "urn:someone-else"}):
        token = jwt.encode(_claims(service_config, **over), key, algorithm="HS256")
        _refused(api.get(PATIENT_SEARCH, headers={"Authorization": f"Bearer {token}"}), 401, "invalid_token")


def test_missing_expiry_claim(api, service_config):
    claims = _claims(service_config)
    del claims["exp"]
    token = jwt.encode(claims, service_config.jwt_key.signing, algorithm="HS256")
    _refused(api.get(PATIENT_SEARCH, headers={"Authorization": f"Bearer {token}"}), 401, "invalid_token")


def test_alg_none(api, service_config):
    token = _hand_made_jwt({"alg": "none", "typ": "JWT"}, _claims(service_config), lambda _: "")
    _refused(api.get(PATIENT_SEARCH, headers={"Authorization": f"Bearer {token}"}), 401, "invalid_token")


def test_missing_scope(api, auth):
    body = _refused(api.get("/fhir/Observation", headers=auth("patients-only")), 403, "insufficient_scope")
    assert body["issue"][0]["code"] == "forbidden"
    assert 'scope="system/Observation.read"' in api.get("/fhir/Observation", headers=auth("patients-only")).headers["www-authenticate"]


def test_read_scope_on_the_write_route(api, auth, patient_ids):
    resource = {"resourceType": "Observation", "status": "final", "identifier": [{"system": "urn:t", "value": "r"}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"reference": f"Patient/{patient_ids[0]}"}, "effectiveDateTime": "2026-10-01T07:00:00+08:00"}  # fmt: skip
    response = api.post("/fhir/Observation", content=json.dumps(resource),
                        headers={**auth("reader"), "Content-Type": "application/fhir+json"})  # fmt: skip
    _refused(response, 403, "insufficient_scope")


def test_narrowed_token_loses_the_scope_it_did_not_ask_for(api, auth, patient_ids):
    headers = auth("writer", "system/Patient.read")
    assert api.get(f"/fhir/Patient/{patient_ids[0]}", headers=headers).status_code == 200
    _refused(api.get("/fhir/Observation", headers=headers), 403, "insufficient_scope")


# ------------------------------------------------------------------- RS256 and algorithm confusion
@pytest.fixture(scope="module")
def rsa_api(service_config, tmp_path_factory):
    """The same service signing with an RSA key read from a key file (RS256)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from fastapi.testclient import TestClient

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    key_file = tmp_path_factory.mktemp("jwt") / "jwt.pem"
    key_file.write_bytes(pem)
    key = load_jwt_key({"WORKBENCH_JWT_KEY_FILE": str(key_file)})
    assert key.algorithm == "RS256"
    config = ServiceConfig(pg_url=service_config.pg_url, jwt_key=key, clients=service_config.clients,
                           allowed_hosts=service_config.allowed_hosts)
    with TestClient(create_app(config)) as client:
        yield client, config


def test_rs256_token_is_accepted(rsa_api):
    client, config = rsa_api
    token = issue_token(config, "reader", frozenset({"system/Patient.read"}))["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert client.get(PATIENT_SEARCH, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_public_key_used_as_hmac_secret_is_refused(rsa_api):
    from cryptography.hazmat.primitives import serialization

    client, config = rsa_api
    public_pem = config.jwt_key.verifying.public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    # The classic confusion attack: HS256 keyed with the (public) PEM bytes a naive verifier would use.
    token = _hand_made_jwt({"alg": "HS256", "typ": "JWT"}, _claims(config),
                           lambda data: _b64(hmac.new(public_pem, data, hashlib.sha256).digest()))  # fmt: skip
    body = _refused(client.get(PATIENT_SEARCH, headers={"Authorization": f"Bearer {token}"}), 401, "invalid_token")
    assert "algorithm" in body["issue"][0]["diagnostics"]


# ------------------------------------------------------------------------------------ configuration
def test_missing_jwt_key_is_a_clear_error(monkeypatch, tmp_path):
    import workbench.clinical.service.config as cfg

    monkeypatch.setattr(cfg, "DEFAULT_JWT_KEY_FILE", tmp_path / "absent.key")
    with pytest.raises(RuntimeError, match="WORKBENCH_JWT_KEY"):
        load_jwt_key({})


def test_short_hmac_key_is_refused():
    with pytest.raises(ValueError, match="at least 32"):
        load_jwt_key({"WORKBENCH_JWT_KEY": "too-short"})


def test_clients_must_be_argon2_hashed_and_scoped():
    with pytest.raises(ValueError, match="argon2"):
        load_clients({"WORKBENCH_FHIR_CLIENTS": json.dumps({"a": {"secret_hash": "plain", "scopes": ["system/Patient.read"]}})})
    with pytest.raises(ValueError, match="scopes"):
        load_clients({"WORKBENCH_FHIR_CLIENTS": json.dumps({"a": {"secret_hash": "$argon2id$x", "scopes": ["root"]}})})


def test_cors_wildcard_is_refused(service_config):
    with pytest.raises(ValueError, match="wildcards"):
        ServiceConfig(pg_url=service_config.pg_url, jwt_key=service_config.jwt_key, clients={}, cors_origins=("*",))


def test_config_repr_hides_secrets(service_config):
    text = repr(service_config) + repr(service_config.jwt_key) + repr(next(iter(service_config.clients.values())))
    assert "argon2" not in text and service_config.pg_url not in text
    assert isinstance(service_config.jwt_key, JwtKey) and service_config.jwt_key.signing.decode() not in text
