-- The audit log keeps its entries for a retention period (issue 10,
-- PORTAL_AUDIT_RETENTION_DAYS) and stays append-only otherwise (SECURITY AD-03).
--
-- Only the retention purge (idp::store::audit::purge) deletes: in one transaction it
-- writes its cutoff into audit_purge, deletes the rows older than it, removes the cutoff
-- again and records its own entry. A DELETE with no cutoff written, or of a row at or
-- after the cutoff, is refused; a cutoff within the last 30 days is refused, so the most
-- recent month can never be deleted whatever the application asks. UPDATE stays refused
-- (0001's trigger). Times are RFC 3339 in UTC as sqlx writes them, so text order is time
-- order.
CREATE TABLE audit_purge (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    before TEXT NOT NULL
);

CREATE TRIGGER audit_purge_not_recent BEFORE INSERT ON audit_purge
WHEN NEW.before > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-30 days')
BEGIN
    SELECT RAISE(ABORT, 'audit_log keeps at least the last 30 days');
END;
CREATE TRIGGER audit_purge_no_update BEFORE UPDATE ON audit_purge
BEGIN
    SELECT RAISE(ABORT, 'audit_purge is written and removed, never changed');
END;

DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN (SELECT before FROM audit_purge WHERE id = 1) IS NULL
  OR OLD.at >= (SELECT before FROM audit_purge WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
