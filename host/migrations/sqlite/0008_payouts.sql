-- accrue: foreign-keys-off
-- Payouts (issue 11): see the PostgreSQL migration 0009 for what each table is.
--
-- SQLite cannot alter a CHECK constraint, so `ledger_entries` and `entry_events` are
-- rebuilt with the new entry kinds (`withholding`, `fee`) and entry event (`returned`),
-- by the procedure SQLite documents (lang_altertable, "other kinds of table schema
-- changes"): the runner turns foreign keys off around this migration's transaction and
-- runs `PRAGMA foreign_key_check` before it commits.
CREATE TABLE ledger_entries_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    program_id        TEXT NOT NULL REFERENCES programs (id),
    partner_id        TEXT NOT NULL REFERENCES partners (id),
    conversion_id     TEXT,
    kind              TEXT NOT NULL CHECK (kind IN ('commission', 'bonus', 'reversal', 'adjustment', 'withholding', 'fee')),
    amount            TEXT NOT NULL,
    currency          TEXT NOT NULL,
    payout_amount     TEXT NOT NULL,
    payout_currency   TEXT NOT NULL,
    fx_rate           TEXT NOT NULL CHECK (CAST(fx_rate AS REAL) > 0),
    rate              TEXT,
    reverses_entry_id INTEGER REFERENCES ledger_entries (id),
    cause             TEXT NOT NULL,
    provenance        TEXT,
    hold_until_ms     INTEGER NOT NULL,
    created_at_ms     INTEGER NOT NULL,
    FOREIGN KEY (program_id, conversion_id) REFERENCES conversions (program_id, id),
    CHECK (kind <> 'commission' OR CAST(amount AS REAL) >= 0)
);
INSERT INTO ledger_entries_new SELECT * FROM ledger_entries;
DROP TABLE ledger_entries;
ALTER TABLE ledger_entries_new RENAME TO ledger_entries;
CREATE INDEX ledger_entries_partner ON ledger_entries (partner_id, id);
CREATE INDEX ledger_entries_conversion ON ledger_entries (program_id, conversion_id);
CREATE INDEX ledger_entries_program ON ledger_entries (program_id, id);

CREATE TABLE entry_events_new (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id INTEGER NOT NULL REFERENCES ledger_entries (id),
    event    TEXT NOT NULL CHECK (event IN ('approved', 'paid', 'frozen', 'released', 'returned')),
    at_ms    INTEGER NOT NULL,
    reason   TEXT NOT NULL
);
INSERT INTO entry_events_new SELECT * FROM entry_events;
DROP TABLE entry_events;
ALTER TABLE entry_events_new RENAME TO entry_events;
CREATE INDEX entry_events_entry ON entry_events (entry_id, id);
CREATE UNIQUE INDEX entry_events_approved_once ON entry_events (entry_id) WHERE event = 'approved';

-- The payable set: every approved entry that is not frozen, not paid and not in an open
-- payout item. Maintained where entry events are written (approval, freeze, release,
-- paid, returned) and where a payout run claims entries, so a run reads what is payable
-- and nothing else: its cost follows the work due, not the ledger's size. A work queue
-- like `approval_queue`, derived from the events; the events stay the record.
CREATE TABLE payable_entries (
    entry_id          INTEGER PRIMARY KEY REFERENCES ledger_entries (id),
    program_id        TEXT NOT NULL,
    partner_id        TEXT NOT NULL,
    payout_currency   TEXT NOT NULL,
    payout_amount     TEXT NOT NULL,
    approved_at_ms    INTEGER NOT NULL
);
CREATE INDEX payable_entries_program ON payable_entries (program_id, partner_id, payout_currency);

-- A partner's payout method. The destination's details (IBAN, account number, e-mail...)
-- are sealed with the deployment's ACCRUE_SECRETS_KEY (XChaCha20-Poly1305, the partner id
-- as associated data); `masked` is what every API answer shows.
CREATE TABLE payout_methods (
    partner_id    TEXT PRIMARY KEY REFERENCES partners (id),
    method        TEXT NOT NULL CHECK (method IN ('sepa', 'ach', 'wire', 'paypal', 'wise')),
    holder_name   TEXT NOT NULL,
    party_kind    TEXT NOT NULL CHECK (party_kind IN ('individual', 'company')),
    sealed        TEXT NOT NULL,
    masked        TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

-- A partner's tax form. The TIN itself is sealed like bank details; only whether one is on
-- file decides withholding.
CREATE TABLE tax_profiles (
    partner_id    TEXT PRIMARY KEY REFERENCES partners (id),
    form          TEXT NOT NULL CHECK (form IN ('w9', 'w8ben', 'w8ben_e')),
    legal_name    TEXT NOT NULL,
    tin_sealed    TEXT,
    tin_masked    TEXT,
    country       TEXT NOT NULL,
    treaty_rate   TEXT,
    updated_at_ms INTEGER NOT NULL
);

-- Withholding rates as data, effective-dated per program. `situation`: a W-9 with a TIN,
-- a W-9 without (backup withholding), a W-8 (by payee country; '' = any country).
-- Without a row the built-in defaults apply (0 %, 24 %, 0 %).
CREATE TABLE withholding_rules (
    program_id        TEXT NOT NULL REFERENCES programs (id),
    situation         TEXT NOT NULL CHECK (situation IN ('w9_tin', 'w9_no_tin', 'w8')),
    country           TEXT NOT NULL,
    effective_from_ms INTEGER NOT NULL,
    rate              TEXT NOT NULL,
    created_at_ms     INTEGER NOT NULL,
    PRIMARY KEY (program_id, situation, country, effective_from_ms)
);

-- A program's payout settings beside its schedule: per-currency minimum, fee and fee
-- threshold, the methods allowed, the total above which a second admin approves (JSON).
ALTER TABLE payout_schedules ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE payout_schedules ADD COLUMN updated_at_ms INTEGER NOT NULL DEFAULT 0;

-- A payout run per (program, period): `run_key` is unique, so two replicas starting the
-- same scheduled run create one. Its state is its events.
CREATE TABLE payout_runs (
    id             TEXT PRIMARY KEY,
    program_id     TEXT NOT NULL REFERENCES programs (id),
    run_key        TEXT NOT NULL UNIQUE,
    cutoff_ms      INTEGER NOT NULL,
    trigger_kind   TEXT NOT NULL CHECK (trigger_kind IN ('schedule', 'api')),
    approvals_required INTEGER NOT NULL,
    created_by     TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL
);
CREATE INDEX payout_runs_program ON payout_runs (program_id, created_at_ms);

CREATE TABLE payout_run_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id    TEXT NOT NULL REFERENCES payout_runs (id),
    event     TEXT NOT NULL CHECK (event IN ('drafted', 'approval', 'exported', 'cancelled')),
    actor     TEXT NOT NULL,
    note      TEXT NOT NULL,
    at_ms     INTEGER NOT NULL
);
-- Each step once; each admin approves once.
CREATE UNIQUE INDEX payout_run_events_once ON payout_run_events (run_id, event) WHERE event <> 'approval';
CREATE UNIQUE INDEX payout_run_events_approval ON payout_run_events (run_id, actor) WHERE event = 'approval';

-- One payment: a partner's netted balance in one currency. net = gross - withholding - fee.
-- A held item (no tax form, no method...) carries `hold_reason` and claims no entries.
CREATE TABLE payout_items (
    id               TEXT PRIMARY KEY,
    run_id           TEXT NOT NULL REFERENCES payout_runs (id),
    program_id       TEXT NOT NULL,
    partner_id       TEXT NOT NULL REFERENCES partners (id),
    currency         TEXT NOT NULL,
    gross            TEXT NOT NULL,
    withholding      TEXT NOT NULL,
    fee              TEXT NOT NULL,
    net              TEXT NOT NULL,
    method           TEXT,
    destination      TEXT,
    masked           TEXT,
    holder_name      TEXT,
    party_kind       TEXT,
    withholding_rule TEXT,
    hold_reason      TEXT,
    entry_count      INTEGER NOT NULL,
    created_at_ms    INTEGER NOT NULL
);
CREATE INDEX payout_items_run ON payout_items (run_id, id);
CREATE INDEX payout_items_partner ON payout_items (partner_id, created_at_ms);

CREATE TABLE payout_item_entries (
    item_id  TEXT NOT NULL REFERENCES payout_items (id),
    entry_id INTEGER NOT NULL REFERENCES ledger_entries (id),
    PRIMARY KEY (item_id, entry_id)
);
CREATE INDEX payout_item_entries_entry ON payout_item_entries (entry_id);

CREATE TABLE payout_item_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id  TEXT NOT NULL REFERENCES payout_items (id),
    event    TEXT NOT NULL CHECK (event IN ('sent', 'paid', 'failed', 'returned')),
    actor    TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at_ms    INTEGER NOT NULL
);
-- Each outcome once per item.
CREATE UNIQUE INDEX payout_item_events_once ON payout_item_events (item_id, event);

-- The files a run was exported to, byte for byte.
CREATE TABLE payout_files (
    run_id        TEXT NOT NULL REFERENCES payout_runs (id),
    name          TEXT NOT NULL,
    format        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    currency      TEXT NOT NULL,
    item_count    INTEGER NOT NULL,
    total         TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    content       BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, name)
);

-- Which file carried which item, and the NACHA trace number it got.
CREATE TABLE payout_file_items (
    run_id       TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    item_id      TEXT NOT NULL REFERENCES payout_items (id),
    trace_number TEXT,
    PRIMARY KEY (run_id, item_id),
    FOREIGN KEY (run_id, file_name) REFERENCES payout_files (run_id, name)
);
CREATE INDEX payout_file_items_trace ON payout_file_items (trace_number);

-- Notices for partners and operators (`tax_form.required`, ...), once per subject.
CREATE TABLE notices (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    program_id    TEXT NOT NULL,
    partner_id    TEXT,
    kind          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    detail        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX notices_once ON notices (kind, subject);
-- Entries approved before this migration and still payable.
INSERT INTO payable_entries (entry_id, program_id, partner_id, payout_currency, payout_amount, approved_at_ms)
SELECT e.id, e.program_id, e.partner_id, e.payout_currency, e.payout_amount, a.at_ms
FROM ledger_entries e JOIN entry_events a ON a.entry_id = e.id AND a.event = 'approved'
WHERE NOT EXISTS (SELECT 1 FROM entry_events p WHERE p.entry_id = e.id AND p.event = 'paid')
  AND NOT EXISTS (SELECT 1 FROM entry_events f WHERE f.entry_id = e.id AND f.event = 'frozen'
                  AND NOT EXISTS (SELECT 1 FROM entry_events r WHERE r.entry_id = e.id
                                  AND r.event = 'released' AND r.id > f.id));
