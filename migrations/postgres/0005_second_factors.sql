-- Second factors (SPEC F1–F4): TOTP, recovery codes, passkeys, and the sign-in steps
-- between the password and a session. The same file number exists in
-- migrations/sqlite with the same tables and columns.

-- One authenticator app per user. The seed is AEAD ciphertext under the master key with
-- the user id as associated data (SECURITY MF-04); `last_step` is the RFC 6238 time step
-- of the last accepted code, so no code is accepted twice, on any node (MF-02).
CREATE TABLE totp_factors (
    user_id          UUID PRIMARY KEY REFERENCES users (id),
    secret           BYTEA NOT NULL,
    last_step        BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

-- Ten single-use recovery codes per set; only the SHA-256 of each 120-bit code (MF-05).
CREATE TABLE recovery_codes (
    code_hash        BYTEA PRIMARY KEY,
    user_id          UUID NOT NULL REFERENCES users (id),
    created_at       TIMESTAMPTZ NOT NULL,
    used_at          TIMESTAMPTZ
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- WebAuthn credentials (F4). The credential id is unique over all users (MF-09); the
-- webauthn-rs `Passkey` (public key, counter) is AEAD ciphertext with the row id as
-- associated data.
CREATE TABLE passkeys (
    id               UUID PRIMARY KEY,
    user_id          UUID NOT NULL REFERENCES users (id),
    credential_id    BYTEA NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    credential       BYTEA NOT NULL,
    backup_eligible  BOOLEAN NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    last_used_at     TIMESTAMPTZ
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A step of a sign-in or enrolment that is not (yet) a session (AU-08): the browser holds
-- a random id, the table its SHA-256. `secret` is a TOTP seed awaiting its first code,
-- `ceremony` a WebAuthn challenge state; both AEAD ciphertext bound to the row.
CREATE TABLE pending_steps (
    id_hash          BYTEA PRIMARY KEY,
    kind             TEXT NOT NULL,
    user_id          UUID REFERENCES users (id),
    amr              TEXT NOT NULL DEFAULT '',
    return_to        TEXT NOT NULL DEFAULT '/',
    secret           BYTEA,
    ceremony         BYTEA,
    failures         BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX pending_steps_expiry ON pending_steps (expires_at);
