//! A run's payment files (SEPA and wire `pain.001.001.09`, NACHA, PayPal and Wise CSV)
//! and the bank's answers to them (`pain.002` status reports, NACHA return lists).
//!
//! The files are written by the `accrue-payfiles` crate from the run's stored items, with
//! every time and identifier taken from the run (its id, the instant of its last
//! approval), so the same run always gives the same bytes. They are stored with the
//! `exported` event in one transaction: a run is exported once.

use super::payouts::{FeedbackReport, ItemOutcome, ItemStatus, RunStatus};
use super::{Engine, EngineError, Result};
use crate::domain::payout::{Payer, Settings};
use crate::store::payouts::{FileRecord, ItemOutcomeKind, ItemRecord, NewFile};
use accrue_payfiles::feedback::{ItemKey, Outcome};
use accrue_payfiles::{Item, Method, PartyKind};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};

/// Media type of `pain.001` files.
const XML: &str = "application/xml";
/// Media type of the CSV files.
const CSV: &str = "text/csv";
/// Media type of NACHA files (fixed-width text).
const NACHA: &str = "text/plain";

fn invalid(kind: &'static str, message: impl Into<String>) -> EngineError {
    EngineError::Invalid {
        kind,
        message: message.into(),
    }
}

/// What bank feedback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackFormat {
    /// An ISO 20022 `pain.002` payment status report.
    Pain002,
    /// A NACHA return list (CSV with `return_code` and `trace_number` or
    /// `individual_id`).
    NachaReturns,
}

impl Engine {
    /// Export an approved run: fail the items that hold an entry frozen since the draft
    /// (a frozen or disputed entry is never paid; their other entries are payable again),
    /// write the files, store them and the `exported` event.
    ///
    /// With the client's `key`, a retry answers the first answer (the files are the same
    /// whenever they are listed).
    pub async fn export_payout_run(
        &self,
        run_id: &str,
        actor: &str,
        key: Option<&str>,
    ) -> Result<Vec<FileRecord>> {
        let cmd = self
            .run_command(run_id, "export-payout-run", key, actor, "")
            .await?;
        self.keyed(cmd, self.export_with_retries(run_id, actor), async || {
            let run = self.load_run(run_id).await?;
            if run.events.iter().any(|(e, ..)| e == "exported") {
                Ok(Some(self.store.payout_files(run_id).await?))
            } else {
                Ok(None)
            }
        })
        .await
    }

    async fn export_with_retries(&self, run_id: &str, actor: &str) -> Result<Vec<FileRecord>> {
        // A dispute opened while the files were being written makes the store refuse
        // them; the next attempt fails that item first.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.export_once(run_id, actor).await {
                Err(EngineError::Store(crate::store::StoreError::Conflict(reason)))
                    if attempt < 3 =>
                {
                    tracing::info!(run = %run_id, attempt, "export asked again: {reason}");
                }
                Err(EngineError::Store(crate::store::StoreError::Conflict(_))) => {
                    return Err(EngineError::Conflict(format!(
                        "run {run_id} is exported already, or its entries keep changing"
                    )));
                }
                other => return other,
            }
        }
    }

    async fn export_once(&self, run_id: &str, actor: &str) -> Result<Vec<FileRecord>> {
        let run = self.load_run(run_id).await?;
        let status = self.run_view(run.clone()).await?.status;
        match status {
            RunStatus::Approved => {}
            RunStatus::Draft => {
                return Err(EngineError::Conflict(format!(
                    "run {run_id} needs {} admin approval(s) before export",
                    run.approvals_required
                )));
            }
            s => {
                return Err(EngineError::Conflict(format!(
                    "run {run_id} is {} and cannot be exported",
                    format!("{s:?}").to_lowercase()
                )));
            }
        }
        let frozen = self.store.run_items_with_frozen_entries(run_id).await?;
        if !frozen.is_empty() {
            let list: Vec<(String, String)> = frozen
                .iter()
                .map(|i| {
                    (
                        i.clone(),
                        "an entry it pays was disputed after the run was drafted".to_owned(),
                    )
                })
                .collect();
            self.store
                .record_item_outcomes(ItemOutcomeKind::Failed, actor, &list)
                .await?;
        }
        let settings = self
            .payout_schedule(&run.program_id)
            .await?
            .map(|s| s.settings)
            .unwrap_or_default();
        let approved_at = run
            .events
            .iter()
            .filter(|(e, ..)| e == "approval")
            .map(|(.., at)| *at)
            .max()
            .unwrap_or(run.created_at_ms);
        let items: Vec<ItemRecord> = self
            .store
            .run_paying_items(run_id)
            .await?
            .into_iter()
            .filter(|i| ItemStatus::of(i) == ItemStatus::Pending)
            .collect();
        let mut payable = Vec::with_capacity(items.len());
        for i in &items {
            payable.push(self.file_item(run_id, i).await?);
        }
        let files = write_files(run_id, approved_at, &settings, &payable)?;
        self.store
            .run_step(run_id, "exported", actor, "", &files)
            .await?;
        Ok(self.store.payout_files(run_id).await?)
    }

    /// An item as the file writers take it, its destination opened.
    pub(super) async fn file_item(&self, run_id: &str, i: &ItemRecord) -> Result<Item> {
        let sealed = i.destination.as_deref().ok_or_else(|| {
            EngineError::Internal(format!("item {} of run {run_id} has no destination", i.id))
        })?;
        let method: Method = self.open_destination(&i.partner_id, sealed).await?;
        Ok(Item {
            id: i.id.clone(),
            name: i
                .holder_name
                .clone()
                .unwrap_or_else(|| i.partner_id.clone()),
            kind: if i.party_kind.as_deref() == Some("company") {
                PartyKind::Company
            } else {
                PartyKind::Individual
            },
            method,
            amount: i.net,
            currency: i.currency.clone(),
            reference: format!("Commission payout {run_id}"),
            execution_date: None,
        })
    }

    /// The files of a run (without their content).
    pub async fn payout_run_files(&self, run_id: &str) -> Result<Vec<FileRecord>> {
        self.load_run(run_id).await?;
        Ok(self.store.payout_files(run_id).await?)
    }

    /// One file with its content.
    pub async fn payout_run_file(&self, run_id: &str, name: &str) -> Result<FileRecord> {
        self.load_run(run_id).await?;
        self.store
            .payout_file(run_id, name)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("file {name:?} of run {run_id}")))
    }

    /// Apply a bank's feedback on a run's files: each item the report names becomes
    /// paid, failed or returned; items it leaves undecided are listed as pending.
    ///
    /// With the client's `key`, a retry answers the first report (without one, a report
    /// sent again answers its outcomes as unchanged).
    pub async fn apply_bank_feedback(
        &self,
        run_id: &str,
        format: FeedbackFormat,
        content: &str,
        actor: &str,
        key: Option<&str>,
    ) -> Result<FeedbackReport> {
        let detail = format!("{format:?}\n{content}");
        let cmd = self
            .run_command(run_id, "payout-feedback", key, actor, &detail)
            .await?;
        self.keyed(
            cmd,
            self.apply_feedback_once(run_id, format, content, actor),
            async || Ok(None),
        )
        .await
    }

    async fn apply_feedback_once(
        &self,
        run_id: &str,
        format: FeedbackFormat,
        content: &str,
        actor: &str,
    ) -> Result<FeedbackReport> {
        self.load_run(run_id).await?;
        let feedback_error = |e: accrue_payfiles::feedback::FeedbackError| {
            invalid("bank-feedback-invalid", e.to_string())
        };
        let mut outcomes = Vec::new();
        let mut pending = Vec::new();
        let mut rejected = Vec::new();
        let items: HashMap<String, ItemRecord> = self
            .store
            .run_paying_items(run_id)
            .await?
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect();
        match format {
            FeedbackFormat::Pain002 => {
                let report =
                    accrue_payfiles::feedback::parse_pain002(content).map_err(feedback_error)?;
                let files = self.store.payout_files(run_id).await?;
                let message_ids: Vec<String> = files
                    .iter()
                    .filter(|f| f.media_type == XML)
                    .map(|f| message_id(run_id, &f.format, &f.currency))
                    .collect();
                if !message_ids.contains(&report.original_message_id) {
                    return Err(invalid(
                        "bank-feedback-mismatch",
                        format!(
                            "the report is about message {:?}, which is not a file of run {run_id} ({message_ids:?})",
                            report.original_message_id
                        ),
                    ));
                }
                let Some(file) = files.iter().find(|f| {
                    f.media_type == XML
                        && message_id(run_id, &f.format, &f.currency) == report.original_message_id
                }) else {
                    return Err(EngineError::Internal("message id vanished".into()));
                };
                // The report speaks of that file's payments only.
                let in_file = self.store.file_item_ids(run_id, &file.name).await?;
                for o in &report.items {
                    let ItemKey::EndToEndId(id) = &o.key else {
                        continue;
                    };
                    if in_file.binary_search(id).is_err() {
                        rejected.push((id.clone(), format!("not a payment of {}", file.name)));
                        continue;
                    }
                    push_outcome(&mut outcomes, &mut pending, id, &o.outcome, items.get(id));
                }
                // A whole-message status without transaction details decides every item of
                // that file that is still undecided.
                if report.items.is_empty()
                    && let Some(group) = &report.group
                {
                    for id in &in_file {
                        if let Some(i) = items.get(id).filter(|i| {
                            matches!(ItemStatus::of(i), ItemStatus::Pending | ItemStatus::Sent)
                        }) {
                            push_outcome(&mut outcomes, &mut pending, &i.id, group, Some(i));
                        }
                    }
                }
            }
            FeedbackFormat::NachaReturns => {
                for o in accrue_payfiles::feedback::parse_nacha_returns(content)
                    .map_err(feedback_error)?
                {
                    let id = match &o.key {
                        ItemKey::TraceNumber(t) => match self.store.item_by_trace(run_id, t).await?
                        {
                            Some(id) => id,
                            None => {
                                outcomes.push(ItemOutcome {
                                    item_id: format!("trace:{t}"),
                                    outcome: ItemOutcomeKind::Failed,
                                    reason: String::new(),
                                });
                                continue;
                            }
                        },
                        ItemKey::IndividualId(id) | ItemKey::EndToEndId(id) => id.clone(),
                    };
                    push_outcome(&mut outcomes, &mut pending, &id, &o.outcome, items.get(&id));
                }
            }
        }
        let mut report = self
            .record_payout_outcomes(run_id, actor, &outcomes)
            .await?;
        report.pending = pending;
        report.rejected.extend(rejected);
        Ok(report)
    }
}

/// The outcome feedback gives an item: accepted → paid; rejected → failed; a NACHA
/// return → returned when the item was paid, failed when it was not marked paid yet.
fn push_outcome(
    outcomes: &mut Vec<ItemOutcome>,
    pending: &mut Vec<String>,
    id: &str,
    outcome: &Outcome,
    item: Option<&ItemRecord>,
) {
    let (kind, reason) = match outcome {
        Outcome::Accepted { status } => (ItemOutcomeKind::Paid, format!("bank status {status}")),
        Outcome::Pending { .. } => {
            pending.push(id.to_owned());
            return;
        }
        Outcome::Rejected { reason, detail } => (
            ItemOutcomeKind::Failed,
            format!(
                "rejected by the bank: {}{}",
                reason.as_deref().unwrap_or("no reason given"),
                detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
        ),
        Outcome::Returned { code, meaning } => {
            // Paid once (and returned already, for a list sent again): a return. A
            // return of an item never paid is its failure.
            let paid = item.is_some_and(|i| {
                matches!(ItemStatus::of(i), ItemStatus::Paid | ItemStatus::Returned)
            });
            (
                if paid {
                    ItemOutcomeKind::Returned
                } else {
                    ItemOutcomeKind::Failed
                },
                format!("returned {code}: {meaning}"),
            )
        }
    };
    outcomes.push(ItemOutcome {
        item_id: id.to_owned(),
        outcome: kind,
        reason,
    });
}

/// The `MsgId` of a run's `pain.001` file: the run id and `S` for SEPA, `W` and the
/// currency for a wire file (one per currency), within the EPC character set.
fn message_id(run_id: &str, format: &str, currency: &str) -> String {
    if format == "wire" {
        format!("{run_id}-W{currency}")
    } else {
        format!("{run_id}-S")
    }
}

fn payer<'a>(settings: &'a Settings, what: &str) -> Result<&'a Payer> {
    settings.payer.as_ref().ok_or_else(|| {
        invalid(
            "payout-payer-missing",
            format!("the program's payout schedule names no payer, needed for {what} files"),
        )
    })
}

fn write_error(e: accrue_payfiles::WriteError) -> EngineError {
    invalid("payout-file-invalid", e.to_string())
}

/// A file's format and media type.
#[derive(Clone, Copy)]
struct Kind<'a> {
    format: &'a str,
    media_type: &'a str,
}

/// One stored file from its bytes.
fn file(
    run_id: &str,
    name: String,
    kind: Kind<'_>,
    currency: &str,
    items: Vec<(String, Option<String>)>,
    total: Decimal,
    content: Vec<u8>,
) -> NewFile {
    NewFile {
        file: FileRecord {
            run_id: run_id.to_owned(),
            name,
            format: kind.format.to_owned(),
            media_type: kind.media_type.to_owned(),
            currency: currency.to_owned(),
            item_count: items.len() as i64,
            total,
            sha256: hex::encode(sha2::Sha256::digest(&content)),
            content,
            created_at_ms: 0,
        },
        items,
    }
}

/// A stored CSV file of `items`' rows in `f`, its total summed from them.
fn csv_file(
    run_id: &str,
    name: String,
    format: &str,
    f: accrue_payfiles::csv::CsvFile,
    items: &[Item],
) -> NewFile {
    let ids: std::collections::HashSet<&str> = f.item_ids.iter().map(String::as_str).collect();
    let total = items
        .iter()
        .filter(|i| ids.contains(i.id.as_str()))
        .map(|i| i.amount)
        .sum();
    file(
        run_id,
        name,
        Kind {
            format,
            media_type: CSV,
        },
        &f.currency,
        f.item_ids.iter().map(|i| (i.clone(), None)).collect(),
        total,
        f.content,
    )
}

/// Write every file of a run from its items, grouped by format.
pub(super) fn write_files(
    run_id: &str,
    approved_at_ms: i64,
    settings: &Settings,
    items: &[Item],
) -> Result<Vec<NewFile>> {
    let created: DateTime<Utc> = DateTime::from_timestamp_millis(approved_at_ms)
        .ok_or_else(|| EngineError::Internal(format!("instant {approved_at_ms}")))?;
    let mut by_format: BTreeMap<&str, Vec<Item>> = BTreeMap::new();
    for i in items {
        let format = match i.method {
            Method::Sepa { .. } => "sepa",
            Method::Wire { .. } => "wire",
            Method::Ach { .. } => "nacha",
            Method::PayPal { .. } => "paypal",
            Method::Wise { .. } => "wise",
        };
        by_format.entry(format).or_default().push(i.clone());
    }
    let total_of = |items: &[Item]| items.iter().map(|i| i.amount).sum::<Decimal>();
    let mut files = Vec::new();
    for (format, list) in by_format {
        match format {
            "sepa" | "wire" => {
                let p = payer(settings, "SEPA and wire")?;
                let iban = p.iban.clone().ok_or_else(|| {
                    invalid("payout-payer-missing", "the payer has no IBAN to debit")
                })?;
                // One message per currency: a file's total is in one currency, and a
                // status report names the message it answers.
                let mut by_currency: BTreeMap<String, Vec<Item>> = BTreeMap::new();
                for i in &list {
                    by_currency
                        .entry(i.currency.clone())
                        .or_default()
                        .push(i.clone());
                }
                for (currency, group) in by_currency {
                    let batch = accrue_payfiles::sepa::Batch {
                        message_id: message_id(run_id, format, &currency),
                        created_at: created,
                        execution_date: created.date_naive(),
                        debtor: accrue_payfiles::sepa::Party {
                            name: p.name.clone(),
                            iban: iban.clone(),
                            bic: p.bic.clone(),
                        },
                        items: group.clone(),
                    };
                    let bytes = accrue_payfiles::sepa::write(&batch).map_err(write_error)?;
                    let name = if format == "sepa" {
                        format!("{run_id}-sepa.xml")
                    } else {
                        format!("{run_id}-wire-{currency}.xml")
                    };
                    files.push(file(
                        run_id,
                        name,
                        Kind {
                            format,
                            media_type: XML,
                        },
                        &currency,
                        group.iter().map(|i| (i.id.clone(), None)).collect(),
                        total_of(&group),
                        bytes,
                    ));
                }
            }
            "nacha" => {
                let a = payer(settings, "NACHA")?.ach.clone().ok_or_else(|| {
                    invalid(
                        "payout-payer-missing",
                        "the payer has no ACH origination details",
                    )
                })?;
                let written = accrue_payfiles::nacha::write(&accrue_payfiles::nacha::File {
                    immediate_destination: a.immediate_destination,
                    immediate_destination_name: a.immediate_destination_name,
                    immediate_origin: a.immediate_origin,
                    immediate_origin_name: a.immediate_origin_name,
                    created_at: created.naive_utc(),
                    file_id_modifier: 'A',
                    reference_code: String::new(),
                    company_name: a.company_name,
                    company_id: a.company_id,
                    odfi_routing: a.odfi_routing,
                    entry_description: a.entry_description,
                    effective_date: created.date_naive(),
                    items: list.clone(),
                })
                .map_err(write_error)?;
                files.push(file(
                    run_id,
                    format!("{run_id}-nacha.ach"),
                    Kind {
                        format,
                        media_type: NACHA,
                    },
                    "USD",
                    written
                        .trace_numbers
                        .into_iter()
                        .map(|t| (t.item_id, Some(t.trace_number)))
                        .collect(),
                    total_of(&list),
                    written.text.into_bytes(),
                ));
            }
            "paypal" => {
                for f in accrue_payfiles::csv::paypal(&list).map_err(write_error)? {
                    let name = format!("{run_id}-paypal-{}-{}.csv", f.currency, f.part);
                    files.push(csv_file(run_id, name, format, f, &list));
                }
            }
            _ => {
                let source = settings
                    .payer
                    .as_ref()
                    .and_then(|p| p.wise_source_currency.clone());
                let mut by_currency: BTreeMap<String, Vec<Item>> = BTreeMap::new();
                for i in &list {
                    by_currency
                        .entry(source.clone().unwrap_or_else(|| i.currency.clone()))
                        .or_default()
                        .push(i.clone());
                }
                for (source, group) in by_currency {
                    for f in accrue_payfiles::csv::wise(&group, &source).map_err(write_error)? {
                        let name = format!("{run_id}-{}-{}-{}.csv", f.template, f.currency, f.part);
                        files.push(csv_file(run_id, name, format, f, &group));
                    }
                }
            }
        }
    }
    Ok(files)
}
