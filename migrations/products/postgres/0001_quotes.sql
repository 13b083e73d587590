-- The product portals' own data (SPEC P1–P5, O7): quotes, applications made from them, and the
-- outbox of product mail. Applied by product-adapters with its own bookkeeping table
-- (_product_migrations), so it can share the idp's database (all-in-one) or have its own.
-- The same file number exists in migrations/products/sqlite with the same tables and columns.

CREATE TABLE quotes (
    id               UUID PRIMARY KEY,
    product          TEXT NOT NULL,          -- right code: DIP, DIL, ORV, ...
    variant          TEXT NOT NULL,          -- DIZP, DIKP, DIL, ORV, ... (what was quoted)
    seq              BIGINT NOT NULL,        -- per product: the quote number's running part
    office_id        UUID NOT NULL,          -- the quoting office (P2), from the token
    head_office_id   UUID NOT NULL,          -- its head office (itself for a head office), P4
    office_kind      TEXT NOT NULL CHECK (office_kind IN ('head_office', 'sub_office')),
    office_number    TEXT NOT NULL,          -- P2: the office as printed on the quote, at the time
    office_name      TEXT NOT NULL,
    office_address   TEXT NOT NULL,
    office_postcode  TEXT NOT NULL,
    office_city      TEXT NOT NULL,
    office_email     TEXT NOT NULL,
    head_office_email TEXT NOT NULL,         -- P3: the CC of product mail
    user_id          UUID NOT NULL,          -- the advisor's `sub`
    user_name        TEXT NOT NULL,
    user_email       TEXT NOT NULL,
    user_role        TEXT NOT NULL,
    client_name      TEXT NOT NULL,          -- the insured, to find the quote again
    tariff_version   TEXT NOT NULL,          -- P5: the tariff file's version that priced it
    request          TEXT NOT NULL,          -- the priced request (JSON)
    result           TEXT NOT NULL,          -- the engine's answer (JSON)
    amount_cents     BIGINT NOT NULL,        -- the headline figure (benefit a year, premium a month)
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (product, seq)
);
-- The last quote number drawn per product: one atomic upsert draws the next.
CREATE TABLE quote_numbers (
    product          TEXT PRIMARY KEY,
    last             BIGINT NOT NULL
);

CREATE INDEX quotes_head_office ON quotes (head_office_id, created_at);
CREATE INDEX quotes_office ON quotes (office_id, created_at);
CREATE INDEX quotes_advisor ON quotes (user_id, created_at);   -- the quote limit

CREATE TABLE applications (
    id               UUID PRIMARY KEY,
    quote_id         UUID NOT NULL UNIQUE REFERENCES quotes (id),  -- one application per quote
    product          TEXT NOT NULL,
    applicant_name   TEXT NOT NULL,
    applicant_address TEXT NOT NULL,
    applicant_postcode TEXT NOT NULL,
    applicant_city   TEXT NOT NULL,
    applicant_iban   TEXT NOT NULL,
    result           TEXT NOT NULL,          -- P5: the quote's figures, kept as applied for
    user_id          UUID NOT NULL,
    user_name        TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE product_outbox (
    id               UUID PRIMARY KEY,
    kind             TEXT NOT NULL,          -- quote, application
    payload          TEXT,                   -- the composed mail (JSON); NULL once sent
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    locked_until     TIMESTAMPTZ,
    sent_at          TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX product_outbox_due ON product_outbox (sent_at, next_attempt_at);
