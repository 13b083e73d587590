-- Kept in step with migrations/postgres/0004: SQLite has no TRUNCATE; its DELETE trigger
-- (0001) already covers `DELETE FROM audit_log` without a WHERE clause.
SELECT 1;
