//! The approval job's persistence: the due queue (`approval_queue`, migrations PostgreSQL
//! 0006 and SQLite 0005) and the run that approves what came due.
//!
//! Why a queue rather than an index on `ledger_entries.hold_until_ms` with a watermark:
//! an entry can come due "in the past" (a zero hold, a reversal that keeps the hold of
//! what it reverses, a conversion posted late) and a frozen entry becomes approvable again
//! when its dispute is released; a watermark would pass over both, or have to look back
//! over the whole ledger to find them. The queue holds exactly the entries still waiting,
//! keyed by their due time, so a run reads the due rows and nothing else.

use super::dialect::Dialect;
use super::payouts::push_ids;
use super::{Result, Store, StoreError};
use crate::domain::ledger::{EventKind, Status};
use sqlx::{Any, QueryBuilder, Row};
use std::collections::BTreeMap;

/// Rows claimed per transaction: bounds a run's locks and statement sizes, whatever the
/// backlog (the first run after a bulk load may find everything due).
const CLAIM_BATCH: i64 = 1000;

/// Whether an entry written with `initial_events` still waits for approval.
pub(super) fn awaits_approval(initial_events: &[EventKind]) -> bool {
    !initial_events
        .iter()
        .any(|e| matches!(e, EventKind::Approved | EventKind::Paid))
}

/// Put `(entry id, due ms)` rows on the queue, inside the transaction that writes the
/// entries.
pub(super) async fn enqueue(
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, Any>,
    rows: &[(i64, i64)],
) -> Result<()> {
    for chunk in rows.chunks(CLAIM_BATCH as usize) {
        let mut qb = QueryBuilder::<Any>::new("INSERT INTO approval_queue (entry_id, due_ms) ");
        qb.push_values(chunk, |mut row, (id, due)| {
            row.push_bind(*id).push_bind(*due);
        });
        let (sql, args) = dialect.statement(&mut qb)?;
        sqlx::query_with(&sql, args)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from_db)?;
    }
    Ok(())
}

impl Store {
    /// Approve every pending, unfrozen entry whose hold period ended by `now_ms`, and
    /// return how many were approved.
    ///
    /// Reads only the queue rows that are due, a batch at a time, each batch in its own
    /// transaction: claim the rows (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so replicas
    /// running at once take disjoint rows and none waits), read those entries' events,
    /// approve the pending ones, and delete the rows of every entry that no longer waits.
    /// A frozen entry keeps its row (it is approved after its release, as before). An
    /// entry is approved at most once in any case (`entry_events_approved_once`).
    pub async fn approve_due(&self, now_ms: i64) -> Result<u64> {
        let mut approved = 0;
        // Keyset over (due, id): frozen rows stay, and a run must move past them.
        let mut after = (i64::MIN, i64::MIN);
        loop {
            let (done, claimed, last) = self.approve_batch(now_ms, after).await?;
            approved += done;
            match last {
                Some(last) if claimed == CLAIM_BATCH => after = last,
                _ => return Ok(approved),
            }
        }
    }

    /// One batch of [`Store::approve_due`]: `(approved, rows claimed, last row's key)`.
    async fn approve_batch(
        &self,
        now_ms: i64,
        after: (i64, i64),
    ) -> Result<(u64, i64, Option<(i64, i64)>)> {
        let dialect = self.dialect();
        let mut tx = self.pool().begin().await?;
        let claim = format!(
            "SELECT entry_id, due_ms FROM approval_queue
             WHERE due_ms <= $1 AND (due_ms > $2 OR (due_ms = $2 AND entry_id > $3))
             ORDER BY due_ms, entry_id LIMIT $4{}",
            dialect.claim()
        );
        let rows = sqlx::query(&claim)
            .bind(now_ms)
            .bind(after.0)
            .bind(after.1)
            .bind(CLAIM_BATCH)
            .fetch_all(&mut *tx)
            .await?;
        let claimed: Vec<(i64, i64)> = rows
            .iter()
            .map(|r| Ok((r.try_get("due_ms")?, r.try_get("entry_id")?)))
            .collect::<Result<_>>()?;
        let Some(&last) = claimed.last() else {
            tx.commit().await?;
            return Ok((0, 0, None));
        };
        let ids: Vec<i64> = claimed.iter().map(|(_, id)| *id).collect();
        let mut qb = QueryBuilder::<Any>::new(
            "SELECT entry_id, event FROM entry_events WHERE entry_id IN (",
        );
        push_ids(&mut qb, &ids);
        qb.push(" ORDER BY entry_id, id");
        let (sql, args) = dialect.statement(&mut qb)?;
        let mut events: BTreeMap<i64, Vec<EventKind>> = BTreeMap::new();
        for r in sqlx::query_with(&sql, args).fetch_all(&mut *tx).await? {
            let event: String = r.try_get("event")?;
            events.entry(r.try_get("entry_id")?).or_default().push(
                EventKind::parse(&event)
                    .ok_or_else(|| StoreError::Corrupt(format!("entry event {event}")))?,
            );
        }
        // The status rule is the domain's (`Status::from_events`), applied to the claimed
        // entries only.
        let (mut approve, mut settled) = (Vec::new(), Vec::new());
        for id in &ids {
            match Status::from_events(events.remove(id).unwrap_or_default()) {
                Status::Pending => approve.push(*id),
                Status::Approved | Status::Paid => settled.push(*id),
                Status::Frozen => {}
            }
        }
        let mut approved = 0;
        if !approve.is_empty() {
            let mut qb = QueryBuilder::<Any>::new(
                "INSERT INTO entry_events (entry_id, event, at_ms, reason) ",
            );
            qb.push_values(&approve, |mut row, id| {
                row.push_bind(*id)
                    .push_bind(EventKind::Approved.as_str())
                    .push_bind(now_ms)
                    .push_bind("hold period over");
            });
            qb.push(" ");
            qb.push(super::ledger::APPROVED_ONCE);
            let (sql, args) = dialect.statement(&mut qb)?;
            approved = sqlx::query_with(&sql, args)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_db)?
                .rows_affected();
            // Approved entries join the payable set in the same transaction.
            super::payouts::payable_add(
                dialect,
                &mut tx,
                &approve,
                now_ms,
                super::payouts::Claims::NoneOpen,
            )
            .await?;
            settled.extend(approve);
        }
        if !settled.is_empty() {
            let mut qb = QueryBuilder::<Any>::new("DELETE FROM approval_queue WHERE entry_id IN (");
            push_ids(&mut qb, &settled);
            let (sql, args) = dialect.statement(&mut qb)?;
            sqlx::query_with(&sql, args).execute(&mut *tx).await?;
        }
        tx.commit().await.map_err(StoreError::from_db)?;
        Ok((approved, claimed.len() as i64, Some(last)))
    }

    /// Test hook: the due queue, as `(due ms, entry id)` in due order.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn approval_queue(&self) -> Result<Vec<(i64, i64)>> {
        sqlx::query("SELECT due_ms, entry_id FROM approval_queue ORDER BY due_ms, entry_id")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("due_ms")?, r.try_get("entry_id")?)))
            .collect()
    }
}
