-- The entries a payout item pays, one row per item (an array of entry ids) rather than
-- one row per entry. A run over 1,000,000 entries wrote 1,000,000 link rows into two
-- B-tree indexes, most of the run's time (docs/PERFORMANCE.md, "A payout run over
-- 1,000,000 entries"); one row per item writes 100,000 rows into one index.
--
-- The entry ids carry no foreign key (PostgreSQL has none for array elements): they
-- hold by construction, since a run claims them from the payable set, whose rows are
-- checked against the ledger when written, and ledger entries are never deleted.
-- `Store::check_invariants` checks them against the ledger too.
CREATE TABLE payout_item_entry_lists (
    item_id   TEXT PRIMARY KEY REFERENCES payout_items (id),
    entry_ids BIGINT[] NOT NULL CHECK (cardinality(entry_ids) > 0)
);

INSERT INTO payout_item_entry_lists (item_id, entry_ids)
SELECT item_id, array_agg(entry_id ORDER BY entry_id) FROM payout_item_entries GROUP BY item_id;

DROP TABLE payout_item_entries;

-- The rows every reader joins, as before: a filter on `item_id` is pushed into the view
-- (it is not the set-returning column), so reading one item's entries probes the list's
-- primary key. Nothing looks entries up by id through the view: the payable set's test
-- goes through the entry's partner's items (`store::payouts::PAYABLE_NOW`).
CREATE VIEW payout_item_entries AS
SELECT l.item_id, u.entry_id FROM payout_item_entry_lists l, unnest(l.entry_ids) AS u(entry_id);
