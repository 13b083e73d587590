-- AC-10: a new login e-mail for an activated user waits until the new address confirms
-- it. One pending change per user; the link is stored only as its hash (KS-01).
CREATE TABLE email_changes (
    user_id          BLOB PRIMARY KEY REFERENCES users (id),
    new_email        TEXT NOT NULL,
    token_hash       BLOB NOT NULL UNIQUE,
    requested_by     BLOB,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL
);
