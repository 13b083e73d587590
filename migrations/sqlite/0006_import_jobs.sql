-- Bulk imports of head offices from the appointment register (issue 6, SPEC O1). A job
-- and its rows are stored before any office is created, so any node can report progress
-- and any node can resume a job whose worker died (its lease ran out). Each row is applied
-- in its own transaction with its office, main user, activation mail and audit entry; the
-- row's outcome and the job's `done` count change in that same transaction. The same file
-- number exists in migrations/postgres with the same tables and columns.

CREATE TABLE import_jobs (
    id               BLOB PRIMARY KEY,
    actor_id         BLOB REFERENCES users (id),   -- the insurer admin who uploaded the file
    ip               TEXT,
    state            TEXT NOT NULL CHECK (state IN ('running', 'done')),
    total            INTEGER NOT NULL,
    done             INTEGER NOT NULL DEFAULT 0,   -- rows with an outcome
    lease_until      TEXT,                         -- a worker holds the job until then
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX import_jobs_state ON import_jobs (state, lease_until);

CREATE TABLE import_rows (
    job_id           BLOB NOT NULL REFERENCES import_jobs (id),
    position         INTEGER NOT NULL,             -- 0-based order of the file
    line             INTEGER NOT NULL,             -- 1-based line in the file
    advisor_number   TEXT NOT NULL,
    name             TEXT NOT NULL,
    email            TEXT NOT NULL,
    rights           TEXT NOT NULL,
    allow_sub_offices BOOLEAN NOT NULL,
    outcome          TEXT,                         -- NULL: pending; 'created'; or a text key
    office_id        BLOB REFERENCES offices (id),
    PRIMARY KEY (job_id, position)
);
