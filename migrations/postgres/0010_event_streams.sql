-- Issue 10: rights events (RFC 8417 Security Event Tokens, pushed per RFC 8935 in the style
-- of the OpenID Shared Signals Framework / CAEP). A client with a stream receives a signed
-- `token-claims-change` or `session-revoked` event at `endpoint` whenever the rights of a
-- user it holds a live grant for change, instead of a back-channel logout.
CREATE TABLE event_streams (
    client_id        TEXT PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
    endpoint         TEXT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
