//! The append-only ledger: entries, their state events, refunds, disputes, adjustments,
//! and the invariant check.

use super::dialect::Dialect;
use super::{Result, Store, StoreError, currency, dec, money, now_ms, opt_dec};
use crate::domain::Currency;
use crate::domain::ledger::{Cause, DisputeStatus, EntryKind, EventKind, Status};
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::{QueryBuilder, Row};

/// A new ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// The conversion it is about, if any.
    pub conversion_id: Option<String>,
    /// What produced it.
    pub kind: EntryKind,
    /// Amount in the sale (program) currency; negative for reversals.
    pub amount: Decimal,
    /// Sale currency.
    pub currency: Currency,
    /// Amount in the partner's payout currency.
    pub payout_amount: Decimal,
    /// Payout currency.
    pub payout_currency: Currency,
    /// FX rate sale → payout used (1 if the same currency).
    pub fx_rate: Decimal,
    /// The commission rate applied, if any.
    pub rate: Option<Decimal>,
    /// The entry this one reverses or corrects.
    pub reverses_entry_id: Option<i64>,
    /// Why it exists.
    pub cause: Cause,
    /// Provenance JSON (commissions).
    pub provenance: Option<String>,
    /// Payable from this instant (ms).
    pub hold_until_ms: i64,
    /// State events to record with it (a reversal of an approved entry is approved too).
    pub initial_events: Vec<EventKind>,
}

/// A state event for an existing entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The entry.
    pub entry_id: i64,
    /// The event.
    pub event: EventKind,
    /// Why.
    pub reason: String,
}

/// A stored entry with its current status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    /// Id (ascending in time).
    pub id: i64,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Conversion.
    pub conversion_id: Option<String>,
    /// Kind.
    pub kind: EntryKind,
    /// Sale-currency amount.
    pub amount: Decimal,
    /// Sale currency.
    pub currency: Currency,
    /// Payout amount.
    pub payout_amount: Decimal,
    /// Payout currency.
    pub payout_currency: Currency,
    /// FX rate used.
    pub fx_rate: Decimal,
    /// Commission rate.
    pub rate: Option<Decimal>,
    /// What it reverses.
    pub reverses_entry_id: Option<i64>,
    /// Why it exists.
    pub cause: Cause,
    /// Provenance JSON.
    pub provenance: Option<String>,
    /// Payable from (ms).
    pub hold_until_ms: i64,
    /// Written at (ms).
    pub created_at_ms: i64,
    /// Current status.
    pub status: Status,
}

/// Which entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Only this program.
    pub program_id: Option<String>,
    /// Only this partner.
    pub partner_id: Option<String>,
    /// Only this conversion.
    pub conversion_id: Option<String>,
    /// Only this status.
    pub status: Option<Status>,
    /// Written at or after (ms).
    pub from_ms: Option<i64>,
    /// Written before (ms).
    pub to_ms: Option<i64>,
    /// After this entry id (cursor).
    pub after_id: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// A dispute as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DisputeRecord {
    /// Id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// Conversion.
    pub conversion_id: String,
    /// A single entry, if the dispute is about one.
    pub entry_id: Option<i64>,
    /// The partner whose entries it concerns (`None`: every partner's on the conversion).
    pub partner_id: Option<String>,
    /// Who opened it (key id).
    pub opened_by: String,
    /// Why.
    pub reason: String,
    /// When (ms).
    pub opened_at_ms: i64,
    /// Where it stands.
    pub status: DisputeStatus,
    /// The resolution note, if resolved.
    pub resolution: Option<String>,
    /// When resolved (ms).
    pub resolved_at_ms: Option<i64>,
}

/// Everything one ledger operation writes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerWrite {
    /// `(program, conversion, refund id, amount)`.
    pub refund: Option<(String, String, String, Decimal)>,
    /// New entries.
    pub entries: Vec<NewEntry>,
    /// Events on existing entries.
    pub events: Vec<NewEvent>,
    /// A new dispute.
    pub dispute: Option<DisputeRecord>,
    /// `(dispute id, event, actor, note, at_ms)` events.
    pub dispute_events: Vec<(String, String, String, String, i64)>,
    /// `(id, program, request hash, from, to, report)` of an adjustment.
    pub adjustment: Option<(String, String, String, i64, i64, String)>,
    /// The command's answer under the client's idempotency key, written first: a retry
    /// that lost the race on the key writes nothing else.
    pub command: Option<super::CommandRecord>,
}

/// The SQL for an entry's current status, derived from its events.
const STATUS_SQL: &str = "CASE
    WHEN EXISTS (SELECT 1 FROM entry_events f WHERE f.entry_id = e.id AND f.event = 'frozen'
                 AND NOT EXISTS (SELECT 1 FROM entry_events r WHERE r.entry_id = e.id AND r.event = 'released' AND r.id > f.id))
        THEN 'frozen'
    WHEN EXISTS (SELECT 1 FROM entry_events p WHERE p.entry_id = e.id AND p.event = 'paid'
                 AND NOT EXISTS (SELECT 1 FROM entry_events r WHERE r.entry_id = e.id AND r.event = 'returned' AND r.id > p.id))
        THEN 'paid'
    WHEN EXISTS (SELECT 1 FROM entry_events a WHERE a.entry_id = e.id AND a.event = 'approved') THEN 'approved'
    ELSE 'pending' END";

/// The conflict clause of every insert of an `approved` event: the partial unique index
/// of migration `approved_once` (PostgreSQL 0005, SQLite 0004) admits one per entry, and a
/// second approval, from a concurrent run or replica, is skipped.
pub(super) const APPROVED_ONCE: &str = "ON CONFLICT (entry_id) WHERE event = 'approved' DO NOTHING";

/// An entry's columns as `entry_row` reads them, in `dialect` (the `Any` driver reads a
/// NUMERIC only as text).
fn entry_columns(dialect: Dialect) -> String {
    format!(
        "e.id, e.program_id, e.partner_id, e.conversion_id, e.kind, e.amount{t} AS amount, e.currency,
    e.payout_amount{t} AS payout_amount, e.payout_currency, e.fx_rate{t} AS fx_rate, e.rate{t} AS rate,
    e.reverses_entry_id, e.cause, e.provenance, e.hold_until_ms, e.created_at_ms",
        t = dialect.text()
    )
}

/// Insert entries: multi-row statements for plain ones, one by one (to learn their ids)
/// for those that carry initial events. Each entry that awaits approval is queued
/// (`store::approvals`).
pub(super) async fn insert_entries(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    entries: &[&NewEntry],
) -> Result<Vec<i64>> {
    let now = now_ms();
    let dialect = store.dialect();
    let (plain, evented): (Vec<&NewEntry>, Vec<&NewEntry>) =
        entries.iter().partition(|e| e.initial_events.is_empty());
    for chunk in plain.chunks(250) {
        let mut qb = entry_insert(dialect, chunk, now);
        qb.push(" RETURNING id, hold_until_ms");
        let (sql, args) = dialect.statement(&mut qb)?;
        let due = sqlx::query_with(&sql, args)
            .fetch_all(&mut **tx)
            .await
            .map_err(StoreError::from_db)?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("hold_until_ms")?)))
            .collect::<Result<Vec<(i64, i64)>>>()?;
        // Plain entries carry no events: each waits for its approval.
        super::approvals::enqueue(dialect, tx, &due).await?;
        let ids: Vec<i64> = due.iter().map(|(id, _)| *id).collect();
        super::rollups::enqueue_entries(dialect, tx, &ids).await?;
    }
    let mut ids = Vec::new();
    for e in evented {
        ids.push(insert_one(store, tx, e).await?);
    }
    Ok(ids)
}

/// A multi-row insert of `entries`, written at `now`.
pub(super) fn entry_insert<'q>(
    dialect: Dialect,
    entries: &[&'q NewEntry],
    now: i64,
) -> QueryBuilder<'q, sqlx::Any> {
    let numeric = dialect.numeric();
    let mut qb = QueryBuilder::new(
        "INSERT INTO ledger_entries (program_id, partner_id, conversion_id, kind, amount, currency,
    payout_amount, payout_currency, fx_rate, rate, reverses_entry_id, cause, provenance, hold_until_ms, created_at_ms) ",
    );
    qb.push_values(entries, |mut row, e| {
        row.push_bind(e.program_id.as_str())
            .push_bind(e.partner_id.as_str())
            .push_bind(e.conversion_id.as_deref())
            .push_bind(e.kind.as_str())
            .push_bind(e.amount.to_string())
            .push_unseparated(numeric)
            .push_bind(e.currency.code())
            .push_bind(e.payout_amount.to_string())
            .push_unseparated(numeric)
            .push_bind(e.payout_currency.code())
            .push_bind(e.fx_rate.to_string())
            .push_unseparated(numeric)
            .push_bind(e.rate.map(|r| r.to_string()))
            .push_unseparated(numeric)
            .push_bind(e.reverses_entry_id)
            .push_bind(e.cause.to_string())
            .push_bind(e.provenance.as_deref())
            .push_bind(e.hold_until_ms)
            .push_bind(now);
    });
    qb
}

/// Insert one entry with its initial events and return its id.
pub(super) async fn insert_one(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    e: &NewEntry,
) -> Result<i64> {
    let dialect = store.dialect();
    let mut qb = entry_insert(dialect, &[e], now_ms());
    qb.push(" RETURNING id");
    let (sql, args) = dialect.statement(&mut qb)?;
    let row = sqlx::query_with(&sql, args)
        .fetch_one(&mut **tx)
        .await
        .map_err(StoreError::from_db)?;
    let id: i64 = row.try_get("id")?;
    super::rollups::enqueue_entries(dialect, tx, &[id]).await?;
    if super::approvals::awaits_approval(&e.initial_events) {
        super::approvals::enqueue(dialect, tx, &[(id, e.hold_until_ms)]).await?;
    }
    for event in &e.initial_events {
        insert_event(
            dialect,
            tx,
            &NewEvent {
                entry_id: id,
                event: *event,
                reason: e.cause.to_string(),
            },
        )
        .await?;
    }
    Ok(id)
}

/// Insert an event on an existing entry, and keep the payable set in step with it.
pub(super) async fn insert_event(
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    e: &NewEvent,
) -> Result<()> {
    const INSERT: &str =
        "INSERT INTO entry_events (entry_id, event, at_ms, reason) VALUES ($1, $2, $3, $4)";
    let approved_once;
    let q = if e.event == EventKind::Approved {
        approved_once = format!("{INSERT} {APPROVED_ONCE}");
        approved_once.as_str()
    } else {
        INSERT
    };
    sqlx::query(q)
        .bind(e.entry_id)
        .bind(e.event.as_str())
        .bind(now_ms())
        .bind(&e.reason)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::from_db)?;
    super::payouts::follow_event(dialect, tx, e.entry_id, e.event).await
}

fn entry_row(row: &AnyRow) -> Result<EntryRecord> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(EntryRecord {
        id: row.try_get("id")?,
        program_id: row.try_get("program_id")?,
        partner_id: row.try_get("partner_id")?,
        conversion_id: row.try_get("conversion_id")?,
        kind: EntryKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("entry kind {kind}")))?,
        amount: money(row, "amount", "currency")?,
        currency: currency(row, "currency")?,
        payout_amount: money(row, "payout_amount", "payout_currency")?,
        payout_currency: currency(row, "payout_currency")?,
        fx_rate: dec(row, "fx_rate")?,
        rate: opt_dec(row, "rate")?,
        reverses_entry_id: row.try_get("reverses_entry_id")?,
        cause: {
            let cause: String = row.try_get("cause")?;
            Cause::parse(&cause).ok_or_else(|| StoreError::Corrupt(format!("cause {cause}")))?
        },
        provenance: row.try_get("provenance")?,
        hold_until_ms: row.try_get("hold_until_ms")?,
        created_at_ms: row.try_get("created_at_ms")?,
        status: Status::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
    })
}

impl Store {
    /// Write one ledger operation atomically. Returns the ids of new entries that carried
    /// initial events (in order).
    pub async fn write_ledger(&self, w: &LedgerWrite) -> Result<Vec<i64>> {
        let mut tx = self.pool().begin().await?;
        if let Some(c) = &w.command {
            super::commands::insert_command(&mut tx, c).await?;
        }
        if let Some((program, conversion, id, amount)) = &w.refund {
            sqlx::query(&format!(
                "INSERT INTO refunds (program_id, conversion_id, id, amount, created_at_ms) VALUES ($1, $2, $3, $4{n}, $5)",
                n = self.dialect().numeric()
            ))
            .bind(program)
            .bind(conversion)
            .bind(id)
            .bind(amount.to_string())
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_db)?;
            super::rollups::enqueue_refund(self.dialect(), &mut tx, program, conversion, id)
                .await?;
        }
        if let Some(d) = &w.dispute {
            sqlx::query(
                "INSERT INTO disputes (id, program_id, conversion_id, entry_id, partner_id, opened_by, reason, opened_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&d.id)
            .bind(&d.program_id)
            .bind(&d.conversion_id)
            .bind(d.entry_id)
            .bind(&d.partner_id)
            .bind(&d.opened_by)
            .bind(&d.reason)
            .bind(d.opened_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_db)?;
        }
        for (dispute, event, actor, note, at_ms) in &w.dispute_events {
            sqlx::query("INSERT INTO dispute_events (dispute_id, event, actor, note, at_ms) VALUES ($1, $2, $3, $4, $5)")
                .bind(dispute)
                .bind(event)
                .bind(actor)
                .bind(note)
                .bind(*at_ms)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_db)?;
        }
        if let Some((id, program, hash, from, to, report)) = &w.adjustment {
            sqlx::query(
                "INSERT INTO adjustments (id, program_id, request_hash, from_ms, to_ms, report, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(program)
            .bind(hash)
            .bind(from)
            .bind(to)
            .bind(report)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_db)?;
        }
        for e in &w.events {
            insert_event(self.dialect(), &mut tx, e).await?;
        }
        let entries: Vec<&NewEntry> = w.entries.iter().collect();
        let ids = insert_entries(self, &mut tx, &entries).await?;
        tx.commit().await.map_err(StoreError::from_db)?;
        Ok(ids)
    }

    /// Entries matching `filter`, by id ascending.
    pub async fn entries(&self, f: &EntryFilter) -> Result<Vec<EntryRecord>> {
        let q = format!(
            "SELECT * FROM (SELECT {columns}, {STATUS_SQL} AS status FROM ledger_entries e
                WHERE ($1 IS NULL OR e.program_id = $1) AND ($2 IS NULL OR e.partner_id = $2)
                  AND ($3 IS NULL OR e.conversion_id = $3) AND ($4 IS NULL OR e.created_at_ms >= $4)
                  AND ($5 IS NULL OR e.created_at_ms < $5) AND ($6 IS NULL OR e.id > $6)) x
             WHERE ($7 IS NULL OR status = $7) ORDER BY id LIMIT $8",
            columns = entry_columns(self.dialect())
        );
        let rows = sqlx::query(&q)
            .bind(&f.program_id)
            .bind(&f.partner_id)
            .bind(&f.conversion_id)
            .bind(f.from_ms)
            .bind(f.to_ms)
            .bind(f.after_id)
            .bind(f.status.map(Status::as_str))
            .bind(f.limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(entry_row).collect()
    }

    /// One entry.
    pub async fn entry(&self, id: i64) -> Result<Option<EntryRecord>> {
        let q = format!(
            "SELECT {columns}, {STATUS_SQL} AS status FROM ledger_entries e WHERE e.id = $1",
            columns = entry_columns(self.dialect())
        );
        let row = sqlx::query(&q).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(entry_row).transpose()
    }

    /// Every entry of a partner (for balances), as `(payout currency, payout amount,
    /// status, kind)`.
    pub async fn partner_ledger(
        &self,
        partner_id: &str,
    ) -> Result<Vec<(String, Decimal, Status, EntryKind)>> {
        let q = format!(
            "SELECT e.payout_currency, e.payout_amount{t} AS payout_amount, e.kind, {STATUS_SQL} AS status
             FROM ledger_entries e WHERE e.partner_id = $1",
            t = self.dialect().text()
        );
        let rows = sqlx::query(&q)
            .bind(partner_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                let kind: String = r.try_get("kind")?;
                Ok((
                    r.try_get("payout_currency")?,
                    money(r, "payout_amount", "payout_currency")?,
                    Status::parse(&status).ok_or_else(|| StoreError::Corrupt(status.clone()))?,
                    EntryKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(kind.clone()))?,
                ))
            })
            .collect()
    }

    /// One dispute with its current state.
    pub async fn dispute(&self, id: &str) -> Result<Option<DisputeRecord>> {
        Ok(self
            .disputes(None, Some(id), None)
            .await?
            .into_iter()
            .next())
    }

    /// Disputes of a program (all if `None`), newest first; or the one with `id`. With
    /// `partner`, only those that concern that partner's entries: its own disputes, and
    /// those about every partner's entries on a conversion where it has entries.
    pub async fn disputes(
        &self,
        program_id: Option<&str>,
        id: Option<&str>,
        partner: Option<&str>,
    ) -> Result<Vec<DisputeRecord>> {
        let rows = sqlx::query(
            "SELECT d.*, r.event AS resolution_event, r.note AS resolution_note, r.at_ms AS resolved_at_ms
             FROM disputes d LEFT JOIN dispute_events r ON r.dispute_id = d.id AND r.event <> 'opened'
             WHERE ($1 IS NULL OR d.program_id = $1) AND ($2 IS NULL OR d.id = $2)
               AND ($3 IS NULL OR d.partner_id = $3 OR (d.partner_id IS NULL AND EXISTS (
                   SELECT 1 FROM ledger_entries e WHERE e.program_id = d.program_id
                     AND e.conversion_id = d.conversion_id AND e.partner_id = $3)))
             ORDER BY d.opened_at_ms DESC, d.id",
        )
        .bind(program_id)
        .bind(id)
        .bind(partner)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let event: Option<String> = r.try_get("resolution_event")?;
                Ok(DisputeRecord {
                    id: r.try_get("id")?,
                    program_id: r.try_get("program_id")?,
                    conversion_id: r.try_get("conversion_id")?,
                    entry_id: r.try_get("entry_id")?,
                    partner_id: r.try_get("partner_id")?,
                    opened_by: r.try_get("opened_by")?,
                    reason: r.try_get("reason")?,
                    opened_at_ms: r.try_get("opened_at_ms")?,
                    status: match event {
                        None => DisputeStatus::Open,
                        Some(e) => DisputeStatus::parse(&e).ok_or_else(|| {
                            StoreError::Corrupt(format!("dispute resolution {e}"))
                        })?,
                    },
                    resolution: r.try_get("resolution_note")?,
                    resolved_at_ms: r.try_get("resolved_at_ms")?,
                })
            })
            .collect()
    }

    /// The report of an adjustment already run with this request hash, if any.
    pub async fn adjustment_by_hash(
        &self,
        program_id: &str,
        request_hash: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT report FROM adjustments WHERE program_id = $1 AND request_hash = $2",
        )
        .bind(program_id)
        .bind(request_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get("report")).transpose()?)
    }

    /// Check the ledger's invariants; returns every violation found (empty when sound):
    /// - each credited conversion's attributions add up to its amount exactly;
    /// - each conversion's commission entries equal its attributions' commissions in count;
    /// - no entry is reversed by more than its own amount;
    /// - balances derived per partner equal the sum of that partner's entries;
    /// - payouts: see [`Store::check_payout_invariants`].
    pub async fn check_invariants(&self) -> Result<Vec<String>> {
        let mut problems = self.check_payout_invariants().await?;
        let t = self.dialect().text();
        let conversions = sqlx::query(&format!(
            "SELECT c.program_id, c.id, c.amount{t} AS amount,
                (SELECT COUNT(*) FROM revenue_attributions a WHERE a.program_id = c.program_id AND a.conversion_id = c.id) AS attributions,
                (SELECT COUNT(*) FROM ledger_entries e WHERE e.program_id = c.program_id AND e.conversion_id = c.id AND e.kind = 'commission') AS commissions
             FROM conversions c"
        ))
        .fetch_all(self.pool())
        .await?;
        for c in conversions {
            let (program, id): (String, String) = (c.try_get("program_id")?, c.try_get("id")?);
            let attributions: i64 = c.try_get("attributions")?;
            let commissions: i64 = c.try_get("commissions")?;
            if attributions != commissions {
                problems.push(format!("{program}/{id}: {attributions} attributions but {commissions} commission entries"));
            }
            if attributions > 0 {
                let sum: Decimal = self
                    .attributions(&program, &id)
                    .await?
                    .iter()
                    .map(|a| a.attributed_amount)
                    .sum();
                let amount = dec(&c, "amount")?;
                if sum != amount {
                    problems.push(format!(
                        "{program}/{id}: attributions sum to {sum}, amount is {amount}"
                    ));
                }
            }
        }
        let reversed = sqlx::query(&format!(
            "SELECT o.id, o.amount{t} AS amount, r.amount{t} AS reversal FROM ledger_entries r
             JOIN ledger_entries o ON o.id = r.reverses_entry_id WHERE r.kind = 'reversal'"
        ))
        .fetch_all(self.pool())
        .await?;
        let mut per_entry: std::collections::BTreeMap<i64, (Decimal, Decimal)> = Default::default();
        for r in reversed {
            let slot = per_entry
                .entry(r.try_get("id")?)
                .or_insert((dec(&r, "amount")?, Decimal::ZERO));
            slot.1 += dec(&r, "reversal")?;
        }
        for (id, (amount, reversals)) in per_entry {
            if amount + reversals < Decimal::ZERO && amount >= Decimal::ZERO {
                problems.push(format!("entry {id} of {amount} reversed by {reversals}"));
            }
        }
        let partners = sqlx::query("SELECT DISTINCT partner_id FROM ledger_entries")
            .fetch_all(self.pool())
            .await?;
        for p in partners {
            let partner: String = p.try_get("partner_id")?;
            let ledger = self.partner_ledger(&partner).await?;
            let raw = sqlx::query(&format!(
                "SELECT payout_currency, payout_amount{t} AS payout_amount FROM ledger_entries WHERE partner_id = $1"
            ))
            .bind(&partner)
            .fetch_all(self.pool())
            .await?;
            for b in crate::domain::ledger::balances(
                ledger.iter().map(|(c, a, s, k)| (c.as_str(), *a, *s, *k)),
            ) {
                let mut sum = Decimal::ZERO;
                for r in raw.iter().filter(|r| {
                    r.try_get::<String, _>("payout_currency").ok().as_deref()
                        == Some(b.currency.as_str())
                }) {
                    sum += dec(r, "payout_amount")?;
                }
                if b.total != sum || b.pending + b.approved + b.paid + b.frozen != b.total {
                    problems.push(format!(
                        "partner {partner} {}: balance {} but entries sum to {sum}",
                        b.currency, b.total
                    ));
                }
            }
        }
        Ok(problems)
    }
}
