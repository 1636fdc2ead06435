-- The approval job's work list (issue 10, item 5). One row per entry that still awaits
-- approval, keyed by when its hold period ends; written in the same transaction as the
-- entry, deleted in the transaction that approves it. The job reads only the rows that
-- are due (an index range scan on `due_ms`), so its cost follows what comes due, not the
-- size of the ledger; replicas claim rows with `FOR UPDATE SKIP LOCKED`, so each is
-- handled by one of them. A frozen entry keeps its row until it is released and approved.
-- The ledger itself stays append-only: this table is a work list, not a record.
CREATE TABLE approval_queue (
    entry_id BIGINT PRIMARY KEY REFERENCES ledger_entries (id),
    due_ms   BIGINT NOT NULL
);
CREATE INDEX approval_queue_due ON approval_queue (due_ms, entry_id);

-- Every entry not yet approved (nor paid) is waiting, including frozen ones.
INSERT INTO approval_queue (entry_id, due_ms)
SELECT e.id, e.hold_until_ms FROM ledger_entries e
WHERE NOT EXISTS (SELECT 1 FROM entry_events v
                  WHERE v.entry_id = e.id AND v.event IN ('approved', 'paid'));
