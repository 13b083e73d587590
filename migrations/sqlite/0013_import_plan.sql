-- Imports plan before they apply (issue 10): each row of a job is a new head office, a
-- change of the head office with its advisor number, or leaves it unchanged; a job may
-- wait as a preview until an admin confirms it. The same file number exists in
-- migrations/postgres with the same columns.

-- A job a worker may apply. FALSE: a preview, shown to the admin and applied only after
-- "Importeren" (jobs stored before this migration were applied at once).
ALTER TABLE import_jobs ADD COLUMN confirmed BOOLEAN NOT NULL DEFAULT TRUE;
-- SHA-256 over the planned rows and the versions they were planned from: the
-- confirmation names it, so what is applied is what was shown.
ALTER TABLE import_jobs ADD COLUMN fingerprint TEXT;

-- NULL or 'create': a new head office; 'change'; 'unchanged'.
ALTER TABLE import_rows ADD COLUMN action TEXT;
-- The version of the existing head office (office_id) the row was planned from.
ALTER TABLE import_rows ADD COLUMN office_version INTEGER;
-- The fields a change changes, as JSON: [{"field", "before", "after"}].
ALTER TABLE import_rows ADD COLUMN changes TEXT;
-- The existing office's e-mail address when the file holds another; never applied.
ALTER TABLE import_rows ADD COLUMN email_notice TEXT;
