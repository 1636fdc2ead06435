-- A dispute names the partner whose entries it concerns: a partner may dispute only its
-- own entries, and resolving the dispute touches only those. NULL: every partner's entries
-- on the conversion (an admin's dispute without an entry). Disputes about one entry get
-- that entry's partner.
ALTER TABLE disputes ADD COLUMN partner_id TEXT;
UPDATE disputes SET partner_id = (SELECT e.partner_id FROM ledger_entries e WHERE e.id = disputes.entry_id)
    WHERE entry_id IS NOT NULL;
CREATE INDEX disputes_conversion ON disputes (program_id, conversion_id);

-- The answers of commands that change money (refunds, adjustments, dispute actions, period
-- closes), by the client's idempotency key. `scope` is the tenant the key belongs to (the
-- program, and the partner for a partner's key), so tenants never share keys or answers.
-- Written in the same transaction as the command's effect where it has one transaction;
-- the same key with the same payload hash answers `answer` again, with another payload 409.
CREATE TABLE command_results (
    scope         TEXT NOT NULL,
    operation     TEXT NOT NULL,
    key           TEXT NOT NULL,
    payload_hash  TEXT NOT NULL,
    answer        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, operation, key)
);
