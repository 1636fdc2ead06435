//! Payouts: schedules, runs and their life (draft → approved → exported → items sent →
//! paid / failed / returned), bank feedback, statements and year-end tax data.
//!
//! A run nets each partner's payable entries per currency (clawbacks included), applies
//! the program's minimum, withholding and fee, and pays what is left; the store writes it
//! in one transaction ([`crate::store::payouts`]). Every step after is an event with its
//! time and actor; nothing is updated in place. A crash at any point leaves either the
//! step done or not done, and each step may be asked again: a scheduled run is found by
//! its key, an outcome an item has already is skipped.

use super::{Engine, EngineError, Result, Scope};
use crate::domain::Currency;
use crate::domain::payout::{
    AppliedRule, Decision, Frequency, Settings, TaxFacts, WithholdingRule, decide, withholding_rate,
};
use crate::store::StoreError;
use crate::store::payouts::{
    self as sp, ItemDestination, ItemOutcomeKind, ItemPlan, ItemRecord, NewRun, PayableBalance,
    RunCreation, RunPlan, RunRecord, RunTrigger,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// How many times a run creation is retried after a serialization failure (a dispute or
/// approval touched the entries it was reading).
const RUN_ATTEMPTS: usize = 5;

/// A day in ms.
const DAY_MS: i64 = 86_400_000;

/// A program's payout schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Program.
    pub program_id: String,
    /// When it pays.
    pub frequency: Frequency,
    /// Thresholds, fees, methods, second approval.
    pub settings: Settings,
    /// Created (ms): pay days before it are not run.
    pub created_at_ms: i64,
    /// Last changed (ms).
    pub updated_at_ms: i64,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created; waits for approval.
    Draft,
    /// Approved by enough admins; waits for export.
    Approved,
    /// Files generated; items sent or waiting for the bank's answer.
    Exported,
    /// Exported, and every paying item has an outcome.
    Completed,
    /// Cancelled before export: its entries are payable again.
    Cancelled,
}

/// Totals of a run in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyTotals {
    /// Currency.
    pub currency: String,
    /// Paying items.
    pub items: i64,
    /// Held items.
    pub held: i64,
    /// Entries paid.
    pub entries: i64,
    /// Gross.
    #[serde(with = "rust_decimal::serde::str")]
    pub gross: Decimal,
    /// Withheld.
    #[serde(with = "rust_decimal::serde::str")]
    pub withholding: Decimal,
    /// Fees.
    #[serde(with = "rust_decimal::serde::str")]
    pub fees: Decimal,
    /// Net paid out.
    #[serde(with = "rust_decimal::serde::str")]
    pub net: Decimal,
}

/// A run as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunView {
    /// Id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// Status.
    pub status: RunStatus,
    /// `schedule` or `api`.
    pub trigger: String,
    /// Entries approved after this were left for the next run (ms).
    pub cutoff_ms: i64,
    /// Admin approvals needed.
    pub approvals_required: i64,
    /// Who approved, in order.
    pub approved_by: Vec<String>,
    /// Totals per currency.
    pub totals: Vec<CurrencyTotals>,
    /// Whether nothing was written (a dry run's preview).
    pub dry_run: bool,
    /// Created by.
    pub created_by: String,
    /// Created (ms).
    pub created_at_ms: i64,
    /// Every step `(event, actor, note, at ms)`.
    pub events: Vec<(String, String, String, i64)>,
}

/// An item's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Not paid this run (no tax form, no method...): the entries stay payable.
    Held,
    /// In the run, not sent yet.
    Pending,
    /// Handed to the bank or provider.
    Sent,
    /// Paid.
    Paid,
    /// Not paid; entries payable again.
    Failed,
    /// Paid, then returned; entries payable again.
    Returned,
}

impl ItemStatus {
    /// From an item's record.
    pub fn of(item: &ItemRecord) -> Self {
        if item.hold_reason.is_some() {
            return Self::Held;
        }
        let has = |e: &str| item.events.iter().any(|(ev, ..)| ev == e);
        if has("returned") {
            Self::Returned
        } else if has("failed") {
            Self::Failed
        } else if has("paid") {
            Self::Paid
        } else if has("sent") {
            Self::Sent
        } else {
            Self::Pending
        }
    }
}

/// A request for a run through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// Program.
    pub program_id: String,
    /// Entries approved after this are left (default: now).
    pub cutoff_ms: Option<i64>,
    /// Show, write nothing.
    pub dry_run: bool,
    /// The client's key: the same key finds the same run.
    pub idempotency_key: Option<String>,
    /// Who asks.
    pub actor: String,
}

/// What a run request did.
#[derive(Debug, Clone)]
pub struct RunStarted {
    /// The run (a dry run's preview has an id that was never stored).
    pub run: RunView,
    /// Its items (a preview's only; stored runs list theirs at `/items`).
    pub preview_items: Vec<ItemRecord>,
    /// Whether it existed already (same key).
    pub existed: bool,
}

/// An item outcome asked for over the API or read from bank feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOutcome {
    /// Item id.
    pub item_id: String,
    /// `paid`, `failed`, `returned` or `sent`.
    pub outcome: ItemOutcomeKind,
    /// Why (bank reason code and text).
    pub reason: String,
}

/// What applying outcomes did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackReport {
    /// Items that got an outcome now.
    pub applied: Vec<String>,
    /// Items that had it already.
    pub unchanged: Vec<String>,
    /// Lines that named no item of the run, or an outcome the item cannot take now:
    /// `(key, why)`.
    pub rejected: Vec<(String, String)>,
    /// Items the bank has not decided yet.
    pub pending: Vec<String>,
}

fn invalid(kind: &'static str, message: impl Into<String>) -> EngineError {
    EngineError::Invalid {
        kind,
        message: message.into(),
    }
}

/// The status of a run from its events and whether every paying item has an outcome.
fn run_status(run: &RunRecord, all_closed: bool) -> RunStatus {
    let has = |e: &str| run.events.iter().any(|(ev, ..)| ev == e);
    let approvals = run
        .events
        .iter()
        .filter(|(ev, ..)| ev == "approval")
        .count() as i64;
    if has("cancelled") {
        RunStatus::Cancelled
    } else if has("exported") {
        if all_closed {
            RunStatus::Completed
        } else {
            RunStatus::Exported
        }
    } else if approvals >= run.approvals_required {
        RunStatus::Approved
    } else {
        RunStatus::Draft
    }
}

/// Totals per currency of `items`.
fn totals(items: &[ItemPlan]) -> Vec<CurrencyTotals> {
    let mut by: BTreeMap<&str, CurrencyTotals> = BTreeMap::new();
    for p in items {
        let t = by
            .entry(p.balance.currency.as_str())
            .or_insert_with(|| CurrencyTotals {
                currency: p.balance.currency.clone(),
                ..CurrencyTotals::default()
            });
        match p.amounts {
            Some(a) => {
                t.items += 1;
                t.entries += p.balance.entries;
                t.gross += a.gross;
                t.withholding += a.withholding;
                t.fees += a.fee;
                t.net += a.net;
            }
            None => t.held += 1,
        }
    }
    by.into_values().collect()
}

impl Engine {
    /// Set a program's payout schedule (admin).
    pub async fn set_payout_schedule(
        &self,
        program_id: &str,
        frequency: Frequency,
        settings: Settings,
    ) -> Result<Schedule> {
        self.path_program(program_id).await?;
        if !frequency.is_valid() {
            return Err(invalid(
                "payout-schedule-invalid",
                "weekday must be 1 (Monday) to 7 (Sunday); day of month 1 to 28",
            ));
        }
        settings
            .check()
            .map_err(|m| invalid("payout-schedule-invalid", m))?;
        self.store
            .put_payout_schedule(program_id, frequency, &settings)
            .await?;
        self.payout_schedule(program_id)
            .await?
            .ok_or_else(|| EngineError::Internal("schedule vanished".into()))
    }

    /// A program's schedule, if it has one.
    pub async fn payout_schedule(&self, program_id: &str) -> Result<Option<Schedule>> {
        self.path_program(program_id).await?;
        Ok(self
            .store
            .payout_schedules(Some(program_id))
            .await?
            .into_iter()
            .next())
    }

    /// Start the runs whose pay day has come, for every program with a schedule: a run
    /// per (program, pay day), whatever replica gets there first (the others find the run
    /// by its key, or the schedule claimed). Returns the ids of the runs created now.
    pub async fn run_due_payouts(&self, now_ms: i64) -> Result<Vec<String>> {
        let mut created = Vec::new();
        for s in self.store.payout_schedules(None).await? {
            let Some(pay_day) = s.frequency.last_occurrence(now_ms) else {
                continue;
            };
            // A pay day counts from the day the schedule was set: set on a pay day, it
            // pays that day; pay days before it are not run.
            if pay_day + DAY_MS <= s.created_at_ms {
                continue;
            }
            let day = chrono::DateTime::from_timestamp_millis(pay_day)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            let run = NewRun {
                id: new_run_id(),
                program_id: s.program_id.clone(),
                run_key: format!("{}/schedule/{day}", s.program_id),
                cutoff_ms: pay_day,
                trigger: RunTrigger::Schedule,
                actor: "scheduler".into(),
                dry_run: false,
            };
            // A pay day already run costs one look-up by key: the partners' methods and
            // tax forms are read only for a run to create.
            if self.store.payout_run_by_key(&run.run_key).await?.is_some() {
                continue;
            }
            match self.create_run(&run, &s.settings).await {
                Ok((RunCreation::Created { .. }, ..)) => {
                    tracing::info!(program = %s.program_id, run = %run.id, "payout run created");
                    created.push(run.id);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(program = %s.program_id, "payout run failed: {e}");
                }
            }
        }
        Ok(created)
    }

    /// Start a run (admin), or show what it would pay with `dry_run`.
    pub async fn start_payout_run(&self, req: &RunRequest) -> Result<RunStarted> {
        self.program(&req.program_id).await?;
        let settings = self
            .payout_schedule(&req.program_id)
            .await?
            .map(|s| s.settings)
            .unwrap_or_default();
        let cutoff_ms = req.cutoff_ms.unwrap_or_else(crate::store::now_ms);
        let run_key = match &req.idempotency_key {
            Some(k) => format!("{}/api/key/{k}", req.program_id),
            None => format!("{}/api/{cutoff_ms}", req.program_id),
        };
        let run = NewRun {
            id: new_run_id(),
            program_id: req.program_id.clone(),
            run_key,
            cutoff_ms,
            trigger: RunTrigger::Api,
            actor: req.actor.clone(),
            dry_run: req.dry_run,
        };
        let (created, plan, _) = self.create_run(&run, &settings).await?;
        match created {
            RunCreation::Exists(id) => {
                if req.dry_run {
                    return Err(EngineError::Conflict(format!(
                        "run {id} exists for this period already"
                    )));
                }
                let stored = self
                    .store
                    .payout_run(&id)
                    .await?
                    .ok_or_else(|| EngineError::Internal(format!("run {id} vanished")))?;
                if stored.cutoff_ms != cutoff_ms && req.cutoff_ms.is_some() {
                    return Err(EngineError::IdempotencyConflict(format!(
                        "idempotency key {:?}",
                        req.idempotency_key.as_deref().unwrap_or_default()
                    )));
                }
                Ok(RunStarted {
                    run: self.run_view(stored).await?,
                    preview_items: Vec::new(),
                    existed: true,
                })
            }
            RunCreation::Busy => Err(EngineError::Conflict(
                "another run of this program is being created".into(),
            )),
            RunCreation::Created { item_ids } => {
                let now = crate::store::now_ms();
                let view = RunView {
                    id: run.id.clone(),
                    program_id: run.program_id.clone(),
                    status: RunStatus::Draft,
                    trigger: "api".into(),
                    cutoff_ms,
                    approvals_required: plan.approvals_required,
                    approved_by: Vec::new(),
                    totals: totals(&plan.items),
                    dry_run: req.dry_run,
                    created_by: req.actor.clone(),
                    created_at_ms: now,
                    events: vec![("drafted".into(), req.actor.clone(), String::new(), now)],
                };
                let preview_items = if req.dry_run {
                    plan.items
                        .iter()
                        .zip(item_ids)
                        .map(|(p, id)| preview_item(&run, p, id, now))
                        .collect()
                } else {
                    Vec::new()
                };
                Ok(RunStarted {
                    run: if req.dry_run {
                        view
                    } else {
                        let stored = self.store.payout_run(&run.id).await?.ok_or_else(|| {
                            EngineError::Internal(format!("run {} vanished", run.id))
                        })?;
                        self.run_view(stored).await?
                    },
                    preview_items,
                    existed: false,
                })
            }
        }
    }

    /// Plan and write a run, retrying when a concurrent change to its entries made the
    /// database refuse it.
    async fn create_run(
        &self,
        run: &NewRun,
        settings: &Settings,
    ) -> Result<(RunCreation, RunPlan, Vec<PayableBalance>)> {
        let facts = self.run_facts(&run.program_id).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .store
                .create_run(run, |balances| plan_run(run, settings, &facts, balances))
                .await;
            match result {
                Err(e) if sp::is_retryable(&e) && attempt < RUN_ATTEMPTS => {
                    tracing::info!(run = %run.id, attempt, "payout run retried: {e}");
                    // Let the other writer finish (SQLite holds its lock until commit).
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt as u64)).await;
                }
                other => return Ok(other?),
            }
        }
    }

    /// A run as the API shows it.
    pub async fn payout_run(&self, scope: &Scope, id: &str) -> Result<RunView> {
        let run = self
            .store
            .payout_run(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("payout run {id}")))?;
        if !matches!(scope, Scope::Admin) {
            return Err(EngineError::NotFound(format!("payout run {id}")));
        }
        self.run_view(run).await
    }

    /// Runs, newest first (admin).
    pub async fn payout_runs(
        &self,
        program_id: Option<&str>,
        limit: i64,
        before: Option<(i64, String)>,
    ) -> Result<Vec<RunView>> {
        let mut out = Vec::new();
        for r in self
            .store
            .payout_runs(program_id, None, limit, before)
            .await?
        {
            out.push(self.run_view(r).await?);
        }
        Ok(out)
    }

    /// A stored run as the API shows it, its status derived from its events and items.
    pub(super) async fn run_view(&self, run: RunRecord) -> Result<RunView> {
        let drafted = run
            .events
            .iter()
            .find(|(e, ..)| e == "drafted")
            .map(|(_, _, note, _)| note.clone())
            .unwrap_or_default();
        let totals: Vec<CurrencyTotals> = serde_json::from_str(&drafted).unwrap_or_default();
        let all_closed = self.store.run_open_items(&run.id).await? == 0;
        Ok(RunView {
            status: run_status(&run, all_closed),
            approved_by: run
                .events
                .iter()
                .filter(|(e, ..)| e == "approval")
                .map(|(_, actor, ..)| actor.clone())
                .collect(),
            id: run.id,
            program_id: run.program_id,
            trigger: run.trigger,
            cutoff_ms: run.cutoff_ms,
            approvals_required: run.approvals_required,
            totals,
            dry_run: false,
            created_by: run.created_by,
            created_at_ms: run.created_at_ms,
            events: run.events,
        })
    }

    /// Items of a run, by id (admin).
    pub async fn payout_run_items(
        &self,
        run_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ItemRecord>> {
        self.store
            .payout_run(run_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("payout run {run_id}")))?;
        Ok(self
            .store
            .payout_items(Some(run_id), None, after, limit)
            .await?)
    }

    /// A partner's payout items, newest first: its own for a partner key.
    pub async fn partner_payouts(
        &self,
        scope: &Scope,
        partner_id: &str,
        limit: i64,
    ) -> Result<Vec<ItemRecord>> {
        self.visible_partner(scope, partner_id).await?;
        Ok(self
            .store
            .payout_items(None, Some(partner_id), None, limit)
            .await?)
    }

    /// Check that `scope` may see `partner_id`; another partner's is "not found".
    async fn visible_partner(&self, scope: &Scope, partner_id: &str) -> Result<()> {
        let visible = match scope {
            Scope::Admin => true,
            Scope::Partner(own) => own == partner_id,
            Scope::PluginAuthor(_) => {
                return Err(EngineError::Forbidden(
                    "a plug-in author key cannot read payouts".into(),
                ));
            }
        };
        if !visible {
            return Err(EngineError::NotFound(format!("partner {partner_id:?}")));
        }
        self.partner(partner_id).await?;
        Ok(())
    }

    /// One item, if `scope` may see it.
    pub async fn payout_item(&self, scope: &Scope, item_id: &str) -> Result<ItemRecord> {
        let item = self
            .store
            .payout_item(item_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("payout item {item_id}")))?;
        let visible = match scope {
            Scope::Admin => true,
            Scope::Partner(own) => *own == item.partner_id,
            Scope::PluginAuthor(_) => false,
        };
        if !visible {
            return Err(EngineError::NotFound(format!("payout item {item_id}")));
        }
        Ok(item)
    }

    /// An item's remittance statement as CSV: the item, then every entry it pays.
    pub async fn remittance_csv(&self, scope: &Scope, item_id: &str) -> Result<String> {
        let item = self.payout_item(scope, item_id).await?;
        let entries = self.store.item_entries(item_id).await?;
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        let status = ItemStatus::of(&item);
        let io = |e: csv::Error| EngineError::Internal(format!("remittance csv: {e}"));
        w.write_record([
            "item_id",
            "run_id",
            "partner_id",
            "currency",
            "gross",
            "withholding",
            "fee",
            "net",
            "status",
        ])
        .map_err(io)?;
        w.write_record([
            item.id.as_str(),
            &item.run_id,
            &item.partner_id,
            &item.currency,
            &item.gross.to_string(),
            &item.withholding.to_string(),
            &item.fee.to_string(),
            &item.net.to_string(),
            &format!("{status:?}").to_lowercase(),
        ])
        .map_err(io)?;
        w.write_record([
            "entry_id",
            "kind",
            "conversion_id",
            "amount",
            "created_at",
            "",
            "",
            "",
            "",
        ])
        .map_err(io)?;
        for (id, kind, conversion, amount, created) in entries {
            let at = chrono::DateTime::from_timestamp_millis(created)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default();
            w.write_record([
                id.to_string().as_str(),
                &kind,
                &accrue_payfiles::csv::escape_cell(conversion.as_deref().unwrap_or("")),
                &amount.to_string(),
                &at,
                "",
                "",
                "",
                "",
            ])
            .map_err(io)?;
        }
        String::from_utf8(
            w.into_inner()
                .map_err(|e| EngineError::Internal(e.to_string()))?,
        )
        .map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// An admin approves a run. A run whose total in some currency is above the
    /// program's second-approval amount needs two different admins.
    ///
    /// With the client's `key`, a retry by the same admin answers the first answer.
    pub async fn approve_payout_run(
        &self,
        run_id: &str,
        actor: &str,
        key: Option<&str>,
    ) -> Result<RunView> {
        let cmd = self
            .run_command(run_id, "approve-payout-run", key, actor, "")
            .await?;
        self.keyed(cmd, self.approve_once(run_id, actor), async || {
            let run = self.load_run(run_id).await?;
            if run
                .events
                .iter()
                .any(|(e, a, ..)| e == "approval" && a == actor)
            {
                Ok(Some(self.run_view(run).await?))
            } else {
                Ok(None)
            }
        })
        .await
    }

    /// A keyed command on a run (`None` without a key): its payload is the run, the
    /// actor and `detail`, so another admin's retry under the same key is a conflict.
    pub(super) async fn run_command(
        &self,
        run_id: &str,
        operation: &'static str,
        key: Option<&str>,
        actor: &str,
        detail: &str,
    ) -> Result<Option<super::idempotency::Command>> {
        let Some(key) = key else {
            return Ok(None);
        };
        let run = self.load_run(run_id).await?;
        let mut payload = crate::plugins::InputHasher::default();
        payload.str(run_id).str(actor).str(detail);
        Ok(Some(super::idempotency::Command::new(
            &run.program_id,
            &Scope::Admin,
            operation,
            key.to_owned(),
            payload,
        )))
    }

    async fn approve_once(&self, run_id: &str, actor: &str) -> Result<RunView> {
        let run = self.load_run(run_id).await?;
        match run_status(&run, false) {
            RunStatus::Draft => {}
            RunStatus::Approved => {
                return Err(EngineError::Conflict(format!(
                    "run {run_id} is approved already"
                )));
            }
            s => {
                return Err(EngineError::Conflict(format!(
                    "run {run_id} is {s:?} and cannot be approved"
                )));
            }
        }
        if run
            .events
            .iter()
            .any(|(e, a, ..)| e == "approval" && a == actor)
        {
            return Err(EngineError::Conflict(format!(
                "{actor} approved run {run_id} already: a second approval must come from another admin"
            )));
        }
        self.store
            .run_step(run_id, "approval", actor, "", &[])
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    EngineError::Conflict(format!("{actor} approved run {run_id} already"))
                }
                e => e.into(),
            })?;
        self.run_view(self.load_run(run_id).await?).await
    }

    /// Cancel a run before export: its items fail with the reason, their entries are
    /// payable again and their withholding and fees are undone.
    ///
    /// With the client's `key`, a retry answers the first answer.
    pub async fn cancel_payout_run(
        &self,
        run_id: &str,
        actor: &str,
        note: &str,
        key: Option<&str>,
    ) -> Result<RunView> {
        let cmd = self
            .run_command(run_id, "cancel-payout-run", key, actor, note)
            .await?;
        self.keyed(cmd, self.cancel_once(run_id, actor, note), async || {
            let run = self.load_run(run_id).await?;
            if run.events.iter().any(|(e, ..)| e == "cancelled") {
                Ok(Some(self.run_view(run).await?))
            } else {
                Ok(None)
            }
        })
        .await
    }

    async fn cancel_once(&self, run_id: &str, actor: &str, note: &str) -> Result<RunView> {
        let run = self.load_run(run_id).await?;
        match run_status(&run, false) {
            RunStatus::Draft | RunStatus::Approved => {}
            s => {
                return Err(EngineError::Conflict(format!(
                    "run {run_id} is {s:?}: only a run not yet exported can be cancelled"
                )));
            }
        }
        let items: Vec<(String, String)> = self
            .store
            .run_paying_items(run_id)
            .await?
            .into_iter()
            .map(|i| (i.id, format!("run cancelled: {note}")))
            .collect();
        // One transaction under the run's lock: a crash leaves the run either cancelled
        // with its items failed or untouched, and an export at the same time either
        // comes first (the cancellation is refused) or is refused.
        self.store
            .cancel_run(run_id, actor, note, &items)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => EngineError::Conflict(m),
                e => e.into(),
            })?;
        self.run_view(self.load_run(run_id).await?).await
    }

    pub(super) async fn load_run(&self, run_id: &str) -> Result<RunRecord> {
        self.store
            .payout_run(run_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("payout run {run_id}")))
    }

    /// Record outcomes on a run's items (over the API or from bank feedback). Each must
    /// be possible now: `sent`, `paid` or `failed` after export and before a final
    /// outcome, `returned` after `paid`; an outcome the item has already is unchanged.
    ///
    /// With the client's `key`, a retry answers the first report.
    pub async fn record_payout_outcomes_keyed(
        &self,
        run_id: &str,
        actor: &str,
        outcomes: &[ItemOutcome],
        key: Option<&str>,
    ) -> Result<FeedbackReport> {
        let detail: Vec<String> = outcomes
            .iter()
            .map(|o| format!("{}\t{}\t{}", o.item_id, o.outcome.as_str(), o.reason))
            .collect();
        let cmd = self
            .run_command(run_id, "payout-outcome", key, actor, &detail.join("\n"))
            .await?;
        self.keyed(
            cmd,
            self.record_payout_outcomes(run_id, actor, outcomes),
            async || Ok(None),
        )
        .await
    }

    /// Record outcomes without a client key (bank feedback, tests).
    pub async fn record_payout_outcomes(
        &self,
        run_id: &str,
        actor: &str,
        outcomes: &[ItemOutcome],
    ) -> Result<FeedbackReport> {
        let run = self.load_run(run_id).await?;
        let exported = matches!(
            run_status(&run, false),
            RunStatus::Exported | RunStatus::Completed
        );
        let mut report = FeedbackReport::default();
        // Per outcome: the item ids and reasons that get it.
        type Asked = (ItemOutcomeKind, Vec<(String, String)>);
        let mut by_outcome: BTreeMap<&'static str, Asked> = BTreeMap::new();
        let ids: Vec<String> = outcomes.iter().map(|o| o.item_id.clone()).collect();
        let items: HashMap<String, ItemRecord> = self
            .store
            .payout_items_by_id(&ids)
            .await?
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect();
        for o in outcomes {
            let Some(item) = items.get(&o.item_id).filter(|i| i.run_id == run_id) else {
                report
                    .rejected
                    .push((o.item_id.clone(), "no such item in this run".into()));
                continue;
            };
            let status = ItemStatus::of(item);
            let has = |e: &str| item.events.iter().any(|(ev, ..)| ev == e);
            if has(o.outcome.as_str()) {
                report.unchanged.push(o.item_id.clone());
                continue;
            }
            let allowed = match o.outcome {
                ItemOutcomeKind::Sent | ItemOutcomeKind::Paid | ItemOutcomeKind::Failed => {
                    exported && matches!(status, ItemStatus::Pending | ItemStatus::Sent)
                }
                ItemOutcomeKind::Returned => status == ItemStatus::Paid,
            };
            if !allowed {
                report.rejected.push((
                    o.item_id.clone(),
                    format!(
                        "item is {} (run {:?}): it cannot become {}",
                        format!("{status:?}").to_lowercase(),
                        run_status(&run, false),
                        o.outcome.as_str()
                    ),
                ));
                continue;
            }
            by_outcome
                .entry(o.outcome.as_str())
                .or_insert((o.outcome, Vec::new()))
                .1
                .push((o.item_id.clone(), o.reason.clone()));
        }
        // Sent before paid before failed before returned: one report may carry several.
        for name in ["sent", "paid", "failed", "returned"] {
            if let Some((outcome, list)) = by_outcome.remove(name) {
                let done = self
                    .store
                    .record_item_outcomes(outcome, actor, &list)
                    .await?;
                let lost: Vec<String> = list
                    .iter()
                    .filter(|(id, _)| done.binary_search(id).is_err())
                    .map(|(id, _)| id.clone())
                    .collect();
                // Not done: it got this outcome meanwhile (unchanged), or another one
                // that excludes it (rejected).
                let now: HashMap<String, ItemRecord> = self
                    .store
                    .payout_items_by_id(&lost)
                    .await?
                    .into_iter()
                    .map(|i| (i.id.clone(), i))
                    .collect();
                for (id, _) in &list {
                    if done.binary_search(id).is_ok() {
                        report.applied.push(id.clone());
                    } else if now
                        .get(id)
                        .is_some_and(|i| i.events.iter().any(|(ev, ..)| ev == name))
                    {
                        report.unchanged.push(id.clone());
                    } else {
                        report.rejected.push((
                            id.clone(),
                            format!("item took another outcome meanwhile: it cannot become {name}"),
                        ));
                    }
                }
            }
        }
        Ok(report)
    }

    /// Year-end tax data of a program as CSV: `1099-nec` (US payees, W-9, paid at least
    /// the threshold in USD: the schedule's `nec_threshold`, else the year's statutory one)
    /// or `1042-s` (foreign payees with tax withheld).
    pub async fn tax_year_report(&self, program_id: &str, year: i32, form: &str) -> Result<String> {
        self.path_program(program_id).await?;
        let (from, to) = crate::domain::payout::year_bounds_ms(year)
            .ok_or_else(|| invalid("tax-year-invalid", format!("{year} is not a year")))?;
        let totals = self.store.paid_totals(program_id, from, to).await?;
        let facts = self.store.tax_facts(program_id).await?;
        let partners: HashMap<String, crate::store::PartnerRecord> = self
            .store
            .partners_by_id(&totals.iter().map(|t| t.0.clone()).collect::<Vec<_>>())
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let io = |e: csv::Error| EngineError::Internal(format!("tax csv: {e}"));
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        match form {
            "1099-nec" => {
                let threshold = self
                    .payout_schedule(program_id)
                    .await?
                    .and_then(|s| s.settings.nec_threshold)
                    .unwrap_or_else(|| crate::domain::payout::nec_threshold(year));
                w.write_record([
                    "tax_year",
                    "partner_id",
                    "name",
                    "country",
                    "tin_on_file",
                    "currency",
                    "box1_nonemployee_compensation",
                    "box4_federal_income_tax_withheld",
                ])
                .map_err(io)?;
                for (partner, currency, gross, withholding, _, _) in &totals {
                    let Some(f) = facts.get(partner) else {
                        continue;
                    };
                    if f.form != crate::domain::payout::TaxForm::W9
                        || currency != "USD"
                        || *gross < threshold
                    {
                        continue;
                    }
                    let name = partners.get(partner).and_then(|p| p.name.clone());
                    w.write_record([
                        year.to_string().as_str(),
                        partner,
                        &accrue_payfiles::csv::escape_cell(name.as_deref().unwrap_or("")),
                        &f.country,
                        if f.tin_on_file { "true" } else { "false" },
                        currency,
                        &gross.to_string(),
                        &withholding.to_string(),
                    ])
                    .map_err(io)?;
                }
            }
            "1042-s" => {
                w.write_record([
                    "tax_year",
                    "partner_id",
                    "name",
                    "country",
                    "form",
                    "income_code",
                    "currency",
                    "gross_income",
                    "tax_withheld",
                    "treaty_rate",
                ])
                .map_err(io)?;
                for (partner, currency, gross, withholding, _, _) in &totals {
                    let Some(f) = facts.get(partner) else {
                        continue;
                    };
                    if f.form == crate::domain::payout::TaxForm::W9 || withholding.is_zero() {
                        continue;
                    }
                    let name = partners.get(partner).and_then(|p| p.name.clone());
                    w.write_record([
                        year.to_string().as_str(),
                        partner,
                        &accrue_payfiles::csv::escape_cell(name.as_deref().unwrap_or("")),
                        &f.country,
                        f.form.as_str(),
                        // 17: compensation for independent personal services.
                        "17",
                        currency,
                        &gross.to_string(),
                        &withholding.to_string(),
                        &f.treaty_rate.map(|r| r.to_string()).unwrap_or_default(),
                    ])
                    .map_err(io)?;
                }
            }
            other => {
                return Err(invalid(
                    "tax-form-report-invalid",
                    format!("{other:?}: expected 1099-nec or 1042-s"),
                ));
            }
        }
        String::from_utf8(
            w.into_inner()
                .map_err(|e| EngineError::Internal(e.to_string()))?,
        )
        .map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// Notices recorded for a program (or one partner): `(kind, partner, subject,
    /// detail, created ms)`.
    pub async fn notices(
        &self,
        program_id: &str,
        partner_id: Option<&str>,
    ) -> Result<Vec<(String, Option<String>, String, String, i64)>> {
        self.path_program(program_id).await?;
        Ok(self.store.notices(program_id, partner_id).await?)
    }

    /// A program named in a request's path: a missing one is "not found" (404), as any
    /// missing resource of a path, not an unknown reference in a body (422).
    async fn path_program(&self, program_id: &str) -> Result<()> {
        match self.program(program_id).await {
            Ok(_) => Ok(()),
            Err(EngineError::UnknownProgram(_)) => {
                Err(EngineError::NotFound(format!("program {program_id:?}")))
            }
            Err(e) => Err(e),
        }
    }

    /// What a run needs to know of a program's partners, read before its transaction.
    async fn run_facts(&self, program_id: &str) -> Result<RunFacts> {
        Ok(RunFacts {
            destinations: self
                .store
                .payout_method_rows(program_id)
                .await?
                .into_iter()
                .map(|r| {
                    (
                        r.partner_id,
                        ItemDestination {
                            method: r.method,
                            sealed: r.sealed,
                            masked: r.masked,
                            holder_name: r.holder_name,
                            party_kind: r.party_kind,
                        },
                    )
                })
                .collect(),
            tax: self.store.tax_facts(program_id).await?,
            rules: self.store.withholding_rules(program_id).await?,
        })
    }
}

/// Partners' destinations, tax facts and the program's withholding rules.
struct RunFacts {
    destinations: HashMap<String, ItemDestination>,
    tax: HashMap<String, TaxFacts>,
    rules: Vec<WithholdingRule>,
}

/// A run id: `PR` and 16 upper-case hex digits, within what every payment file's
/// identifiers take (the EPC character set, NACHA's upper case).
fn new_run_id() -> String {
    format!("PR{}", crate::ids::random_token(8).to_uppercase())
}

/// Decide every balance of a run: pay (with withholding and fee), hold (no tax form, no
/// usable method) or carry over (zero, negative, below the minimum).
fn plan_run(
    run: &NewRun,
    settings: &Settings,
    facts: &RunFacts,
    balances: &[PayableBalance],
) -> std::result::Result<RunPlan, String> {
    let mut items = Vec::new();
    let mut run_totals: BTreeMap<String, Decimal> = BTreeMap::new();
    for b in balances {
        let currency = Currency::parse(&b.currency).map_err(|e| e.to_string())?;
        let rule = settings.rule(&b.currency);
        // Whether anything would be paid at all, before looking at forms and methods: a
        // balance that carries over needs neither.
        if let Decision::Carry { .. } = decide(b.balance, currency, &rule, Decimal::ZERO) {
            continue;
        }
        let hold = |reason: String, notice: Option<(String, String, String)>| ItemPlan {
            balance: b.clone(),
            amounts: None,
            hold_reason: Some(reason),
            destination: None,
            withholding_rule: None,
            notice,
        };
        let Some(tax) = facts.tax.get(&b.partner_id) else {
            items.push(hold(
                "no tax form on file".into(),
                Some((
                    "tax_form.required".into(),
                    format!("{}/{}", run.id, b.partner_id),
                    serde_json::json!({
                        "run_id": run.id,
                        "partner_id": b.partner_id,
                        "currency": b.currency,
                        "amount_held": currency.scaled(b.balance).to_string(),
                    })
                    .to_string(),
                )),
            ));
            continue;
        };
        let Some(dest) = facts.destinations.get(&b.partner_id) else {
            items.push(hold("no payout method on file".into(), None));
            continue;
        };
        if !settings.allows(&dest.method) {
            items.push(hold(
                format!("the program does not pay by {}", dest.method),
                None,
            ));
            continue;
        }
        if !method_pays(&dest.method, &dest.masked, &b.currency) {
            items.push(hold(
                format!(
                    "the payout method ({}) cannot pay {}",
                    dest.method, b.currency
                ),
                None,
            ));
            continue;
        }
        let applied: AppliedRule = withholding_rate(&facts.rules, tax, run.cutoff_ms);
        match decide(b.balance, currency, &rule, applied.rate) {
            Decision::Carry { .. } => continue,
            Decision::Pay(amounts) => {
                *run_totals.entry(b.currency.clone()).or_default() += amounts.gross;
                items.push(ItemPlan {
                    balance: b.clone(),
                    amounts: Some(amounts),
                    hold_reason: None,
                    destination: Some(dest.clone()),
                    withholding_rule: serde_json::to_string(&applied).ok(),
                    notice: None,
                });
            }
        }
    }
    Ok(RunPlan {
        approvals_required: settings.approvals_required(&run_totals),
        summary: serde_json::to_string(&totals(&items)).unwrap_or_default(),
        items,
    })
}

/// Whether a destination of `method` (masked view, which keeps the currency of a wire)
/// can pay `currency`: SEPA pays EUR, ACH USD, a wire its account's currency; PayPal and
/// Wise were checked against the partner's payout currency when the method was set.
fn method_pays(method: &str, masked: &str, currency: &str) -> bool {
    match method {
        "sepa" => currency == "EUR",
        "ach" => currency == "USD",
        "wire" => serde_json::from_str::<serde_json::Value>(masked)
            .ok()
            .and_then(|v| {
                v.get("currency")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned)
            })
            .is_none_or(|c| c == currency),
        _ => true,
    }
}

/// A dry run's item, as it would be stored.
fn preview_item(run: &NewRun, p: &ItemPlan, id: String, now: i64) -> ItemRecord {
    // A held item's figures in its currency's decimals, as the stored item reads back.
    let scaled = |v: Decimal| crate::domain::money::scaled_to(v, &p.balance.currency);
    let a = p.amounts.unwrap_or(crate::domain::payout::Amounts {
        gross: scaled(p.balance.balance),
        withholding: scaled(Decimal::ZERO),
        fee: scaled(Decimal::ZERO),
        net: scaled(Decimal::ZERO),
    });
    ItemRecord {
        id,
        run_id: run.id.clone(),
        program_id: run.program_id.clone(),
        partner_id: p.balance.partner_id.clone(),
        currency: p.balance.currency.clone(),
        gross: a.gross,
        withholding: a.withholding,
        fee: a.fee,
        net: a.net,
        method: p.destination.as_ref().map(|d| d.method.clone()),
        destination: None,
        masked: p.destination.as_ref().map(|d| d.masked.clone()),
        holder_name: p.destination.as_ref().map(|d| d.holder_name.clone()),
        party_kind: p.destination.as_ref().map(|d| d.party_kind.clone()),
        withholding_rule: p.withholding_rule.clone(),
        hold_reason: p.hold_reason.clone(),
        entry_count: if p.amounts.is_some() {
            p.balance.entries
        } else {
            0
        },
        created_at_ms: now,
        events: Vec::new(),
    }
}
