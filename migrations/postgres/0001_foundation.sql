-- Offices, users and rights (SPEC §3), sign-in state, OIDC clients and keys, outbox, audit.
-- The same file number exists in migrations/sqlite with the same tables and columns.

CREATE TABLE offices (
    id               UUID PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('head_office', 'sub_office')),
    parent_id        UUID REFERENCES offices (id),
    advisor_number   TEXT UNIQUE,            -- head offices only (O1: unique across all offices)
    number           TEXT NOT NULL,          -- advisor number, or the sub-office's own number
    name             TEXT NOT NULL,
    address          TEXT NOT NULL DEFAULT '',
    postcode         TEXT NOT NULL DEFAULT '',
    city             TEXT NOT NULL DEFAULT '',
    phone            TEXT NOT NULL DEFAULT '',
    email            TEXT NOT NULL UNIQUE,   -- normalised; unique among all offices (O3)
    rights           TEXT NOT NULL,          -- comma-separated right codes
    allow_sub_offices BOOLEAN NOT NULL DEFAULT FALSE,
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    version          BIGINT NOT NULL DEFAULT 1,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CHECK ((kind = 'head_office') = (parent_id IS NULL)),
    CHECK ((kind = 'head_office') = (advisor_number IS NOT NULL))
);
CREATE UNIQUE INDEX offices_number_per_head ON offices (parent_id, number);
CREATE INDEX offices_parent ON offices (parent_id);

CREATE TABLE users (
    id               UUID PRIMARY KEY,       -- the stable `sub`
    office_id        UUID REFERENCES offices (id),
    role             TEXT NOT NULL CHECK (role IN ('main_user', 'employee', 'insurer_admin')),
    name             TEXT NOT NULL,
    email            TEXT NOT NULL UNIQUE,   -- normalised: trimmed, NFKC, lower case (U3, AU-01)
    rights           TEXT NOT NULL,
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash    TEXT,                   -- argon2id PHC string; NULL until activation
    activated_at     TIMESTAMPTZ,
    version          BIGINT NOT NULL DEFAULT 1,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CHECK ((role = 'insurer_admin') = (office_id IS NULL))
);
CREATE UNIQUE INDEX users_one_main_user_per_office ON users (office_id) WHERE role = 'main_user';
CREATE INDEX users_office ON users (office_id);

-- Activation and password-reset links: only the SHA-256 of the token is kept (A2).
CREATE TABLE user_tokens (
    token_hash       BYTEA PRIMARY KEY,
    user_id          UUID NOT NULL REFERENCES users (id),
    purpose          TEXT NOT NULL CHECK (purpose IN ('activation', 'reset')),
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    used_at          TIMESTAMPTZ
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);

-- The one-time link that creates the first insurer admin on an empty database (AU-06).
CREATE TABLE setup_tokens (
    token_hash       BYTEA PRIMARY KEY,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    used_at          TIMESTAMPTZ
);

CREATE TABLE signing_keys (
    kid              TEXT PRIMARY KEY,
    alg              TEXT NOT NULL,
    private_key      BYTEA NOT NULL,         -- AEAD ciphertext under the master key
    public_jwk       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    use_from         TIMESTAMPTZ NOT NULL,   -- published before it signs
    retired_at       TIMESTAMPTZ
);

CREATE TABLE clients (
    client_id        TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    secret_hash      BYTEA,                  -- SHA-256 of a random secret; NULL for public clients
    redirect_uris    TEXT NOT NULL,          -- JSON array, matched byte for byte
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    backchannel_logout_uri TEXT,
    require_pkce     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE idp_sessions (
    id_hash          BYTEA PRIMARY KEY,
    user_id          UUID NOT NULL REFERENCES users (id),
    auth_time        TIMESTAMPTZ NOT NULL,
    amr              TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    last_seen_at     TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    revoked_at       TIMESTAMPTZ
);
CREATE INDEX idp_sessions_user ON idp_sessions (user_id);

CREATE TABLE auth_codes (
    code_hash        BYTEA PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (client_id),
    user_id          UUID NOT NULL REFERENCES users (id),
    session_hash     BYTEA NOT NULL,
    redirect_uri     TEXT NOT NULL,
    scope            TEXT NOT NULL,
    nonce            TEXT,
    code_challenge   TEXT,
    auth_time        TIMESTAMPTZ NOT NULL,
    amr              TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    used_at          TIMESTAMPTZ
);

-- E-mails written in the same transaction as the change that causes them; the payload is
-- AEAD-encrypted (it holds activation links) and erased once delivered.
CREATE TABLE outbox (
    id               UUID PRIMARY KEY,
    kind             TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    payload          BYTEA,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    locked_until     TIMESTAMPTZ,
    sent_at          TIMESTAMPTZ,
    last_error       TEXT
);
CREATE INDEX outbox_due ON outbox (sent_at, next_attempt_at);

CREATE TABLE audit_log (
    id               UUID PRIMARY KEY,
    at               TIMESTAMPTZ NOT NULL,
    actor_id         UUID,
    action           TEXT NOT NULL,
    target_user_id   UUID,
    target_office_id UUID,
    ip               TEXT,
    detail           TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_office ON audit_log (target_office_id);

-- The audit log is append-only (SECURITY AD-03).
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
