-- Four-eyes (issue 10): a change the setting PORTAL_FOUR_EYES lists (allowing sub-offices,
-- granting ORV) is not applied but stored here until a different insurer admin approves
-- or rejects it. `change` is the whole request as JSON; `version` the target's version it
-- was made against, so an approval applies it only to the target as the requester saw it.
-- `outcome` stays NULL while it waits; the decision is set once (a conditional UPDATE), so
-- two approvers never both decide. The same file number exists in migrations/sqlite.
CREATE TABLE pending_changes (
    id               UUID PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('office', 'user')),
    target_id        UUID NOT NULL,
    change           TEXT NOT NULL,
    version          BIGINT NOT NULL,
    requested_by     UUID NOT NULL,
    requested_at     TIMESTAMPTZ NOT NULL,
    decided_by       UUID,
    decided_at       TIMESTAMPTZ,
    outcome          TEXT CHECK (outcome IN ('approved', 'rejected', 'stale'))
);
CREATE INDEX pending_changes_waiting ON pending_changes (requested_at) WHERE outcome IS NULL;
