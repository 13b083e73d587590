-- The audit log is append-only (SECURITY AD-03): row triggers do not fire on TRUNCATE,
-- so TRUNCATE is refused by a statement trigger as well.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
