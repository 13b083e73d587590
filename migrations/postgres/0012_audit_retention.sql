-- The audit log keeps its entries for a retention period (issue 10,
-- PORTAL_AUDIT_RETENTION_DAYS) and stays append-only otherwise (SECURITY AD-03).
--
-- Only the retention purge (idp::store::audit::purge) deletes: in one transaction it sets
-- `portal.audit_purge_before` for that transaction only (set_config(…, true), i.e. SET
-- LOCAL), deletes the rows older than it and records its own entry. A DELETE without the
-- setting, or of a row at or after the cutoff, is refused; a cutoff within the last 30
-- days is refused, so the most recent month can never be deleted whatever the
-- application asks. UPDATE and TRUNCATE stay refused (0001, 0004 use this function).
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
DECLARE
    cutoff timestamptz;
BEGIN
    IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' THEN
        cutoff := NULLIF(current_setting('portal.audit_purge_before', true), '')::timestamptz;
        IF cutoff IS NOT NULL AND cutoff <= now() - interval '30 days' AND OLD.at < cutoff THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
