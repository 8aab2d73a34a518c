-- Revoked access tokens (POST /auth/revoke, RFC 7009), shared by every process of the service: each
-- process keeps its own in-memory denylist for the per-request check and merges this table into it
-- about once a second (workbench.clinical.service.revocations). Rows are kept until the token would
-- have expired anyway; `expires_at` is the token's `exp` claim (seconds since the epoch).
CREATE TABLE fhir.revoked_token (
    jti        text PRIMARY KEY,
    expires_at bigint NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_token_expiry ON fhir.revoked_token (expires_at);
