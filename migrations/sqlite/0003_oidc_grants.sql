-- Grants, refresh tokens and client grant types (SPEC §4; SECURITY OP-07, OP-19).
-- The same file number exists in migrations/postgres with the same tables and columns.

-- Which grant types a client may use, space-separated: `authorization_code`,
-- `refresh_token` (scope offline_access), `client_credentials`.
ALTER TABLE clients ADD COLUMN grant_types TEXT NOT NULL DEFAULT 'authorization_code';

-- One grant per redeemed authorization code: what every token of that redemption hangs
-- on. Revoking it (code reuse, refresh-token reuse, revocation, logout) ends them all.
CREATE TABLE grants (
    id               BLOB PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (client_id),
    user_id          BLOB NOT NULL REFERENCES users (id),
    session_hash     BLOB NOT NULL,          -- the idp session it came from
    sid              TEXT NOT NULL,          -- the `sid` claim of that session
    scope            TEXT NOT NULL,
    auth_time        TEXT NOT NULL,
    amr              TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,          -- absolute end of its refresh tokens
    revoked_at       TEXT
);
CREATE INDEX grants_session ON grants (session_hash);
CREATE INDEX grants_sid ON grants (sid);
CREATE INDEX grants_user ON grants (user_id);

-- The grant a code was redeemed into, so a second redemption can revoke it (OP-07).
ALTER TABLE auth_codes ADD COLUMN grant_id BLOB;

-- Refresh tokens: only the SHA-256 is kept. Each use marks the row used and adds a new
-- one in the same grant (rotation); presenting a used one revokes the grant (OP-19).
CREATE TABLE refresh_tokens (
    token_hash       BLOB PRIMARY KEY,
    grant_id         BLOB NOT NULL REFERENCES grants (id),
    client_id        TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,          -- idle end (capped by the grant's end)
    used_at          TEXT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

-- A client's public keys (a JWKS, JSON) for private_key_jwt client authentication
-- (RFC 7523); NULL for clients that authenticate with a secret.
ALTER TABLE clients ADD COLUMN jwks TEXT;

-- The `jti` of every client assertion seen, until it expires: an assertion works once
-- (RFC 7523 §3 item 7).
CREATE TABLE client_assertions (
    client_id        TEXT NOT NULL,
    jti              TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    PRIMARY KEY (client_id, jti)
);

-- The algorithm of the client's ID tokens (SPEC §4): RS256 by default, ES256 or EdDSA.
ALTER TABLE clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256';
