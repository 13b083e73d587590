-- Failure and request counters for throttling sign-in and the mail request forms
-- (SECURITY AV-01, AV-02, AV-04, ML-03). Kept in the database so that every node sees the
-- same counts. One row per (kind, subject): a fixed window that starts at the first event.
-- The same file number exists in migrations/sqlite with the same table.
CREATE TABLE signin_throttle (
    kind             TEXT NOT NULL,          -- login_account, login_ip, mail_account, mail_ip
    subject          TEXT NOT NULL,          -- a user id, a login name or an IP address
    window_start     TIMESTAMPTZ NOT NULL,
    hits             BIGINT NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX signin_throttle_window ON signin_throttle (window_start);
