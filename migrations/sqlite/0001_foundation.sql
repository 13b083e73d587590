-- Offices, users and rights (SPEC §3), sign-in state, OIDC clients and keys, outbox, audit.
-- The same file number exists in migrations/sqlite with the same tables and columns.

CREATE TABLE offices (
    id               BLOB PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('head_office', 'sub_office')),
    parent_id        BLOB REFERENCES offices (id),
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
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK ((kind = 'head_office') = (parent_id IS NULL)),
    CHECK ((kind = 'head_office') = (advisor_number IS NOT NULL))
);
CREATE UNIQUE INDEX offices_number_per_head ON offices (parent_id, number);
CREATE INDEX offices_parent ON offices (parent_id);

CREATE TABLE users (
    id               BLOB PRIMARY KEY,       -- the stable `sub`
    office_id        BLOB REFERENCES offices (id),
    role             TEXT NOT NULL CHECK (role IN ('main_user', 'employee', 'insurer_admin')),
    name             TEXT NOT NULL,
    email            TEXT NOT NULL UNIQUE,   -- normalised: trimmed, NFKC, lower case (U3, AU-01)
    rights           TEXT NOT NULL,
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash    TEXT,                   -- argon2id PHC string; NULL until activation
    activated_at     TEXT,
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK ((role = 'insurer_admin') = (office_id IS NULL))
);
CREATE UNIQUE INDEX users_one_main_user_per_office ON users (office_id) WHERE role = 'main_user';
CREATE INDEX users_office ON users (office_id);

-- Activation and password-reset links: only the SHA-256 of the token is kept (A2).
CREATE TABLE user_tokens (
    token_hash       BLOB PRIMARY KEY,
    user_id          BLOB NOT NULL REFERENCES users (id),
    purpose          TEXT NOT NULL CHECK (purpose IN ('activation', 'reset')),
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    used_at          TEXT
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);

-- The one-time link that creates the first insurer admin on an empty database (AU-06).
CREATE TABLE setup_tokens (
    token_hash       BLOB PRIMARY KEY,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    used_at          TEXT
);

CREATE TABLE signing_keys (
    kid              TEXT PRIMARY KEY,
    alg              TEXT NOT NULL,
    private_key      BLOB NOT NULL,         -- AEAD ciphertext under the master key
    public_jwk       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    use_from         TEXT NOT NULL,   -- published before it signs
    retired_at       TEXT
);

CREATE TABLE clients (
    client_id        TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    secret_hash      BLOB,                  -- SHA-256 of a random secret; NULL for public clients
    redirect_uris    TEXT NOT NULL,          -- JSON array, matched byte for byte
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    backchannel_logout_uri TEXT,
    require_pkce     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE idp_sessions (
    id_hash          BLOB PRIMARY KEY,
    user_id          BLOB NOT NULL REFERENCES users (id),
    auth_time        TEXT NOT NULL,
    amr              TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    last_seen_at     TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    revoked_at       TEXT
);
CREATE INDEX idp_sessions_user ON idp_sessions (user_id);

CREATE TABLE auth_codes (
    code_hash        BLOB PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (client_id),
    user_id          BLOB NOT NULL REFERENCES users (id),
    session_hash     BLOB NOT NULL,
    redirect_uri     TEXT NOT NULL,
    scope            TEXT NOT NULL,
    nonce            TEXT,
    code_challenge   TEXT,
    auth_time        TEXT NOT NULL,
    amr              TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    used_at          TEXT
);

-- E-mails written in the same transaction as the change that causes them; the payload is
-- AEAD-encrypted (it holds activation links) and erased once delivered.
CREATE TABLE outbox (
    id               BLOB PRIMARY KEY,
    kind             TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    payload          BLOB,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    next_attempt_at  TEXT NOT NULL,
    locked_until     TEXT,
    sent_at          TEXT,
    last_error       TEXT
);
CREATE INDEX outbox_due ON outbox (sent_at, next_attempt_at);

CREATE TABLE audit_log (
    id               BLOB PRIMARY KEY,
    at               TEXT NOT NULL,
    actor_id         BLOB,
    action           TEXT NOT NULL,
    target_user_id   BLOB,
    target_office_id BLOB,
    ip               TEXT,
    detail           TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_office ON audit_log (target_office_id);

-- The audit log is append-only (SECURITY AD-03).
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
