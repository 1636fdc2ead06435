-- Accrue schema, PostgreSQL. Amounts and rates are NUMERIC (exact); instants are
-- milliseconds since the Unix epoch (BIGINT, UTC). The ledger is append-only: amounts are
-- never updated; state changes are rows in entry_events.

CREATE TABLE plugins (
    digest           TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    version          TEXT NOT NULL,
    world            TEXT NOT NULL CHECK (world IN ('attribution', 'bonus', 'geo-rate')),
    size_bytes       BIGINT NOT NULL CHECK (size_bytes > 0),
    component        BYTEA NOT NULL,
    owner_program_id TEXT,
    builtin          BOOLEAN NOT NULL,
    created_at_ms    BIGINT NOT NULL
);

CREATE TABLE programs (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    currency           TEXT NOT NULL CHECK (length(currency) = 3),
    attribution_digest TEXT NOT NULL REFERENCES plugins (digest),
    attribution_config TEXT NOT NULL,
    geo_digest         TEXT REFERENCES plugins (digest),
    geo_config         TEXT,
    bonus_digest       TEXT REFERENCES plugins (digest),
    bonus_config       TEXT,
    lookback_days      BIGINT NOT NULL CHECK (lookback_days >= 0),
    hold_days          BIGINT NOT NULL CHECK (hold_days >= 0),
    created_at_ms      BIGINT NOT NULL,
    updated_at_ms      BIGINT NOT NULL
);

CREATE TABLE rate_tables (
    program_id        TEXT NOT NULL REFERENCES programs (id),
    version           BIGINT NOT NULL CHECK (version > 0),
    effective_from_ms BIGINT NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    PRIMARY KEY (program_id, version)
);

CREATE TABLE commission_tiers (
    program_id TEXT NOT NULL,
    version    BIGINT NOT NULL,
    tier       TEXT NOT NULL,
    base_rate  NUMERIC NOT NULL CHECK (base_rate >= 0 AND base_rate <= 1),
    bonus_rate NUMERIC NOT NULL CHECK (bonus_rate >= 0 AND bonus_rate <= 1),
    PRIMARY KEY (program_id, version, tier),
    FOREIGN KEY (program_id, version) REFERENCES rate_tables (program_id, version)
);

CREATE TABLE volume_tiers (
    program_id TEXT NOT NULL,
    version    BIGINT NOT NULL,
    metric     TEXT NOT NULL CHECK (metric IN ('conversions', 'revenue')),
    threshold  NUMERIC NOT NULL CHECK (threshold >= 0),
    add_rate   NUMERIC NOT NULL CHECK (add_rate >= 0 AND add_rate <= 1),
    PRIMARY KEY (program_id, version, metric, threshold),
    FOREIGN KEY (program_id, version) REFERENCES rate_tables (program_id, version)
);

CREATE TABLE partners (
    id              TEXT PRIMARY KEY,
    program_id      TEXT NOT NULL REFERENCES programs (id),
    name            TEXT,
    country         TEXT,
    payout_currency TEXT NOT NULL CHECK (length(payout_currency) = 3),
    created_at_ms   BIGINT NOT NULL
);
CREATE INDEX partners_program ON partners (program_id);

CREATE TABLE partner_tiers (
    partner_id        TEXT NOT NULL REFERENCES partners (id),
    effective_from_ms BIGINT NOT NULL,
    tier              TEXT NOT NULL,
    PRIMARY KEY (partner_id, effective_from_ms)
);

CREATE TABLE fx_rates (
    base              TEXT NOT NULL,
    quote             TEXT NOT NULL,
    effective_from_ms BIGINT NOT NULL,
    rate              NUMERIC NOT NULL CHECK (rate > 0),
    created_at_ms     BIGINT NOT NULL,
    PRIMARY KEY (base, quote, effective_from_ms),
    CHECK (base <> quote)
);

CREATE TABLE conversions (
    program_id     TEXT NOT NULL REFERENCES programs (id),
    id             TEXT NOT NULL,
    amount         NUMERIC NOT NULL CHECK (amount >= 0),
    currency       TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    customer_id    TEXT,
    country        TEXT,
    region         TEXT,
    new_customer   BOOLEAN NOT NULL,
    -- Free-form attributes as a JSON array of [key, value] pairs, in the client's order.
    attributes     TEXT NOT NULL DEFAULT '[]',
    created_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (program_id, id)
);
-- Time first, on purpose: an index led by program_id would tie with the primary key for
-- PostgreSQL's foreign-key checks (program_id, id) while tables are empty, and a check
-- planned then (plans live as long as the connection) would scan a whole program's rows.
CREATE INDEX conversions_time ON conversions (occurred_at_ms, program_id);

-- The client's conversion id is the idempotency key: unique, and written in the same
-- transaction as the conversion, its attributions and its entries.
CREATE TABLE idempotency_records (
    program_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    payload_hash  TEXT NOT NULL,
    result        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (program_id, key),
    FOREIGN KEY (program_id, key) REFERENCES conversions (program_id, id)
);

CREATE TABLE touchpoints (
    program_id     TEXT NOT NULL,
    conversion_id  TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    partner_id     TEXT NOT NULL REFERENCES partners (id),
    channel        TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    campaign       TEXT,
    PRIMARY KEY (program_id, conversion_id, seq),
    FOREIGN KEY (program_id, conversion_id) REFERENCES conversions (program_id, id)
);

CREATE TABLE revenue_attributions (
    program_id        TEXT NOT NULL,
    conversion_id     TEXT NOT NULL,
    partner_id        TEXT NOT NULL REFERENCES partners (id),
    weight            NUMERIC NOT NULL CHECK (weight >= 0 AND weight <= 1),
    attributed_amount NUMERIC NOT NULL CHECK (attributed_amount >= 0),
    currency          TEXT NOT NULL,
    occurred_at_ms    BIGINT NOT NULL,
    PRIMARY KEY (program_id, conversion_id, partner_id),
    FOREIGN KEY (program_id, conversion_id) REFERENCES conversions (program_id, id)
);
CREATE INDEX revenue_attributions_partner ON revenue_attributions (partner_id, occurred_at_ms);

CREATE TABLE ledger_entries (
    id                BIGSERIAL PRIMARY KEY,
    program_id        TEXT NOT NULL REFERENCES programs (id),
    partner_id        TEXT NOT NULL REFERENCES partners (id),
    conversion_id     TEXT,
    kind              TEXT NOT NULL CHECK (kind IN ('commission', 'bonus', 'reversal', 'adjustment')),
    amount            NUMERIC NOT NULL,
    currency          TEXT NOT NULL,
    payout_amount     NUMERIC NOT NULL,
    payout_currency   TEXT NOT NULL,
    fx_rate           NUMERIC NOT NULL CHECK (fx_rate > 0),
    rate              NUMERIC,
    reverses_entry_id BIGINT REFERENCES ledger_entries (id),
    cause             TEXT NOT NULL,
    provenance        TEXT,
    hold_until_ms     BIGINT NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    FOREIGN KEY (program_id, conversion_id) REFERENCES conversions (program_id, id),
    CHECK (kind <> 'commission' OR amount >= 0)
);
CREATE INDEX ledger_entries_partner ON ledger_entries (partner_id, id);
CREATE INDEX ledger_entries_conversion ON ledger_entries (program_id, conversion_id);
CREATE INDEX ledger_entries_program ON ledger_entries (program_id, id);

CREATE TABLE entry_events (
    id       BIGSERIAL PRIMARY KEY,
    entry_id BIGINT NOT NULL REFERENCES ledger_entries (id),
    event    TEXT NOT NULL CHECK (event IN ('approved', 'paid', 'frozen', 'released')),
    at_ms    BIGINT NOT NULL,
    reason   TEXT NOT NULL
);
CREATE INDEX entry_events_entry ON entry_events (entry_id, id);

CREATE TABLE refunds (
    program_id    TEXT NOT NULL,
    conversion_id TEXT NOT NULL,
    id            TEXT NOT NULL,
    amount        NUMERIC NOT NULL CHECK (amount > 0),
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (program_id, conversion_id, id),
    FOREIGN KEY (program_id, conversion_id) REFERENCES conversions (program_id, id)
);

CREATE TABLE disputes (
    id            TEXT PRIMARY KEY,
    program_id    TEXT NOT NULL REFERENCES programs (id),
    conversion_id TEXT NOT NULL,
    entry_id      BIGINT REFERENCES ledger_entries (id),
    opened_by     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    opened_at_ms  BIGINT NOT NULL,
    FOREIGN KEY (program_id, conversion_id) REFERENCES conversions (program_id, id)
);

CREATE TABLE dispute_events (
    id         BIGSERIAL PRIMARY KEY,
    dispute_id TEXT NOT NULL REFERENCES disputes (id),
    event      TEXT NOT NULL CHECK (event IN ('opened', 'upheld', 'rejected')),
    actor      TEXT NOT NULL,
    note       TEXT NOT NULL,
    at_ms      BIGINT NOT NULL
);
-- A dispute is resolved at most once.
CREATE UNIQUE INDEX dispute_events_one_resolution ON dispute_events (dispute_id) WHERE event <> 'opened';

CREATE TABLE adjustments (
    id            TEXT PRIMARY KEY,
    program_id    TEXT NOT NULL REFERENCES programs (id),
    request_hash  TEXT NOT NULL,
    from_ms       BIGINT NOT NULL,
    to_ms         BIGINT NOT NULL,
    report        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE performance_bonuses (
    program_id      TEXT NOT NULL REFERENCES programs (id),
    partner_id      TEXT NOT NULL REFERENCES partners (id),
    period_start_ms BIGINT NOT NULL,
    period_end_ms   BIGINT NOT NULL,
    plugin_digest   TEXT NOT NULL,
    decision        TEXT NOT NULL,
    amount          NUMERIC NOT NULL CHECK (amount >= 0),
    currency        TEXT NOT NULL,
    ledger_entry_id BIGINT REFERENCES ledger_entries (id),
    created_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (program_id, partner_id, period_start_ms)
);

CREATE TABLE payout_schedules (
    program_id     TEXT PRIMARY KEY REFERENCES programs (id),
    frequency      TEXT NOT NULL CHECK (frequency IN ('weekly', 'monthly')),
    day            BIGINT NOT NULL,
    minimum_amount NUMERIC NOT NULL CHECK (minimum_amount >= 0),
    created_at_ms  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    key_hash      TEXT NOT NULL UNIQUE,
    scope         TEXT NOT NULL CHECK (scope IN ('admin', 'partner', 'plugin_author')),
    partner_id    TEXT REFERENCES partners (id),
    program_id    TEXT REFERENCES programs (id),
    label         TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    CHECK (scope <> 'partner' OR partner_id IS NOT NULL),
    CHECK (scope <> 'plugin_author' OR program_id IS NOT NULL)
);
