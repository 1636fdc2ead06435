//! Payout persistence: the payable set, runs and their items, the entries each item pays,
//! withholding and fee entries, item outcomes, files, notices.
//!
//! The payable set (`payable_entries`) holds every approved entry that is neither frozen,
//! paid, nor in an open item. It follows the entry events (see [`follow_event`]): an
//! approval, a release or a return adds the entry if it is then payable; a freeze or a
//! payment removes it. A run reads this set only, so its cost follows what is payable,
//! not the ledger's size; it claims entries by moving them from the set into
//! `payout_item_entries` in the transaction that creates the run's items. A failed or
//! returned item puts its entries back.

use super::dialect::{Dialect, JsonColumn};
use super::{Backend, Result, Store, StoreError, money, now_ms};
use crate::domain::ledger::{Cause, EntryKind, EventKind};
use crate::domain::payout::Amounts;
use rust_decimal::Decimal;
use sqlx::{Any, QueryBuilder, Row};
use std::collections::BTreeMap;

/// Rows per multi-row statement: well under the 65,535 bind parameters a PostgreSQL
/// statement takes, for the widest row written here.
const CHUNK: usize = 2_000;

/// The kinds of entries paid out (withholding and fee entries are what a payout keeps).
const PAYABLE_KINDS: &str = "('commission', 'bonus', 'reversal', 'adjustment')";

/// The condition, on entry `e`, that it is payable now as far as its events say:
/// approved, not frozen, every payment of it returned. Whether it is in an item that is
/// still open is [`IN_OPEN_ITEM`]'s question.
const PAYABLE_NOW: &str = "EXISTS (SELECT 1 FROM entry_events a WHERE a.entry_id = e.id AND a.event = 'approved')
    AND NOT EXISTS (SELECT 1 FROM entry_events f WHERE f.entry_id = e.id AND f.event = 'frozen'
        AND NOT EXISTS (SELECT 1 FROM entry_events r WHERE r.entry_id = e.id AND r.event = 'released' AND r.id > f.id))
    AND NOT EXISTS (SELECT 1 FROM entry_events p WHERE p.entry_id = e.id AND p.event = 'paid'
        AND NOT EXISTS (SELECT 1 FROM entry_events r WHERE r.entry_id = e.id AND r.event = 'returned' AND r.id > p.id))";

/// The condition, on entry `e`, that an item still open pays it (an item is closed by a
/// `failed` or `returned` event; a paid one is caught by the payment test of
/// [`PAYABLE_NOW`]). PostgreSQL keeps an item's entries as one array (migration 0010), so
/// it looks among the items of the entry's partner; SQLite keeps a row per entry, indexed
/// by entry.
fn in_open_item(dialect: Dialect) -> &'static str {
    match dialect.0 {
        Backend::Postgres => {
            "EXISTS (SELECT 1 FROM payout_items i JOIN payout_item_entry_lists l ON l.item_id = i.id
                WHERE i.partner_id = e.partner_id AND l.entry_ids @> ARRAY[e.id]
                AND NOT EXISTS (SELECT 1 FROM payout_item_events x WHERE x.item_id = i.id AND x.event IN ('failed', 'returned')))"
        }
        Backend::Sqlite => {
            "EXISTS (SELECT 1 FROM payout_item_entries pie WHERE pie.entry_id = e.id
                AND NOT EXISTS (SELECT 1 FROM payout_item_events x WHERE x.item_id = pie.item_id AND x.event IN ('failed', 'returned')))"
        }
    }
}

/// Whether entries about to be added to the payable set may be in an open item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claims {
    /// They may be (a released entry may still be in the draft run that claimed it before
    /// its dispute): look.
    Check,
    /// They cannot be: entries just approved after their hold (a run claims approved
    /// entries only), or the entries of an item that has just failed or been returned (an
    /// entry is in at most one open item: it leaves the payable set when claimed and comes
    /// back only through this function, which looks). Looking would cost, for each entry,
    /// its partner's payout history.
    NoneOpen,
}

/// Keep the payable set in step with an event just written on `entry_id`.
pub(super) async fn follow_event(
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, Any>,
    entry_id: i64,
    event: EventKind,
) -> Result<()> {
    match event {
        EventKind::Approved | EventKind::Released | EventKind::Returned => {
            payable_add(dialect, tx, &[entry_id], now_ms(), Claims::Check).await
        }
        EventKind::Frozen | EventKind::Paid => payable_remove(dialect, tx, &[entry_id]).await,
    }
}

/// Add those of `ids` that are payable now to the payable set.
pub(super) async fn payable_add(
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, Any>,
    ids: &[i64],
    at_ms: i64,
    claims: Claims,
) -> Result<()> {
    let open = match claims {
        Claims::Check => format!(" AND NOT {}", in_open_item(dialect)),
        Claims::NoneOpen => String::new(),
    };
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Any>::new(
            "INSERT INTO payable_entries (entry_id, program_id, partner_id, payout_currency, payout_amount, approved_at_ms)
             SELECT e.id, e.program_id, e.partner_id, e.payout_currency, e.payout_amount, ",
        );
        qb.push_bind(at_ms);
        qb.push(format!(
            " FROM ledger_entries e WHERE e.kind IN {PAYABLE_KINDS} AND {PAYABLE_NOW}{open} AND e.id IN ("
        ));
        push_ids(&mut qb, chunk);
        qb.push(" ON CONFLICT (entry_id) DO NOTHING");
        execute(&mut qb, dialect, tx).await?;
    }
    Ok(())
}

/// Remove `ids` from the payable set.
async fn payable_remove(
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, Any>,
    ids: &[i64],
) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Any>::new("DELETE FROM payable_entries WHERE entry_id IN (");
        push_ids(&mut qb, chunk);
        execute(&mut qb, dialect, tx).await?;
    }
    Ok(())
}

/// Run a statement built with `QueryBuilder` in `tx`.
async fn execute(
    qb: &mut QueryBuilder<'_, Any>,
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, Any>,
) -> Result<u64> {
    let (sql, args) = dialect.statement(qb)?;
    Ok(sqlx::query_with(&sql, args)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::from_db)?
        .rows_affected())
}

/// A list of ids for `IN (...)`, closed.
pub(super) fn push_ids(qb: &mut QueryBuilder<'_, Any>, ids: &[i64]) {
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    qb.push(")");
}

/// A list of texts for `IN (...)`, closed.
fn push_texts<'a>(qb: &mut QueryBuilder<'a, Any>, values: &'a [String]) {
    let mut list = qb.separated(", ");
    for v in values {
        list.push_bind(v.as_str());
    }
    qb.push(")");
}

/// Whether a failed write may simply be tried again: a PostgreSQL serialization failure
/// or deadlock (a concurrent freeze or approval touched what a run read), or SQLite's
/// busy snapshot.
pub fn is_retryable(e: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = e else {
        return false;
    };
    matches!(
        db.code().as_deref(),
        Some("40001" | "40P01" | "5" | "517" | "261")
    )
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTrigger {
    /// The program's schedule, in the service.
    Schedule,
    /// `POST /v1/payout-runs`.
    Api,
}

impl RunTrigger {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Api => "api",
        }
    }
}

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Its id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// Unique per (program, period): a second creation finds the first.
    pub run_key: String,
    /// Entries approved after this instant wait for the next run.
    pub cutoff_ms: i64,
    /// What started it.
    pub trigger: RunTrigger,
    /// Who.
    pub actor: String,
    /// Show what would be paid, write nothing.
    pub dry_run: bool,
}

/// One partner's payable balance in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayableBalance {
    /// Partner.
    pub partner_id: String,
    /// Payout currency.
    pub currency: String,
    /// The sum of its payable entries (clawbacks netted in).
    pub balance: Decimal,
    /// How many entries.
    pub entries: i64,
}

/// Where a planned item is paid: the partner's method at the time of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemDestination {
    /// `sepa`, `ach`, ...
    pub method: String,
    /// The method's details, sealed as stored for the partner.
    pub sealed: String,
    /// Masked view (JSON).
    pub masked: String,
    /// Account holder.
    pub holder_name: String,
    /// `individual` or `company`.
    pub party_kind: String,
}

/// What the engine decided for one balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPlan {
    /// The balance.
    pub balance: PayableBalance,
    /// The figures, for an item that pays.
    pub amounts: Option<Amounts>,
    /// Why it is held (not paid, entries stay payable), for a held item.
    pub hold_reason: Option<String>,
    /// Where it is paid (paying items).
    pub destination: Option<ItemDestination>,
    /// The withholding rule applied (JSON), recorded on the withholding entry.
    pub withholding_rule: Option<String>,
    /// A notice to record for the partner: `(kind, subject, detail)`.
    pub notice: Option<(String, String, String)>,
}

/// The engine's plan for a run.
#[derive(Debug, Clone, Default)]
pub struct RunPlan {
    /// Items to create: paying or held. Balances that only carry over have none.
    pub items: Vec<ItemPlan>,
    /// Admins who must approve.
    pub approvals_required: i64,
    /// The run's totals (JSON), the note of its `drafted` event: what it was created
    /// with, stated once.
    pub summary: String,
}

/// What [`Store::create_run`] did.
#[derive(Debug, Clone)]
pub enum RunCreation {
    /// Created (or, for a dry run, computed and rolled back).
    Created {
        /// Item ids, in plan order.
        item_ids: Vec<String>,
    },
    /// A run with that key exists already: its id.
    Exists(String),
    /// Another replica holds the schedule right now.
    Busy,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// Unique key.
    pub run_key: String,
    /// Cut-off (ms).
    pub cutoff_ms: i64,
    /// `schedule` or `api`.
    pub trigger: String,
    /// Approvals needed.
    pub approvals_required: i64,
    /// Who created it.
    pub created_by: String,
    /// When (ms).
    pub created_at_ms: i64,
    /// Its events `(event, actor, note, at ms)`, in order.
    pub events: Vec<(String, String, String, i64)>,
}

/// A stored item with its outcome events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    /// Id (the payment's end-to-end id in files).
    pub id: String,
    /// Run.
    pub run_id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Currency.
    pub currency: String,
    /// Netted balance paid.
    pub gross: Decimal,
    /// Withheld.
    pub withholding: Decimal,
    /// Fee.
    pub fee: Decimal,
    /// Sent to the partner.
    pub net: Decimal,
    /// Method name.
    pub method: Option<String>,
    /// Sealed destination.
    pub destination: Option<String>,
    /// Masked destination (JSON).
    pub masked: Option<String>,
    /// Account holder.
    pub holder_name: Option<String>,
    /// `individual` / `company`.
    pub party_kind: Option<String>,
    /// Rule applied (JSON).
    pub withholding_rule: Option<String>,
    /// Why held.
    pub hold_reason: Option<String>,
    /// Entries paid.
    pub entry_count: i64,
    /// Created (ms).
    pub created_at_ms: i64,
    /// Outcome events `(event, actor, reason, at ms)`, in order.
    pub events: Vec<(String, String, String, i64)>,
}

/// An outcome to record on an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcomeKind {
    /// Handed to the bank or provider.
    Sent,
    /// Paid.
    Paid,
    /// Not paid; entries payable again.
    Failed,
    /// Paid, then sent back; entries payable again.
    Returned,
}

impl ItemOutcomeKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::Returned => "returned",
        }
    }
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileRecord {
    /// Run.
    pub run_id: String,
    /// File name, unique in the run.
    pub name: String,
    /// `sepa`, `wire`, `nacha`, `paypal`, `wise`.
    pub format: String,
    /// Media type.
    pub media_type: String,
    /// Currency of its payments.
    pub currency: String,
    /// Payments in it.
    pub item_count: i64,
    /// Their total.
    pub total: Decimal,
    /// sha256 of the content, hex.
    pub sha256: String,
    /// The bytes (empty in listings).
    pub content: Vec<u8>,
    /// Created (ms).
    pub created_at_ms: i64,
}

/// A file to store with its items `(item id, trace number)`.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// The file.
    pub file: FileRecord,
    /// Its items.
    pub items: Vec<(String, Option<String>)>,
}

fn item_columns(dialect: Dialect) -> String {
    format!(
        "i.id, i.run_id, i.program_id, i.partner_id, i.currency, i.gross{t} AS gross,
         i.withholding{t} AS withholding, i.fee{t} AS fee, i.net{t} AS net, i.method, i.destination,
         i.masked, i.holder_name, i.party_kind, i.withholding_rule, i.hold_reason, i.entry_count,
         i.created_at_ms",
        t = dialect.text()
    )
}

fn item_row(r: &sqlx::any::AnyRow) -> Result<ItemRecord> {
    Ok(ItemRecord {
        id: r.try_get("id")?,
        run_id: r.try_get("run_id")?,
        program_id: r.try_get("program_id")?,
        partner_id: r.try_get("partner_id")?,
        currency: r.try_get("currency")?,
        gross: money(r, "gross", "currency")?,
        withholding: money(r, "withholding", "currency")?,
        fee: money(r, "fee", "currency")?,
        net: money(r, "net", "currency")?,
        method: r.try_get("method")?,
        destination: r.try_get("destination")?,
        masked: r.try_get("masked")?,
        holder_name: r.try_get("holder_name")?,
        party_kind: r.try_get("party_kind")?,
        withholding_rule: r.try_get("withholding_rule")?,
        hold_reason: r.try_get("hold_reason")?,
        entry_count: r.try_get("entry_count")?,
        created_at_ms: r.try_get("created_at_ms")?,
        events: Vec::new(),
    })
}

/// Item events read as `(item_id, event, actor, reason, at_ms)` rows, by item, in order.
type EventsByItem = BTreeMap<String, Vec<(String, String, String, i64)>>;

/// Add item event rows to `by_item`.
fn group_item_events(by_item: &mut EventsByItem, rows: &[sqlx::any::AnyRow]) -> Result<()> {
    for r in rows {
        by_item.entry(r.try_get("item_id")?).or_default().push((
            r.try_get("event")?,
            r.try_get("actor")?,
            r.try_get("reason")?,
            r.try_get("at_ms")?,
        ));
    }
    Ok(())
}

/// A payout item's id: deterministic for (run, partner, currency), 15 upper-case
/// characters (what a NACHA individual id holds; a SEPA end-to-end id holds 35).
pub fn item_id(run_id: &str, partner_id: &str, currency: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{run_id}\u{1f}{partner_id}\u{1f}{currency}"));
    // Crockford-like base32 without I, L, O, U: unambiguous when read over the phone.
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut out = String::from("P");
    let mut bits: u32 = 0;
    let mut acc: u32 = 0;
    for byte in digest.iter() {
        acc = (acc << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 && out.len() < 15 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
        if out.len() == 15 {
            break;
        }
    }
    out
}

/// How long the steps of a long write took, for its log line: `balances=12 items=340 ...`
/// (milliseconds).
struct Phases {
    last: std::time::Instant,
    done: Vec<(&'static str, u128)>,
}

impl Phases {
    fn start() -> Self {
        Self {
            last: std::time::Instant::now(),
            done: Vec::new(),
        }
    }

    /// The step `name` ends now.
    fn mark(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.done.push((name, (now - self.last).as_millis()));
        self.last = now;
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, ms)) in self.done.iter().enumerate() {
            write!(f, "{}{name}={ms}", if i == 0 { "" } else { " " })?;
        }
        Ok(())
    }
}

/// A payout item as [`insert_json_rows`] writes it.
#[derive(serde::Serialize)]
struct ItemRow<'a> {
    id: &'a str,
    run_id: &'a str,
    program_id: &'a str,
    partner_id: &'a str,
    currency: &'a str,
    gross: String,
    withholding: String,
    fee: String,
    net: String,
    method: Option<&'a str>,
    destination: Option<&'a str>,
    masked: Option<&'a str>,
    holder_name: Option<&'a str>,
    party_kind: Option<&'a str>,
    withholding_rule: Option<&'a str>,
    hold_reason: Option<&'a str>,
    entry_count: i64,
    created_at_ms: i64,
}

/// The columns of [`ItemRow`].
const ITEM_ROW_COLUMNS: &[(&str, JsonColumn)] = &[
    ("id", JsonColumn::Text),
    ("run_id", JsonColumn::Text),
    ("program_id", JsonColumn::Text),
    ("partner_id", JsonColumn::Text),
    ("currency", JsonColumn::Text),
    ("gross", JsonColumn::Decimal),
    ("withholding", JsonColumn::Decimal),
    ("fee", JsonColumn::Decimal),
    ("net", JsonColumn::Decimal),
    ("method", JsonColumn::Text),
    ("destination", JsonColumn::Text),
    ("masked", JsonColumn::Text),
    ("holder_name", JsonColumn::Text),
    ("party_kind", JsonColumn::Text),
    ("withholding_rule", JsonColumn::Text),
    ("hold_reason", JsonColumn::Text),
    ("entry_count", JsonColumn::Integer),
    ("created_at_ms", JsonColumn::Integer),
];

/// A file's item as [`insert_json_rows`] writes it.
#[derive(serde::Serialize)]
struct FileItemRow<'a> {
    run_id: &'a str,
    file_name: &'a str,
    item_id: &'a str,
    trace_number: Option<&'a str>,
}

/// The columns of [`FileItemRow`].
const FILE_ITEM_COLUMNS: &[(&str, JsonColumn)] = &[
    ("run_id", JsonColumn::Text),
    ("file_name", JsonColumn::Text),
    ("item_id", JsonColumn::Text),
    ("trace_number", JsonColumn::Text),
];

/// Rows per JSON document: bounds one statement's memory on both sides, far above what
/// makes the per-statement cost matter.
const JSON_CHUNK: usize = 5_000;

/// Insert `rows` into `table`, whose `columns` they carry, as JSON documents of
/// [`JSON_CHUNK`] rows (see [`Dialect::json_rows`]), each statement ending with `suffix`
/// (an `ON CONFLICT` clause, or nothing).
async fn insert_json_rows<T: serde::Serialize>(
    tx: &mut sqlx::Transaction<'_, Any>,
    dialect: Dialect,
    table: &str,
    columns: &[(&str, JsonColumn)],
    rows: &[T],
    suffix: &str,
) -> Result<()> {
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) {} {suffix}",
        names.join(", "),
        dialect.json_rows(columns)
    );
    for chunk in rows.chunks(JSON_CHUNK) {
        sqlx::query(&sql)
            .bind(json_doc(table, chunk)?)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from_db)?;
    }
    Ok(())
}

/// `rows` of `table` as one JSON document.
fn json_doc<T: serde::Serialize>(table: &str, rows: &[T]) -> Result<String> {
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt(format!("{table} rows: {e}")))
}

impl Store {
    /// Create a run: claim the program's schedule (scheduled runs; another replica holding
    /// it answers [`RunCreation::Busy`]), stop at an existing run of the same key, read
    /// the payable balances at the cut-off, let `plan` decide each, and write the run,
    /// its items, the entries each pays (removed from the payable set), the withholding
    /// and fee entries and the notices, in one transaction. PostgreSQL runs it at
    /// REPEATABLE READ, so the balances and the entries claimed come from one snapshot;
    /// a concurrent change to those entries fails it with a serialization error
    /// ([`is_retryable`]) rather than letting the two disagree. A dry run rolls back.
    pub async fn create_run(
        &self,
        run: &NewRun,
        plan: impl FnOnce(&[PayableBalance]) -> std::result::Result<RunPlan, String>,
    ) -> Result<(RunCreation, RunPlan, Vec<PayableBalance>)> {
        let dialect = self.dialect();
        let mut tx = self.pool().begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
        }
        if run.trigger == RunTrigger::Schedule {
            let claimed = sqlx::query(&format!(
                "SELECT program_id FROM payout_schedules WHERE program_id = $1{}",
                dialect.claim()
            ))
            .bind(&run.program_id)
            .fetch_optional(&mut *tx)
            .await?;
            if claimed.is_none() {
                return Ok((RunCreation::Busy, RunPlan::default(), Vec::new()));
            }
        }
        if let Some(r) = sqlx::query("SELECT id FROM payout_runs WHERE run_key = $1")
            .bind(&run.run_key)
            .fetch_optional(&mut *tx)
            .await?
        {
            return Ok((
                RunCreation::Exists(r.try_get("id")?),
                RunPlan::default(),
                Vec::new(),
            ));
        }
        let mut phases = Phases::start();
        let balances = self
            .payable_balances(&mut tx, &run.program_id, run.cutoff_ms)
            .await?;
        phases.mark("balances");
        let planned = plan(&balances).map_err(StoreError::Corrupt)?;
        phases.mark("plan");
        let now = now_ms();
        sqlx::query(
            "INSERT INTO payout_runs (id, program_id, run_key, cutoff_ms, trigger_kind, approvals_required, created_by, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&run.id)
        .bind(&run.program_id)
        .bind(&run.run_key)
        .bind(run.cutoff_ms)
        .bind(run.trigger.as_str())
        .bind(planned.approvals_required)
        .bind(&run.actor)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_db)?;
        insert_run_event(
            &mut tx,
            &run.id,
            "drafted",
            &run.actor,
            &planned.summary,
            now,
        )
        .await?;
        // On PostgreSQL, when the role may set it (as for ingest batches, see
        // [`super::BatchChecks`]), the rest of this transaction runs without the per-row
        // foreign-key triggers: every reference its rows make holds by construction. Items
        // and the entries they pay name the run inserted just above (its own keys checked),
        // partners and entries read from the payable set (whose rows were checked against
        // the ledger when written; partners and ledger entries are never deleted), and the
        // withholding entries and their events name those partners and the entries this
        // transaction inserts. At 1,000,000 entries the triggers took longer than the
        // writes they checked (docs/PERFORMANCE.md).
        if self.backend() == Backend::Postgres && self.statement_checks().await {
            sqlx::query("SET LOCAL session_replication_role = replica")
                .execute(&mut *tx)
                .await?;
        }
        let item_ids: Vec<String> = planned
            .items
            .iter()
            .map(|p| item_id(&run.id, &p.balance.partner_id, &p.balance.currency))
            .collect();
        let rows: Vec<(&String, &ItemPlan)> = item_ids.iter().zip(&planned.items).collect();
        let items: Vec<ItemRow<'_>> = rows
            .iter()
            .map(|(id, p)| {
                let a = p.amounts.unwrap_or(Amounts {
                    gross: p.balance.balance,
                    withholding: Decimal::ZERO,
                    fee: Decimal::ZERO,
                    net: Decimal::ZERO,
                });
                let d = p.destination.as_ref();
                ItemRow {
                    id,
                    run_id: &run.id,
                    program_id: &run.program_id,
                    partner_id: &p.balance.partner_id,
                    currency: &p.balance.currency,
                    gross: a.gross.to_string(),
                    withholding: a.withholding.to_string(),
                    fee: a.fee.to_string(),
                    net: a.net.to_string(),
                    method: d.map(|d| d.method.as_str()),
                    destination: d.map(|d| d.sealed.as_str()),
                    masked: d.map(|d| d.masked.as_str()),
                    holder_name: d.map(|d| d.holder_name.as_str()),
                    party_kind: d.map(|d| d.party_kind.as_str()),
                    withholding_rule: p.withholding_rule.as_deref(),
                    hold_reason: p.hold_reason.as_deref(),
                    entry_count: if p.amounts.is_some() {
                        p.balance.entries
                    } else {
                        0
                    },
                    created_at_ms: now,
                }
            })
            .collect();
        insert_json_rows(
            &mut tx,
            dialect,
            "payout_items",
            ITEM_ROW_COLUMNS,
            &items,
            "",
        )
        .await?;
        phases.mark("items");
        // The entries each paying item pays: the payable entries of its partner and
        // currency at the cut-off, read from the snapshot the balances came from, moved
        // from the payable set into the item. On PostgreSQL one statement deletes them
        // from the set and writes what it deleted as one list per item: one pass over the
        // set rather than an insert, then a delete that joins the new rows back (at
        // 1,000,000 entries that second pass spilled its hash to disk and probed the set
        // once per entry), and one row per item rather than per entry (migration 0010).
        let claim = match self.backend() {
            Backend::Postgres => {
                "WITH claimed AS (
                     DELETE FROM payable_entries p USING payout_items i
                     WHERE i.run_id = $1 AND i.partner_id = p.partner_id
                       AND i.currency = p.payout_currency AND i.hold_reason IS NULL
                       AND p.program_id = $2 AND p.approved_at_ms <= $3
                     RETURNING i.id AS item_id, p.entry_id
                 ), lists AS (
                     INSERT INTO payout_item_entry_lists (item_id, entry_ids)
                     SELECT item_id, array_agg(entry_id) FROM claimed GROUP BY item_id
                     RETURNING cardinality(entry_ids) AS n
                 )
                 SELECT COALESCE(SUM(n), 0)::bigint AS n FROM lists"
            }
            // SQLite takes no data-modifying `WITH`: it inserts here and deletes below.
            Backend::Sqlite => {
                "INSERT INTO payout_item_entries (item_id, entry_id)
                 SELECT i.id, p.entry_id FROM payable_entries p
                 JOIN payout_items i ON i.run_id = $1 AND i.partner_id = p.partner_id
                     AND i.currency = p.payout_currency AND i.hold_reason IS NULL
                 WHERE p.program_id = $2 AND p.approved_at_ms <= $3"
            }
        };
        // The planner's statistics on `payout_items` predate the items this transaction
        // has just written, so it takes them for a handful and probes the payable set once
        // per item. For a run of many items one pass over the set joined to a hash of the
        // items is twice as fast (0.8 s against 1.7 s at 100,000 items and 1,000,000
        // entries); for a few items the probes are right.
        let many = planned.items.len() > 1_000;
        if many && self.backend() == Backend::Postgres {
            sqlx::query("SET LOCAL enable_nestloop = off")
                .execute(&mut *tx)
                .await?;
            // Room to group a million entries by item in memory rather than on disk.
            sqlx::query("SET LOCAL work_mem = '256MB'")
                .execute(&mut *tx)
                .await?;
        }
        let statement = sqlx::query(claim)
            .bind(&run.id)
            .bind(&run.program_id)
            .bind(run.cutoff_ms);
        let claimed: i64 = match self.backend() {
            Backend::Postgres => statement
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_db)?
                .try_get("n")?,
            Backend::Sqlite => {
                let n = statement
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_db)?
                    .rows_affected();
                i64::try_from(n).map_err(|e| StoreError::Corrupt(e.to_string()))?
            }
        };
        phases.mark("claim");
        let expected: i64 = planned
            .items
            .iter()
            .filter(|p| p.amounts.is_some())
            .map(|p| p.balance.entries)
            .sum();
        if many && self.backend() == Backend::Postgres {
            sqlx::query("SET LOCAL enable_nestloop TO DEFAULT")
                .execute(&mut *tx)
                .await?;
            sqlx::query("SET LOCAL work_mem TO DEFAULT")
                .execute(&mut *tx)
                .await?;
        }
        if claimed != expected {
            // Cannot happen within one snapshot; if it does, nothing is written.
            return Err(StoreError::Conflict(format!(
                "run {}: {claimed} entries claimed, {expected} planned",
                run.id
            )));
        }
        if self.backend() == Backend::Sqlite {
            sqlx::query(
                "DELETE FROM payable_entries WHERE entry_id IN (
                     SELECT pie.entry_id FROM payout_item_entries pie
                     JOIN payout_items i ON i.id = pie.item_id WHERE i.run_id = $1)",
            )
            .bind(&run.id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_db)?;
        }
        // What each item keeps back, as ledger entries: approved now, paid with the item.
        let mut kept = Vec::new();
        for (id, p) in &rows {
            let Some(a) = p.amounts else { continue };
            for (kind, amount, rule) in [
                (
                    EntryKind::Withholding,
                    a.withholding,
                    p.withholding_rule.as_deref(),
                ),
                (EntryKind::Fee, a.fee, None),
            ] {
                if amount > Decimal::ZERO {
                    kept.push(KeptBack {
                        program_id: &run.program_id,
                        partner_id: &p.balance.partner_id,
                        currency: &p.balance.currency,
                        kind,
                        amount: -amount,
                        cause: Cause::Payout((*id).clone()),
                        provenance: rule,
                        reverses: None,
                    });
                }
            }
        }
        insert_kept_back(dialect, &mut tx, &kept, &[EventKind::Approved], now).await?;
        phases.mark("kept_back");
        let notices: Vec<(&str, &str, &str, &str, &str)> = planned
            .items
            .iter()
            .filter_map(|p| {
                p.notice.as_ref().map(|(kind, subject, detail)| {
                    (
                        run.program_id.as_str(),
                        p.balance.partner_id.as_str(),
                        kind.as_str(),
                        subject.as_str(),
                        detail.as_str(),
                    )
                })
            })
            .collect();
        for chunk in notices.chunks(CHUNK / 4) {
            let mut qb = QueryBuilder::<Any>::new(
                "INSERT INTO notices (program_id, partner_id, kind, subject, detail, created_at_ms) ",
            );
            qb.push_values(chunk, |mut row, n| {
                row.push_bind(n.0)
                    .push_bind(n.1)
                    .push_bind(n.2)
                    .push_bind(n.3)
                    .push_bind(n.4)
                    .push_bind(now);
            });
            qb.push(" ON CONFLICT (kind, subject) DO NOTHING");
            execute(&mut qb, dialect, &mut tx).await?;
        }
        if run.dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await.map_err(StoreError::from_db)?;
        }
        phases.mark("commit");
        tracing::info!(
            run = %run.id,
            items = item_ids.len(),
            entries = claimed,
            dry_run = run.dry_run,
            phases_ms = %phases,
            "payout run written"
        );
        Ok((RunCreation::Created { item_ids }, planned, balances))
    }

    /// The payable balances of a program at a cut-off, by partner and currency.
    async fn payable_balances(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        program_id: &str,
        cutoff_ms: i64,
    ) -> Result<Vec<PayableBalance>> {
        let mut out: BTreeMap<(String, String), (Decimal, i64)> = BTreeMap::new();
        match self.backend() {
            // PostgreSQL sums NUMERIC exactly in the database.
            Backend::Postgres => {
                let rows = sqlx::query(
                    "SELECT partner_id, payout_currency, SUM(payout_amount)::text AS total, COUNT(*) AS n
                     FROM payable_entries WHERE program_id = $1 AND approved_at_ms <= $2
                     GROUP BY partner_id, payout_currency",
                )
                .bind(program_id)
                .bind(cutoff_ms)
                .fetch_all(&mut **tx)
                .await?;
                for r in rows {
                    out.insert(
                        (r.try_get("partner_id")?, r.try_get("payout_currency")?),
                        (super::dec(&r, "total")?, r.try_get("n")?),
                    );
                }
            }
            // SQLite's SUM of text would be a float: amounts are summed as decimals here.
            Backend::Sqlite => {
                let rows = sqlx::query(
                    "SELECT partner_id, payout_currency, payout_amount FROM payable_entries
                     WHERE program_id = $1 AND approved_at_ms <= $2",
                )
                .bind(program_id)
                .bind(cutoff_ms)
                .fetch_all(&mut **tx)
                .await?;
                for r in rows {
                    let slot = out
                        .entry((r.try_get("partner_id")?, r.try_get("payout_currency")?))
                        .or_insert((Decimal::ZERO, 0));
                    slot.0 += super::dec(&r, "payout_amount")?;
                    slot.1 += 1;
                }
            }
        }
        Ok(out
            .into_iter()
            .map(
                |((partner_id, currency), (balance, entries))| PayableBalance {
                    partner_id,
                    currency,
                    balance,
                    entries,
                },
            )
            .collect())
    }

    /// The id of the run with this key, if one exists.
    pub async fn payout_run_by_key(&self, run_key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT id FROM payout_runs WHERE run_key = $1")
            .bind(run_key)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// One run with its events.
    pub async fn payout_run(&self, id: &str) -> Result<Option<RunRecord>> {
        Ok(self.payout_runs(None, Some(id), 1, None).await?.pop())
    }

    /// Runs, newest first: of a program, or the one with `id`; at most `limit`, before
    /// `(created_at_ms, id)` when paging.
    pub async fn payout_runs(
        &self,
        program_id: Option<&str>,
        id: Option<&str>,
        limit: i64,
        before: Option<(i64, String)>,
    ) -> Result<Vec<RunRecord>> {
        let (before_ms, before_id) = before.unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(
            "SELECT * FROM payout_runs
             WHERE ($1 IS NULL OR program_id = $1) AND ($2 IS NULL OR id = $2)
               AND (created_at_ms < $3 OR (created_at_ms = $3 AND ($4 = '' OR id < $4)))
             ORDER BY created_at_ms DESC, id DESC LIMIT $5",
        )
        .bind(program_id)
        .bind(id)
        .bind(before_ms)
        .bind(&before_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut runs = Vec::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            let events = sqlx::query(
                "SELECT event, actor, note, at_ms FROM payout_run_events WHERE run_id = $1 ORDER BY id",
            )
            .bind(&id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|e| {
                Ok((
                    e.try_get("event")?,
                    e.try_get("actor")?,
                    e.try_get("note")?,
                    e.try_get("at_ms")?,
                ))
            })
            .collect::<Result<_>>()?;
            runs.push(RunRecord {
                id,
                program_id: r.try_get("program_id")?,
                run_key: r.try_get("run_key")?,
                cutoff_ms: r.try_get("cutoff_ms")?,
                trigger: r.try_get("trigger_kind")?,
                approvals_required: r.try_get("approvals_required")?,
                created_by: r.try_get("created_by")?,
                created_at_ms: r.try_get("created_at_ms")?,
                events,
            });
        }
        Ok(runs)
    }

    /// Items of a run (ids after `after`, at most `limit`), or of a partner (newest
    /// first), with their events.
    pub async fn payout_items(
        &self,
        run_id: Option<&str>,
        partner_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ItemRecord>> {
        let q = format!(
            "SELECT {cols} FROM payout_items i
             WHERE ($1 IS NULL OR i.run_id = $1) AND ($2 IS NULL OR i.partner_id = $2)
               AND ($3 IS NULL OR i.id > $3)
             ORDER BY {order} LIMIT $4",
            cols = item_columns(self.dialect()),
            order = if run_id.is_some() {
                "i.id"
            } else {
                "i.created_at_ms DESC, i.id"
            }
        );
        let rows = sqlx::query(&q)
            .bind(run_id)
            .bind(partner_id)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut items: Vec<ItemRecord> = rows.iter().map(item_row).collect::<Result<_>>()?;
        self.attach_item_events(&mut items).await?;
        Ok(items)
    }

    /// One item.
    pub async fn payout_item(&self, id: &str) -> Result<Option<ItemRecord>> {
        let q = format!(
            "SELECT {cols} FROM payout_items i WHERE i.id = $1",
            cols = item_columns(self.dialect())
        );
        let row = sqlx::query(&q).bind(id).fetch_optional(self.pool()).await?;
        let mut items: Vec<ItemRecord> = row
            .as_ref()
            .map(item_row)
            .transpose()?
            .into_iter()
            .collect();
        self.attach_item_events(&mut items).await?;
        Ok(items.pop())
    }

    async fn attach_item_events(&self, items: &mut [ItemRecord]) -> Result<()> {
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let mut by_item = EventsByItem::new();
        for chunk in ids.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Any>::new(
                "SELECT item_id, event, actor, reason, at_ms FROM payout_item_events WHERE item_id IN (",
            );
            push_texts(&mut qb, chunk);
            qb.push(" ORDER BY id");
            let (sql, args) = self.dialect().statement(&mut qb)?;
            group_item_events(
                &mut by_item,
                &sqlx::query_with(&sql, args).fetch_all(self.pool()).await?,
            )?;
        }
        for item in items {
            item.events = by_item.remove(&item.id).unwrap_or_default();
        }
        Ok(())
    }

    /// Every item of a run, as the export reads them (paying items only, by id).
    pub async fn run_paying_items(&self, run_id: &str) -> Result<Vec<ItemRecord>> {
        let q = format!(
            "SELECT {cols} FROM payout_items i WHERE i.run_id = $1 AND i.hold_reason IS NULL ORDER BY i.id",
            cols = item_columns(self.dialect())
        );
        let rows = sqlx::query(&q).bind(run_id).fetch_all(self.pool()).await?;
        let mut items: Vec<ItemRecord> = rows.iter().map(item_row).collect::<Result<_>>()?;
        // The events of the run's items in one statement (an `IN` list per 2,000 items
        // cost a round trip and a plan each, for items that mostly have none yet).
        let mut by_item = BTreeMap::new();
        let events = sqlx::query(
            "SELECT x.item_id, x.event, x.actor, x.reason, x.at_ms FROM payout_item_events x
             JOIN payout_items i ON i.id = x.item_id WHERE i.run_id = $1 ORDER BY x.id",
        )
        .bind(run_id)
        .fetch_all(self.pool())
        .await?;
        group_item_events(&mut by_item, &events)?;
        for item in &mut items {
            item.events = by_item.remove(&item.id).unwrap_or_default();
        }
        Ok(items)
    }

    /// The ids of the entries an item pays, with their amounts `(entry id, kind,
    /// conversion, payout amount, created ms)`, by id.
    pub async fn item_entries(
        &self,
        item_id: &str,
    ) -> Result<Vec<(i64, String, Option<String>, Decimal, i64)>> {
        let rows = sqlx::query(&format!(
            "SELECT e.id, e.kind, e.conversion_id, e.payout_amount{t} AS payout_amount, e.payout_currency, e.created_at_ms
             FROM payout_item_entries pie JOIN ledger_entries e ON e.id = pie.entry_id
             WHERE pie.item_id = $1 ORDER BY e.id",
            t = self.dialect().text()
        ))
        .bind(item_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("kind")?,
                    r.try_get("conversion_id")?,
                    money(r, "payout_amount", "payout_currency")?,
                    r.try_get("created_at_ms")?,
                ))
            })
            .collect()
    }

    /// The ids of a run's items whose entries include one that is frozen now.
    pub async fn run_items_with_frozen_entries(&self, run_id: &str) -> Result<Vec<String>> {
        frozen_items(self.pool(), run_id).await
    }

    /// Record a run event (`approval`, `exported`, `cancelled`); a repeated step is
    /// [`StoreError::Conflict`], and so is the export of a cancelled run. With `files`,
    /// stores them in the same transaction (the export), after checking again that no
    /// item they carry pays a frozen entry ([`StoreError::Conflict`] if one does: the
    /// export is asked again). A cancellation is [`Store::cancel_run`].
    pub async fn run_step(
        &self,
        run_id: &str,
        event: &str,
        actor: &str,
        note: &str,
        files: &[NewFile],
    ) -> Result<()> {
        let dialect = self.dialect();
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        // A cancellation and an export exclude each other (see `cancel_run`).
        if event == "exported"
            && self
                .lock_run(&mut tx, run_id)
                .await?
                .iter()
                .any(|e| e == "cancelled")
        {
            return Err(StoreError::Conflict(format!(
                "run {run_id} is cancelled already"
            )));
        }
        insert_run_event(&mut tx, run_id, event, actor, note, now).await?;
        // The files' rows refer to the run locked above, to the files inserted here and
        // to the run's own items (read by the export): they hold by construction, so on
        // PostgreSQL they are written without the per-row foreign-key triggers when the
        // role may (see `create_run`; 100,000 file items took a second of checks).
        if !files.is_empty() && self.backend() == Backend::Postgres && self.statement_checks().await
        {
            sqlx::query("SET LOCAL session_replication_role = replica")
                .execute(&mut *tx)
                .await?;
        }
        if !files.is_empty() {
            // The export's check of frozen entries, again inside the transaction that
            // stores the files: a dispute opened while the files were written makes the
            // export fail (and be asked again), so no file carries a frozen entry.
            let carried: Vec<&str> = files
                .iter()
                .flat_map(|f| f.items.iter().map(|(i, _)| i.as_str()))
                .collect();
            let frozen_items = frozen_items(&mut *tx, run_id).await?;
            if let Some(item) = frozen_items.iter().find(|i| carried.contains(&i.as_str())) {
                return Err(StoreError::Conflict(format!(
                    "item {item} pays an entry frozen while the run was exported"
                )));
            }
        }
        for f in files {
            let r = &f.file;
            sqlx::query(&format!(
                "INSERT INTO payout_files (run_id, name, format, media_type, currency, item_count, total, sha256, content, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7{n}, $8, $9, $10)",
                n = dialect.numeric()
            ))
            .bind(&r.run_id)
            .bind(&r.name)
            .bind(&r.format)
            .bind(&r.media_type)
            .bind(&r.currency)
            .bind(r.item_count)
            .bind(r.total.to_string())
            .bind(&r.sha256)
            .bind(&r.content)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_db)?;
            let rows: Vec<FileItemRow<'_>> = f
                .items
                .iter()
                .map(|(item, trace)| FileItemRow {
                    run_id,
                    file_name: &r.name,
                    item_id: item,
                    trace_number: trace.as_deref(),
                })
                .collect();
            insert_json_rows(
                &mut tx,
                dialect,
                "payout_file_items",
                FILE_ITEM_COLUMNS,
                &rows,
                "",
            )
            .await?;
        }
        tx.commit().await.map_err(StoreError::from_db)?;
        Ok(())
    }

    /// Record `outcome` on `items` (each `(item id, reason)`), in one transaction, with
    /// what it means for the ledger: a payment appends `paid` to the item's entries and
    /// to its withholding and fee entries; a failure or a return puts the entries back
    /// in the payable set (a return with a `returned` event) and undoes the withholding
    /// and fee with entries of the opposite sign. An outcome an item already has is
    /// skipped (retries and repeated bank reports change nothing), and so is one the item
    /// cannot take any more (another outcome won a race: see [`Store::lock_items`]);
    /// returns the ids that got it now.
    pub async fn record_item_outcomes(
        &self,
        outcome: ItemOutcomeKind,
        actor: &str,
        items: &[(String, String)],
    ) -> Result<Vec<String>> {
        let mut tx = self.pool().begin().await?;
        let done = self
            .outcomes_in(&mut tx, outcome, actor, items, now_ms())
            .await?;
        tx.commit().await.map_err(StoreError::from_db)?;
        Ok(done)
    }

    /// Cancel a run: its `cancelled` event and the failure of `items` (their entries
    /// payable again), in one transaction under the run's lock, so that neither a crash
    /// nor a concurrent export can leave a run both exported and with its entries
    /// released. A run exported or cancelled already is [`StoreError::Conflict`].
    pub async fn cancel_run(
        &self,
        run_id: &str,
        actor: &str,
        note: &str,
        items: &[(String, String)],
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        let events = self.lock_run(&mut tx, run_id).await?;
        if let Some(e) = events
            .iter()
            .find(|e| *e == "exported" || *e == "cancelled")
        {
            return Err(StoreError::Conflict(format!("run {run_id} is {e} already")));
        }
        insert_run_event(&mut tx, run_id, "cancelled", actor, note, now).await?;
        self.outcomes_in(&mut tx, ItemOutcomeKind::Failed, actor, items, now)
            .await?;
        tx.commit().await.map_err(StoreError::from_db)?;
        Ok(())
    }

    /// Lock a run's row until `tx` ends (PostgreSQL; SQLite's one writer serializes
    /// already) and read its step events: its export and its cancellation are decided one
    /// at a time, whatever replica asks.
    async fn lock_run(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        run_id: &str,
    ) -> Result<Vec<String>> {
        let lock = if self.backend() == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        sqlx::query(&format!("SELECT id FROM payout_runs WHERE id = $1{lock}"))
            .bind(run_id)
            .fetch_optional(&mut **tx)
            .await?;
        sqlx::query("SELECT event FROM payout_run_events WHERE run_id = $1")
            .bind(run_id)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| Ok(r.try_get("event")?))
            .collect()
    }

    /// Lock `items`' rows until `tx` ends (PostgreSQL, in id order) and keep those that
    /// can take `outcome` now: `sent`, `paid` or `failed` before any final outcome (and
    /// `sent` once), `returned` after `paid`. The engine checks this before asking, but
    /// outside the transaction: two requests (`paid` and `failed` for one item, from two
    /// replicas or two bank reports) could both pass it, and the item would end paid
    /// with its entries payable again, to be paid a second time.
    async fn lock_items<'i>(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        outcome: ItemOutcomeKind,
        items: &'i [(String, String)],
    ) -> Result<Vec<&'i (String, String)>> {
        let ids: Vec<String> = items.iter().map(|(id, _)| id.clone()).collect();
        let mut events: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut sorted = ids.clone();
        sorted.sort();
        for chunk in sorted.chunks(CHUNK) {
            if self.backend() == Backend::Postgres {
                let mut qb = QueryBuilder::<Any>::new("SELECT id FROM payout_items WHERE id IN (");
                push_texts(&mut qb, chunk);
                qb.push(" ORDER BY id FOR UPDATE");
                let (sql, args) = self.dialect().statement(&mut qb)?;
                sqlx::query_with(&sql, args).fetch_all(&mut **tx).await?;
            }
            let mut qb = QueryBuilder::<Any>::new(
                "SELECT item_id, event FROM payout_item_events WHERE item_id IN (",
            );
            push_texts(&mut qb, chunk);
            let (sql, args) = self.dialect().statement(&mut qb)?;
            for r in sqlx::query_with(&sql, args).fetch_all(&mut **tx).await? {
                events
                    .entry(r.try_get("item_id")?)
                    .or_default()
                    .push(r.try_get("event")?);
            }
        }
        Ok(items
            .iter()
            .filter(|(id, _)| {
                let has = |e: &str| events.get(id).is_some_and(|v| v.iter().any(|x| x == e));
                let closed = has("paid") || has("failed") || has("returned");
                match outcome {
                    ItemOutcomeKind::Sent => !closed && !has("sent"),
                    ItemOutcomeKind::Paid | ItemOutcomeKind::Failed => !closed,
                    ItemOutcomeKind::Returned => has("paid") && !has("failed") && !has("returned"),
                }
            })
            .collect())
    }

    /// [`Store::record_item_outcomes`] within `tx`.
    async fn outcomes_in(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        outcome: ItemOutcomeKind,
        actor: &str,
        items: &[(String, String)],
        now: i64,
    ) -> Result<Vec<String>> {
        let dialect = self.dialect();
        let items = self.lock_items(tx, outcome, items).await?;
        let mut done = Vec::new();
        for chunk in items.chunks(CHUNK / 4) {
            let mut qb = QueryBuilder::<Any>::new(
                "INSERT INTO payout_item_events (item_id, event, actor, reason, at_ms) ",
            );
            qb.push_values(chunk, |mut row, (item, reason)| {
                row.push_bind(item.as_str())
                    .push_bind(outcome.as_str())
                    .push_bind(actor)
                    .push_bind(reason.as_str())
                    .push_bind(now);
            });
            qb.push(" ON CONFLICT (item_id, event) DO NOTHING RETURNING item_id");
            let (sql, args) = dialect.statement(&mut qb)?;
            for r in sqlx::query_with(&sql, args)
                .fetch_all(&mut **tx)
                .await
                .map_err(StoreError::from_db)?
            {
                done.push(r.try_get::<String, _>("item_id")?);
            }
        }
        done.sort();
        for chunk in done.chunks(CHUNK / 4) {
            match outcome {
                ItemOutcomeKind::Sent => {}
                ItemOutcomeKind::Paid => {
                    self.entry_events_for_items(tx, chunk, EventKind::Paid, now, true)
                        .await?;
                    let ids = self.item_entry_ids(tx, chunk).await?;
                    payable_remove(dialect, tx, &ids).await?;
                }
                ItemOutcomeKind::Failed | ItemOutcomeKind::Returned => {
                    if outcome == ItemOutcomeKind::Returned {
                        self.entry_events_for_items(tx, chunk, EventKind::Returned, now, false)
                            .await?;
                    }
                    let ids = self.item_entry_ids(tx, chunk).await?;
                    payable_add(dialect, tx, &ids, now, Claims::NoneOpen).await?;
                    self.undo_kept_back(tx, chunk, outcome, now).await?;
                }
            }
        }
        Ok(done)
    }

    /// The entries `items` pay.
    async fn item_entry_ids(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        items: &[String],
    ) -> Result<Vec<i64>> {
        let mut qb =
            QueryBuilder::<Any>::new("SELECT entry_id FROM payout_item_entries WHERE item_id IN (");
        push_texts(&mut qb, items);
        let (sql, args) = self.dialect().statement(&mut qb)?;
        sqlx::query_with(&sql, args)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| Ok(r.try_get("entry_id")?))
            .collect()
    }

    /// Append `event` to the entries `items` pay (and, with `kept`, to their withholding
    /// and fee entries), in the database.
    async fn entry_events_for_items(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        items: &[String],
        event: EventKind,
        now: i64,
        kept: bool,
    ) -> Result<()> {
        let mut qb = QueryBuilder::<Any>::new(
            "INSERT INTO entry_events (entry_id, event, at_ms, reason) SELECT pie.entry_id, ",
        );
        qb.push_bind(event.as_str())
            .push(", ")
            .push_bind(now)
            .push(", 'payout:' || pie.item_id FROM payout_item_entries pie WHERE pie.item_id IN (");
        push_texts(&mut qb, items);
        execute(&mut qb, self.dialect(), tx).await?;
        if kept {
            let causes: Vec<String> = items.iter().map(|i| format!("payout:{i}")).collect();
            let mut qb = QueryBuilder::<Any>::new(
                "INSERT INTO entry_events (entry_id, event, at_ms, reason) SELECT e.id, ",
            );
            qb.push_bind(event.as_str()).push(", ").push_bind(now).push(
                ", e.cause FROM ledger_entries e WHERE e.kind IN ('withholding', 'fee')
                     AND e.reverses_entry_id IS NULL AND e.cause IN (",
            );
            push_texts(&mut qb, &causes);
            execute(&mut qb, self.dialect(), tx).await?;
        }
        Ok(())
    }

    /// Write the opposite of `items`' withholding and fee entries, each with the status
    /// of what it undoes (paid for a returned item's, approved for a failed one's), so
    /// they cancel in every balance figure.
    async fn undo_kept_back(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        items: &[String],
        outcome: ItemOutcomeKind,
        now: i64,
    ) -> Result<()> {
        let causes: Vec<String> = items.iter().map(|i| format!("payout:{i}")).collect();
        let mut qb = QueryBuilder::<Any>::new(format!(
            "SELECT e.id, e.program_id, e.partner_id, e.kind, e.cause, e.payout_amount{t} AS payout_amount, e.payout_currency
             FROM ledger_entries e WHERE e.kind IN ('withholding', 'fee') AND e.reverses_entry_id IS NULL
             AND NOT EXISTS (SELECT 1 FROM ledger_entries u WHERE u.reverses_entry_id = e.id)
             AND e.cause IN (",
            t = self.dialect().text()
        ));
        push_texts(&mut qb, &causes);
        let (sql, args) = self.dialect().statement(&mut qb)?;
        let rows = sqlx::query_with(&sql, args).fetch_all(&mut **tx).await?;
        struct Row {
            id: i64,
            program: String,
            partner: String,
            kind: EntryKind,
            cause: Cause,
            amount: Decimal,
            currency: String,
        }
        let found: Vec<Row> = rows
            .iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                let cause: String = r.try_get("cause")?;
                Ok(Row {
                    id: r.try_get("id")?,
                    program: r.try_get("program_id")?,
                    partner: r.try_get("partner_id")?,
                    kind: EntryKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(kind))?,
                    cause: Cause::parse(&cause).ok_or_else(|| StoreError::Corrupt(cause))?,
                    amount: money(r, "payout_amount", "payout_currency")?,
                    currency: r.try_get("payout_currency")?,
                })
            })
            .collect::<Result<_>>()?;
        let undo: Vec<KeptBack<'_>> = found
            .iter()
            .map(|r| KeptBack {
                program_id: &r.program,
                partner_id: &r.partner,
                currency: &r.currency,
                kind: r.kind,
                amount: -r.amount,
                cause: r.cause.clone(),
                provenance: None,
                reverses: Some(r.id),
            })
            .collect();
        let events: &[EventKind] = match outcome {
            ItemOutcomeKind::Returned => &[EventKind::Approved, EventKind::Paid],
            _ => &[EventKind::Approved],
        };
        insert_kept_back(self.dialect(), tx, &undo, events, now).await
    }

    /// Files of a run (without content), by name.
    pub async fn payout_files(&self, run_id: &str) -> Result<Vec<FileRecord>> {
        self.files(run_id, None).await
    }

    /// One file with its content.
    pub async fn payout_file(&self, run_id: &str, name: &str) -> Result<Option<FileRecord>> {
        Ok(self.files(run_id, Some(name)).await?.pop())
    }

    async fn files(&self, run_id: &str, name: Option<&str>) -> Result<Vec<FileRecord>> {
        let content = if name.is_some() {
            "content"
        } else {
            "NULL AS content"
        };
        let rows = sqlx::query(&format!(
            "SELECT run_id, name, format, media_type, currency, item_count, total{t} AS total, sha256, {content}, created_at_ms
             FROM payout_files WHERE run_id = $1 AND ($2 IS NULL OR name = $2) ORDER BY name",
            t = self.dialect().text()
        ))
        .bind(run_id)
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FileRecord {
                    run_id: r.try_get("run_id")?,
                    name: r.try_get("name")?,
                    format: r.try_get("format")?,
                    media_type: r.try_get("media_type")?,
                    currency: r.try_get("currency")?,
                    item_count: r.try_get("item_count")?,
                    total: money(r, "total", "currency")?,
                    sha256: r.try_get("sha256")?,
                    content: r
                        .try_get::<Option<Vec<u8>>, _>("content")?
                        .unwrap_or_default(),
                    created_at_ms: r.try_get("created_at_ms")?,
                })
            })
            .collect()
    }

    /// The item a NACHA trace number names, within a run's files. Every file numbers its
    /// traces from 1, so the same trace names another item in each run's file: the run
    /// is part of the key.
    pub async fn item_by_trace(&self, run_id: &str, trace_number: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT item_id FROM payout_file_items WHERE run_id = $1 AND trace_number = $2 LIMIT 1",
        )
        .bind(run_id)
        .bind(trace_number)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get("item_id")).transpose()?)
    }

    /// The ids of the items a run's file carries, sorted.
    pub async fn file_item_ids(&self, run_id: &str, file_name: &str) -> Result<Vec<String>> {
        let mut ids: Vec<String> = sqlx::query(
            "SELECT item_id FROM payout_file_items WHERE run_id = $1 AND file_name = $2",
        )
        .bind(run_id)
        .bind(file_name)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.try_get("item_id"))
        .collect::<std::result::Result<_, _>>()?;
        ids.sort();
        Ok(ids)
    }

    /// Notices of a program (or one partner), newest first: `(kind, partner, subject,
    /// detail, created ms)`.
    pub async fn notices(
        &self,
        program_id: &str,
        partner_id: Option<&str>,
    ) -> Result<Vec<(String, Option<String>, String, String, i64)>> {
        sqlx::query(
            "SELECT kind, partner_id, subject, detail, created_at_ms FROM notices
             WHERE program_id = $1 AND ($2 IS NULL OR partner_id = $2) ORDER BY id DESC LIMIT 1000",
        )
        .bind(program_id)
        .bind(partner_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("kind")?,
                r.try_get("partner_id")?,
                r.try_get("subject")?,
                r.try_get("detail")?,
                r.try_get("created_at_ms")?,
            ))
        })
        .collect()
    }

    /// Per (partner, currency) totals of items paid in `[from, to)` of a program:
    /// `(partner, currency, gross, withholding, fee, net)`, from items with a `paid`
    /// event in the window and no later return.
    pub async fn paid_totals(
        &self,
        program_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(String, String, Decimal, Decimal, Decimal, Decimal)>> {
        let rows = sqlx::query(&format!(
            "SELECT {cols} FROM payout_items i
             JOIN payout_item_events p ON p.item_id = i.id AND p.event = 'paid'
             WHERE i.program_id = $1 AND p.at_ms >= $2 AND p.at_ms < $3
               AND NOT EXISTS (SELECT 1 FROM payout_item_events r WHERE r.item_id = i.id AND r.event = 'returned')
             ORDER BY i.partner_id, i.currency, i.id",
            cols = item_columns(self.dialect())
        ))
        .bind(program_id)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?;
        let mut out: BTreeMap<(String, String), [Decimal; 4]> = BTreeMap::new();
        for r in rows {
            let i = item_row(&r)?;
            let slot = out.entry((i.partner_id, i.currency)).or_default();
            slot[0] += i.gross;
            slot[1] += i.withholding;
            slot[2] += i.fee;
            slot[3] += i.net;
        }
        Ok(out
            .into_iter()
            .map(|((p, c), [g, w, f, n])| (p, c, g, w, f, n))
            .collect())
    }

    /// Payout invariants: each paying item's gross equals the sum of the entries it pays
    /// and its net equals gross − withholding − fee; each item's withholding and fee
    /// equal its entries of those kinds; no entry is in two items that are not closed;
    /// no entry is paid more times than it was returned plus one.
    pub async fn check_payout_invariants(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let t = self.dialect().text();
        let items = sqlx::query(&format!(
            "SELECT {cols} FROM payout_items i WHERE i.hold_reason IS NULL ORDER BY i.id",
            cols = item_columns(self.dialect())
        ))
        .fetch_all(self.pool())
        .await?;
        let sums = sqlx::query(&format!(
            "SELECT pie.item_id, e.payout_amount{t} AS amount FROM payout_item_entries pie
             JOIN ledger_entries e ON e.id = pie.entry_id"
        ))
        .fetch_all(self.pool())
        .await?;
        let mut by_item: BTreeMap<String, (Decimal, i64)> = BTreeMap::new();
        for r in sums {
            let slot = by_item.entry(r.try_get("item_id")?).or_default();
            slot.0 += super::dec(&r, "amount")?;
            slot.1 += 1;
        }
        let kept = sqlx::query(&format!(
            "SELECT cause, kind, payout_amount{t} AS amount FROM ledger_entries
             WHERE kind IN ('withholding', 'fee') AND reverses_entry_id IS NULL"
        ))
        .fetch_all(self.pool())
        .await?;
        let mut kept_by: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for r in kept {
            let cause: String = r.try_get("cause")?;
            let item = cause.strip_prefix("payout:").unwrap_or(&cause).to_owned();
            *kept_by.entry((item, r.try_get("kind")?)).or_default() -= super::dec(&r, "amount")?;
        }
        for r in items {
            let i = item_row(&r)?;
            let (sum, n) = by_item.remove(&i.id).unwrap_or_default();
            if sum != i.gross || n != i.entry_count {
                problems.push(format!(
                    "item {}: gross {} over {} entries, but its entries sum to {sum} over {n}",
                    i.id, i.gross, i.entry_count
                ));
            }
            if i.net != i.gross - i.withholding - i.fee {
                problems.push(format!(
                    "item {}: net {} is not gross {} - withholding {} - fee {}",
                    i.id, i.net, i.gross, i.withholding, i.fee
                ));
            }
            for (kind, want) in [("withholding", i.withholding), ("fee", i.fee)] {
                let got = kept_by
                    .remove(&(i.id.clone(), kind.to_owned()))
                    .unwrap_or_default();
                if got != want {
                    problems.push(format!(
                        "item {}: {kind} {want}, but its {kind} entries sum to {got}",
                        i.id
                    ));
                }
            }
        }
        let doubled = sqlx::query(
            "SELECT pie.entry_id, COUNT(*) AS n FROM payout_item_entries pie
             WHERE NOT EXISTS (SELECT 1 FROM payout_item_events x WHERE x.item_id = pie.item_id
                               AND x.event IN ('failed', 'returned'))
             GROUP BY pie.entry_id HAVING COUNT(*) > 1",
        )
        .fetch_all(self.pool())
        .await?;
        for r in doubled {
            let id: i64 = r.try_get("entry_id")?;
            problems.push(format!("entry {id} is in more than one open payout item"));
        }
        let paid_twice = sqlx::query(
            "SELECT entry_id FROM entry_events GROUP BY entry_id
             HAVING SUM(CASE WHEN event = 'paid' THEN 1 ELSE 0 END)
                  > SUM(CASE WHEN event = 'returned' THEN 1 ELSE 0 END) + 1",
        )
        .fetch_all(self.pool())
        .await?;
        for r in paid_twice {
            let id: i64 = r.try_get("entry_id")?;
            problems.push(format!("entry {id} is paid twice"));
        }
        let stale = sqlx::query(&format!(
            "SELECT p.entry_id FROM payable_entries p JOIN ledger_entries e ON e.id = p.entry_id
             WHERE {}",
            in_open_item(self.dialect())
        ))
        .fetch_all(self.pool())
        .await?;
        for r in stale {
            let id: i64 = r.try_get("entry_id")?;
            problems.push(format!("entry {id} is payable and in an open payout item"));
        }
        Ok(problems)
    }

    /// Those of `ids` that have an `approved` event.
    pub async fn approved_among(&self, ids: &[i64]) -> Result<std::collections::HashSet<i64>> {
        let mut out = std::collections::HashSet::new();
        for chunk in ids.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Any>::new(
                "SELECT entry_id FROM entry_events WHERE event = 'approved' AND entry_id IN (",
            );
            push_ids(&mut qb, chunk);
            let (sql, args) = self.dialect().statement(&mut qb)?;
            for r in sqlx::query_with(&sql, args).fetch_all(self.pool()).await? {
                out.insert(r.try_get::<i64, _>("entry_id")?);
            }
        }
        Ok(out)
    }

    /// A partner's payable set summed per payout currency (in Rust: SQLite's SUM of text
    /// would be a float).
    pub async fn payable_sums(&self, partner_id: &str) -> Result<Vec<(String, Decimal)>> {
        let rows = sqlx::query(&format!(
            "SELECT payout_currency, payout_amount{t} AS payout_amount FROM payable_entries WHERE partner_id = $1",
            t = self.dialect().text()
        ))
        .bind(partner_id)
        .fetch_all(self.pool())
        .await?;
        let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
        for r in rows {
            *sums.entry(r.try_get("payout_currency")?).or_default() +=
                super::dec(&r, "payout_amount")?;
        }
        Ok(sums.into_iter().collect())
    }

    /// Test and bench hook: how many entries are in the payable set.
    pub async fn payable_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM payable_entries")
            .fetch_one(self.pool())
            .await?
            .try_get("n")?)
    }

    /// Items by id, with their events.
    pub async fn payout_items_by_id(&self, ids: &[String]) -> Result<Vec<ItemRecord>> {
        let mut items = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Any>::new(format!(
                "SELECT {cols} FROM payout_items i WHERE i.id IN (",
                cols = item_columns(self.dialect())
            ));
            push_texts(&mut qb, chunk);
            let (sql, args) = self.dialect().statement(&mut qb)?;
            for r in sqlx::query_with(&sql, args).fetch_all(self.pool()).await? {
                items.push(item_row(&r)?);
            }
        }
        self.attach_item_events(&mut items).await?;
        Ok(items)
    }

    /// How many paying items of a run have no final outcome yet.
    pub async fn run_open_items(&self, run_id: &str) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM payout_items i WHERE i.run_id = $1 AND i.hold_reason IS NULL
             AND NOT EXISTS (SELECT 1 FROM payout_item_events x WHERE x.item_id = i.id
                             AND x.event IN ('paid', 'failed', 'returned'))",
        )
        .bind(run_id)
        .fetch_one(self.pool())
        .await?
        .try_get("n")?)
    }

    /// Create or replace a program's payout schedule.
    pub async fn put_payout_schedule(
        &self,
        program_id: &str,
        frequency: crate::domain::payout::Frequency,
        settings: &crate::domain::payout::Settings,
    ) -> Result<()> {
        let (kind, day) = frequency.stored();
        let settings = serde_json::to_string(settings)
            .map_err(|e| StoreError::Corrupt(format!("schedule settings: {e}")))?;
        let now = now_ms();
        sqlx::query(&format!(
            "INSERT INTO payout_schedules (program_id, frequency, day, minimum_amount, settings, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4{n}, $5, $6, $6)
             ON CONFLICT (program_id) DO UPDATE SET frequency = excluded.frequency, day = excluded.day,
                 minimum_amount = excluded.minimum_amount, settings = excluded.settings,
                 updated_at_ms = excluded.updated_at_ms",
            n = self.dialect().numeric()
        ))
        .bind(program_id)
        .bind(kind)
        .bind(day)
        .bind("0")
        .bind(settings)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// Payout schedules (of one program, or all).
    pub async fn payout_schedules(
        &self,
        program_id: Option<&str>,
    ) -> Result<Vec<crate::engine::Schedule>> {
        let rows = sqlx::query(
            "SELECT program_id, frequency, day, settings, created_at_ms, updated_at_ms
             FROM payout_schedules WHERE ($1 IS NULL OR program_id = $1) ORDER BY program_id",
        )
        .bind(program_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("frequency")?;
                let day: i64 = r.try_get("day")?;
                let settings: String = r.try_get("settings")?;
                Ok(crate::engine::Schedule {
                    program_id: r.try_get("program_id")?,
                    frequency: crate::domain::payout::Frequency::from_stored(&kind, day)
                        .ok_or_else(|| StoreError::Corrupt(format!("schedule {kind} {day}")))?,
                    settings: serde_json::from_str(&settings)
                        .map_err(|e| StoreError::Corrupt(format!("schedule settings: {e}")))?,
                    created_at_ms: r.try_get("created_at_ms")?,
                    updated_at_ms: r.try_get("updated_at_ms")?,
                })
            })
            .collect()
    }
}

/// The ids of a run's items whose entries include one frozen now.
async fn frozen_items<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    run_id: &str,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT DISTINCT pie.item_id FROM payout_item_entries pie
         JOIN payout_items i ON i.id = pie.item_id
         WHERE i.run_id = $1 AND EXISTS (
             SELECT 1 FROM entry_events f WHERE f.entry_id = pie.entry_id AND f.event = 'frozen'
             AND NOT EXISTS (SELECT 1 FROM entry_events r WHERE r.entry_id = pie.entry_id
                             AND r.event = 'released' AND r.id > f.id))
         ORDER BY pie.item_id",
    )
    .bind(run_id)
    .fetch_all(executor)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("item_id")?)).collect()
}

async fn insert_run_event(
    tx: &mut sqlx::Transaction<'_, Any>,
    run_id: &str,
    event: &str,
    actor: &str,
    note: &str,
    at_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO payout_run_events (run_id, event, actor, note, at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(run_id)
    .bind(event)
    .bind(actor)
    .bind(note)
    .bind(at_ms)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from_db)?;
    Ok(())
}

/// A withholding or fee entry to write (or its undoing).
struct KeptBack<'a> {
    program_id: &'a str,
    partner_id: &'a str,
    currency: &'a str,
    kind: EntryKind,
    amount: Decimal,
    cause: Cause,
    provenance: Option<&'a str>,
    reverses: Option<i64>,
}

/// A withholding or fee entry as [`insert_kept_back`] writes it (in the payout currency:
/// nothing to convert).
#[derive(serde::Serialize)]
struct KeptRow<'a> {
    program_id: &'a str,
    partner_id: &'a str,
    kind: &'a str,
    amount: String,
    currency: &'a str,
    fx_rate: &'a str,
    reverses_entry_id: Option<i64>,
    cause: String,
    provenance: Option<&'a str>,
    hold_until_ms: i64,
    created_at_ms: i64,
}

/// The columns of [`KeptRow`].
const KEPT_ROW_COLUMNS: &[(&str, JsonColumn)] = &[
    ("program_id", JsonColumn::Text),
    ("partner_id", JsonColumn::Text),
    ("kind", JsonColumn::Text),
    ("amount", JsonColumn::Decimal),
    ("currency", JsonColumn::Text),
    ("fx_rate", JsonColumn::Decimal),
    ("reverses_entry_id", JsonColumn::Integer),
    ("cause", JsonColumn::Text),
    ("provenance", JsonColumn::Text),
    ("hold_until_ms", JsonColumn::Integer),
    ("created_at_ms", JsonColumn::Integer),
];

/// An entry event as [`insert_kept_back`] writes it.
#[derive(serde::Serialize)]
struct EventRow<'a> {
    entry_id: i64,
    event: &'a str,
    at_ms: i64,
    reason: &'a str,
}

/// The columns of [`EventRow`].
const EVENT_ROW_COLUMNS: &[(&str, JsonColumn)] = &[
    ("entry_id", JsonColumn::Integer),
    ("event", JsonColumn::Text),
    ("at_ms", JsonColumn::Integer),
    ("reason", JsonColumn::Text),
];

/// Write withholding and fee entries with `events`, as JSON rows.
async fn insert_kept_back(
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, Any>,
    rows: &[KeptBack<'_>],
    events: &[EventKind],
    now: i64,
) -> Result<()> {
    let rows: Vec<KeptRow<'_>> = rows
        .iter()
        .map(|k| KeptRow {
            program_id: k.program_id,
            partner_id: k.partner_id,
            kind: k.kind.as_str(),
            amount: k.amount.to_string(),
            currency: k.currency,
            fx_rate: "1",
            reverses_entry_id: k.reverses,
            cause: k.cause.to_string(),
            provenance: k.provenance,
            hold_until_ms: now,
            created_at_ms: now,
        })
        .collect();
    // The amount is the payout amount too: one value, two columns.
    let insert = format!(
        "INSERT INTO ledger_entries (program_id, partner_id, kind, amount, currency, payout_amount,
             payout_currency, fx_rate, reverses_entry_id, cause, provenance, hold_until_ms, created_at_ms)
         SELECT program_id, partner_id, kind, amount, currency, amount, currency, fx_rate,
             reverses_entry_id, cause, provenance, hold_until_ms, created_at_ms FROM ({}) AS k
         RETURNING id",
        dialect.json_rows(KEPT_ROW_COLUMNS)
    );
    for chunk in rows.chunks(JSON_CHUNK) {
        let doc = json_doc("ledger_entries", chunk)?;
        let ids: Vec<i64> = sqlx::query(&insert)
            .bind(doc)
            .fetch_all(&mut **tx)
            .await
            .map_err(StoreError::from_db)?
            .iter()
            .map(|r| Ok(r.try_get("id")?))
            .collect::<Result<_>>()?;
        super::rollups::enqueue_entries(dialect, tx, &ids).await?;
        for event in events {
            let rows: Vec<EventRow<'_>> = ids
                .iter()
                .map(|id| EventRow {
                    entry_id: *id,
                    event: event.as_str(),
                    at_ms: now,
                    reason: "payout",
                })
                .collect();
            let suffix = if *event == EventKind::Approved {
                super::ledger::APPROVED_ONCE
            } else {
                ""
            };
            insert_json_rows(
                tx,
                dialect,
                "entry_events",
                EVENT_ROW_COLUMNS,
                &rows,
                suffix,
            )
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::item_id;

    #[test]
    fn item_ids_are_short_upper_case_and_deterministic() {
        let a = item_id("run_1", "partner-a", "EUR");
        assert_eq!(a.len(), 15);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_eq!(a, item_id("run_1", "partner-a", "EUR"));
        assert_ne!(a, item_id("run_1", "partner-a", "USD"));
        assert_ne!(a, item_id("run_2", "partner-a", "EUR"));
    }
}
