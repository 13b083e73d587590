-- The MFA mandate as a policy (issue 10, SPEC F2): per head office the date from which a
-- second factor is required (NULL: the setting PORTAL_MFA_REQUIRED_FROM) and a grace of
-- N password-only sign-ins after it. A sub-office follows its head office. The same file
-- number exists in migrations/postgres with the same tables and columns.
ALTER TABLE offices ADD COLUMN mfa_required_from TEXT;
ALTER TABLE offices ADD COLUMN mfa_grace_logins INTEGER NOT NULL DEFAULT 0
    CHECK (mfa_grace_logins >= 0 AND mfa_grace_logins <= 100);

-- Password-only sign-ins a user made under grace, per mandate date: a new date gives a
-- fresh grace. Counted with one conditional upsert, so two nodes never hand out one more.
CREATE TABLE mfa_grace (
    user_id          BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    required_from    TEXT NOT NULL,
    used             INTEGER NOT NULL,
    PRIMARY KEY (user_id, required_from)
);

-- Reminders sent, per user and mandate date: `d14` and `d3` (the housekeeping's, once
-- each, on any node), `manual` ("Herinnering sturen", its `sent_at` throttles the next).
CREATE TABLE mfa_reminders (
    user_id          BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    required_from    TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('d14', 'd3', 'manual')),
    sent_at          TEXT NOT NULL,
    PRIMARY KEY (user_id, required_from, kind)
);
