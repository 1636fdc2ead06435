-- Analytics (issue 12): click and lead events, the rollups every analytics answer reads,
-- customers and cohorts, the queue that keeps the rollups in step with the ledger, fraud
-- alerts and report jobs. Money in rollups is in integer minor units of its currency
-- (exact on both stores: SQLite adds integers exactly, and its decimals are text).

-- Clicks and leads, as posted. The visitor id is kept only as an HMAC under the
-- deployment's `visitor-key` instance secret, so it can be matched, never read back.
CREATE TABLE analytics_events (
    program_id       TEXT NOT NULL,
    id               TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('click', 'lead')),
    partner_id       TEXT NOT NULL,
    occurred_at_ms   BIGINT NOT NULL,
    visitor_hash     TEXT,
    campaign         TEXT,
    channel          TEXT,
    landing_page     TEXT,
    country          TEXT,
    user_agent_class TEXT,
    click_id         TEXT,
    created_at_ms    BIGINT NOT NULL,
    PRIMARY KEY (program_id, id)
);

-- What the conversion names for analytics and fraud rules: the click it came from, the
-- visitor (HMAC) and the customer's e-mail (HMAC).
ALTER TABLE conversions ADD COLUMN click_id TEXT;
ALTER TABLE conversions ADD COLUMN visitor_hash TEXT;
ALTER TABLE conversions ADD COLUMN email_hash TEXT;
CREATE INDEX conversions_visitor ON conversions (program_id, visitor_hash, occurred_at_ms) WHERE visitor_hash IS NOT NULL;
CREATE INDEX conversions_customer ON conversions (program_id, customer_id, occurred_at_ms) WHERE customer_id IS NOT NULL;

-- A partner's own identity as a customer, for the self-referral rule: its customer id
-- at the merchant, and its e-mail address as an HMAC.
ALTER TABLE partners ADD COLUMN own_customer_id TEXT;
ALTER TABLE partners ADD COLUMN email_hash TEXT;

-- A program's fraud rules and thresholds (JSON; defaults when NULL).
ALTER TABLE programs ADD COLUMN fraud_config TEXT;

-- Sales and money by (program, partner, currency, time bucket). `partner_id` '' is the
-- whole program. `converted` 0: the facts in their own currency; 1: facts in another
-- currency converted to the program currency at the rate recorded for their instant
-- (`currency` is then the program currency), so the program-currency total is every row
-- in that currency. Grains: 'q' 15 minutes, 'h' hour, 'd' day (UTC): any range of whole
-- quarter hours, which is what a local day is in every time zone, is a few rows of each.
CREATE TABLE rollup_sales (
    program_id    TEXT NOT NULL,
    grain         TEXT NOT NULL CHECK (grain IN ('q', 'h', 'd')),
    partner_id    TEXT NOT NULL,
    currency      TEXT NOT NULL,
    converted     SMALLINT NOT NULL,
    bucket_ms     BIGINT NOT NULL,
    conversions   BIGINT NOT NULL DEFAULT 0,
    new_customers BIGINT NOT NULL DEFAULT 0,
    returning_customers BIGINT NOT NULL DEFAULT 0,
    revenue       BIGINT NOT NULL DEFAULT 0,
    refunded      BIGINT NOT NULL DEFAULT 0,
    commissions   BIGINT NOT NULL DEFAULT 0,
    bonuses       BIGINT NOT NULL DEFAULT 0,
    reversals     BIGINT NOT NULL DEFAULT 0,
    adjustments   BIGINT NOT NULL DEFAULT 0,
    fees          BIGINT NOT NULL DEFAULT 0,
    withholding   BIGINT NOT NULL DEFAULT 0,
    unconverted   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (program_id, grain, partner_id, bucket_ms, currency, converted)
);
CREATE INDEX rollup_sales_time ON rollup_sales (program_id, grain, bucket_ms);

-- The funnel by (program, partner, channel, campaign, time bucket): clicks and leads
-- from the events, sales from the conversions, and the click-to-conversion times as a
-- histogram (under 1 min, 10 min, 1 h, 6 h, 1 d, 7 d, 30 d, and longer).
CREATE TABLE rollup_funnel (
    program_id TEXT NOT NULL,
    grain      TEXT NOT NULL CHECK (grain IN ('q', 'h', 'd')),
    partner_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    campaign   TEXT NOT NULL,
    bucket_ms  BIGINT NOT NULL,
    clicks     BIGINT NOT NULL DEFAULT 0,
    leads      BIGINT NOT NULL DEFAULT 0,
    sales      BIGINT NOT NULL DEFAULT 0,
    ttc_0 BIGINT NOT NULL DEFAULT 0, ttc_1 BIGINT NOT NULL DEFAULT 0,
    ttc_2 BIGINT NOT NULL DEFAULT 0, ttc_3 BIGINT NOT NULL DEFAULT 0,
    ttc_4 BIGINT NOT NULL DEFAULT 0, ttc_5 BIGINT NOT NULL DEFAULT 0,
    ttc_6 BIGINT NOT NULL DEFAULT 0, ttc_7 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (program_id, grain, partner_id, bucket_ms, channel, campaign)
);
CREATE INDEX rollup_funnel_time ON rollup_funnel (program_id, grain, bucket_ms);

-- Customers (by the merchant's customer id): first purchase, who acquired them (the
-- partner with the largest share of the first purchase; '' for none) and the partners and
-- currency of that purchase; the months they bought in, with orders and revenue in the
-- program currency; and the cohort matrix those give, per acquiring partner and for the
-- whole program ('').
CREATE TABLE customers (
    program_id          TEXT NOT NULL,
    customer_id         TEXT NOT NULL,
    first_ms            BIGINT NOT NULL,
    first_conversion_id TEXT NOT NULL,
    acquired_by         TEXT NOT NULL,
    first_partners      TEXT NOT NULL,
    first_currency      TEXT NOT NULL,
    PRIMARY KEY (program_id, customer_id)
);
CREATE TABLE customer_months (
    program_id    TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    month_ms      BIGINT NOT NULL,
    orders        BIGINT NOT NULL,
    revenue       BIGINT NOT NULL,
    PRIMARY KEY (program_id, customer_id, month_ms)
);
CREATE TABLE rollup_cohorts (
    program_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    cohort_ms  BIGINT NOT NULL,
    month_ms   BIGINT NOT NULL,
    customers  BIGINT NOT NULL DEFAULT 0,
    orders     BIGINT NOT NULL DEFAULT 0,
    revenue    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (program_id, partner_id, cohort_ms, month_ms)
);

-- What the rollups have yet to take in, written in the transaction of the fact itself:
-- 'conversion' (program_id, ref = conversion id), 'entry' (ref_id = ledger entry id),
-- 'refund' (program_id, ref = conversion id, ref2 = refund id). The analytics job claims
-- rows (FOR UPDATE SKIP LOCKED), applies them and deletes them in one transaction.
CREATE TABLE analytics_queue (
    id         BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('conversion', 'entry', 'refund')),
    program_id TEXT,
    ref        TEXT,
    ref2       TEXT,
    ref_id     BIGINT
);

-- Fraud alerts: one per rule and subject; evidence as JSON; resolved by an admin.
CREATE TABLE fraud_alerts (
    id            TEXT PRIMARY KEY,
    program_id    TEXT NOT NULL REFERENCES programs (id),
    partner_id    TEXT,
    rule          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    conversion_id TEXT,
    severity      TEXT NOT NULL,
    evidence      TEXT NOT NULL,
    dispute_id    TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX fraud_alerts_once ON fraud_alerts (program_id, rule, subject);
CREATE INDEX fraud_alerts_program ON fraud_alerts (program_id, created_at_ms);
-- What the freeze sweep looks at: alerts about a conversion not yet frozen (few).
CREATE INDEX fraud_alerts_unfrozen ON fraud_alerts (created_at_ms) WHERE dispute_id IS NULL AND conversion_id IS NOT NULL;
CREATE TABLE fraud_alert_events (
    id       BIGSERIAL PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES fraud_alerts (id),
    event    TEXT NOT NULL CHECK (event IN ('confirmed', 'dismissed')),
    actor    TEXT NOT NULL,
    note     TEXT NOT NULL,
    at_ms    BIGINT NOT NULL
);
CREATE UNIQUE INDEX fraud_alert_events_once ON fraud_alert_events (alert_id);

-- Report jobs: asked, claimed by one replica under a lease, done or failed.
CREATE TABLE report_jobs (
    id              TEXT PRIMARY KEY,
    scope           TEXT NOT NULL,
    program_id      TEXT,
    partner_id      TEXT,
    kind            TEXT NOT NULL,
    format          TEXT NOT NULL CHECK (format IN ('csv', 'xlsx')),
    params          TEXT NOT NULL,
    idempotency_key TEXT,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    lease_until_ms  BIGINT,
    media_type      TEXT,
    file_name       TEXT,
    content         BYTEA,
    rows            BIGINT,
    error           TEXT,
    created_by      TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    finished_at_ms  BIGINT
);
CREATE UNIQUE INDEX report_jobs_key ON report_jobs (scope, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX report_jobs_due ON report_jobs (status, created_at_ms) WHERE status IN ('queued', 'running');
