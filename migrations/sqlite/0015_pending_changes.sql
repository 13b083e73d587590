-- Four-eyes (issue 10): a change the setting PORTAL_FOUR_EYES lists (allowing sub-offices,
-- granting ORV) is not applied but stored here until a different insurer admin approves
-- or rejects it. `change` is the whole request as JSON; `version` the target's version it
-- was made against, so an approval applies it only to the target as the requester saw it.
-- `outcome` stays NULL while it waits; the decision is set once (a conditional UPDATE), so
-- two approvers never both decide. The same file number exists in migrations/postgres.
CREATE TABLE pending_changes (
    id               BLOB PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('office', 'user')),
    target_id        BLOB NOT NULL,
    change           TEXT NOT NULL,
    version          INTEGER NOT NULL,
    requested_by     BLOB NOT NULL,
    requested_at     TEXT NOT NULL,
    decided_by       BLOB,
    decided_at       TEXT,
    outcome          TEXT CHECK (outcome IN ('approved', 'rejected', 'stale'))
);
CREATE INDEX pending_changes_waiting ON pending_changes (requested_at) WHERE outcome IS NULL;
