-- Secrets every replica of one deployment shares, made once at random by the first start
-- (the key that seals the API's opaque pagination cursors, ...). Stored as hex text.
CREATE TABLE instance_secrets (
    name          TEXT PRIMARY KEY,
    value_hex     TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
