-- An entry is approved at most once (issue 10, item 4): two replicas running the approval
-- loop could each insert an `approved` event for the same entry. The partial unique index
-- makes the database refuse the second one; the approval insert skips on that conflict.
-- Frozen and released events repeat legitimately (a second dispute after a first is
-- resolved), so the key covers `approved` only.
--
-- Duplicates written before this migration are removed first, keeping each entry's first
-- approval: an entry's status and amounts read the same with one approval as with several,
-- so nothing the ledger states changes.
DELETE FROM entry_events d
WHERE d.event = 'approved'
  AND EXISTS (SELECT 1 FROM entry_events f
              WHERE f.entry_id = d.entry_id AND f.event = 'approved' AND f.id < d.id);

CREATE UNIQUE INDEX entry_events_approved_once ON entry_events (entry_id) WHERE event = 'approved';
