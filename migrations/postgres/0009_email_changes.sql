-- AC-10: a new login e-mail for an activated user waits until the new address confirms
-- it. One pending change per user; the link is stored only as its hash (KS-01).
CREATE TABLE email_changes (
    user_id          UUID PRIMARY KEY REFERENCES users (id),
    new_email        TEXT NOT NULL,
    token_hash       BYTEA NOT NULL UNIQUE,
    requested_by     UUID,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);
