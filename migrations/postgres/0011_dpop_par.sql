-- Pushed authorization requests (RFC 9126) and DPoP (RFC 9449), each optional per client and
-- required when its registration says so (issue 10).
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;

-- RFC 9449 §10: the thumbprint of the key the code is bound to (`dpop_jkt`, or the proof
-- sent with the pushed request); the token request must prove that key.
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT;

-- A pushed request, by the SHA-256 of its request_uri (OP-18: ≥128 random bits, stored
-- only hashed, bound to the client, single use, ≤90 s).
CREATE TABLE pushed_requests (
    uri_hash         BYTEA PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (client_id),
    params           TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);

-- RFC 9449 §11.1: each DPoP proof once, by the SHA-256 of its key thumbprint and jti, in
-- the database so that every node sees it; kept until the proof is stale anyway.
CREATE TABLE dpop_proofs (
    proof_hash       BYTEA PRIMARY KEY,
    expires_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX dpop_proofs_expiry ON dpop_proofs (expires_at);
