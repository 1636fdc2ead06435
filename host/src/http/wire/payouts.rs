//! Payout schedules, runs, items, files, bank feedback and notices.

use super::programs::CurrencyCode;
use super::text::NonBlank;
use super::{Amount, DecimalAnswer, Id, Instant, Text, format_time};
use crate::domain::payout::{AchOrigin, CurrencyRule, Frequency, Payer, Settings};
use crate::engine::{CurrencyTotals, FeedbackReport, ItemStatus, RunStatus, RunView, Schedule};
use crate::store::payouts::{FileRecord, ItemOutcomeKind, ItemRecord};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// How often a program pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FrequencyText {
    /// Every week on `day` (1 = Monday … 7 = Sunday).
    Weekly,
    /// Every month on `day` (1 … 28).
    Monthly,
}

/// What a program applies to payments in one currency.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrencyRuleIn {
    /// Below this balance nothing is paid: it carries over.
    #[schema(value_type = super::decimal::Amount)]
    pub minimum: Amount,
    /// A payment whose gross is below this pays `fee`.
    #[schema(value_type = Option<super::decimal::Amount>)]
    pub fee_below: Option<Amount>,
    /// The fee (below the minimum).
    #[schema(value_type = Option<super::decimal::Amount>)]
    pub fee: Option<Amount>,
}

/// A payout method's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MethodName {
    /// SEPA credit transfer.
    Sepa,
    /// US ACH.
    Ach,
    /// International wire.
    Wire,
    /// PayPal Payouts.
    Paypal,
    /// Wise.
    Wise,
}

impl MethodName {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sepa => "sepa",
            Self::Ach => "ach",
            Self::Wire => "wire",
            Self::Paypal => "paypal",
            Self::Wise => "wise",
        }
    }
}

/// NACHA origination details.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AchOriginIn {
    /// Routing number of the bank the file goes to (9 digits).
    pub immediate_destination: Text<9>,
    /// That bank's name.
    pub immediate_destination_name: Text<23>,
    /// The sender as the bank assigned it.
    pub immediate_origin: Text<10>,
    /// The sender's name.
    pub immediate_origin_name: Text<23>,
    /// Company name shown to payees.
    pub company_name: Text<16>,
    /// Company identification (often `1` and the EIN).
    pub company_id: Text<10>,
    /// The originating bank's routing number.
    pub odfi_routing: Text<9>,
    /// Entry description shown to payees.
    pub entry_description: Text<10>,
}

/// Who pays: the accounts the payment files debit.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayerIn {
    /// The company's name as its bank knows it.
    pub name: NonBlank<140>,
    /// The IBAN SEPA transfers and wires are debited from.
    pub iban: Option<Text<42>>,
    /// That bank's BIC.
    pub bic: Option<Text<11>>,
    /// NACHA origination details, for ACH files.
    pub ach: Option<AchOriginIn>,
    /// The currency Wise batches are funded in (default: each payment's).
    pub wise_source_currency: Option<CurrencyCode>,
}

/// `PUT /v1/programs/{id}/payout-schedule`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleIn {
    /// Weekly or monthly.
    pub frequency: FrequencyText,
    /// Weekday (1 = Monday … 7 = Sunday) or day of month (1 … 28).
    #[schema(value_type = super::number::PayDay)]
    pub day: super::number::PayDay,
    /// The minimum payout of currencies not listed in `currencies`.
    #[schema(value_type = Option<super::decimal::Amount>)]
    pub default_minimum: Option<Amount>,
    /// Per currency (ISO 4217 code → rule).
    #[serde(default)]
    pub currencies: BTreeMap<CurrencyCode, CurrencyRuleIn>,
    /// Methods paid with; empty or absent: all.
    #[serde(default)]
    pub methods: Vec<MethodName>,
    /// Per currency: a run whose total is above this needs a second admin.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, super::decimal::Amount>)]
    pub second_approval_above: BTreeMap<CurrencyCode, Amount>,
    /// Who pays (needed to export SEPA, wire and NACHA files).
    pub payer: Option<PayerIn>,
    /// The 1099-NEC reporting threshold in USD (default: the year's statutory threshold,
    /// $2,000 for payments from 2026, $600 before).
    #[schema(value_type = Option<super::decimal::Amount>)]
    pub nec_threshold: Option<Amount>,
}

impl ScheduleIn {
    /// The domain's frequency and settings (checked by the engine).
    pub fn into_parts(self) -> (Frequency, Settings) {
        let frequency = match self.frequency {
            FrequencyText::Weekly => Frequency::Weekly {
                weekday: self.day.0,
            },
            FrequencyText::Monthly => Frequency::Monthly { day: self.day.0 },
        };
        let settings = Settings {
            currencies: self
                .currencies
                .into_iter()
                .map(|(code, r)| {
                    (
                        code.0.code().to_owned(),
                        CurrencyRule {
                            minimum: r.minimum.0,
                            fee_below: r.fee_below.map_or(Decimal::ZERO, |a| a.0),
                            fee: r.fee.map_or(Decimal::ZERO, |a| a.0),
                        },
                    )
                })
                .collect(),
            default_minimum: self.default_minimum.map_or(Decimal::ZERO, |a| a.0),
            methods: self.methods.iter().map(|m| m.as_str().to_owned()).collect(),
            second_approval_above: self
                .second_approval_above
                .into_iter()
                .map(|(c, a)| (c.0.code().to_owned(), a.0.to_string()))
                .collect(),
            payer: self.payer.map(|p| Payer {
                name: p.name.0,
                iban: p.iban.map(|t| t.0),
                bic: p.bic.map(|t| t.0),
                ach: p.ach.map(|a| AchOrigin {
                    immediate_destination: a.immediate_destination.0,
                    immediate_destination_name: a.immediate_destination_name.0,
                    immediate_origin: a.immediate_origin.0,
                    immediate_origin_name: a.immediate_origin_name.0,
                    company_name: a.company_name.0,
                    company_id: a.company_id.0,
                    odfi_routing: a.odfi_routing.0,
                    entry_description: a.entry_description.0,
                }),
                wise_source_currency: p.wise_source_currency.map(|c| c.0.code().to_owned()),
            }),
            nec_threshold: self.nec_threshold.map(|a| a.0),
        };
        (frequency, settings)
    }
}

/// A currency's rule, in an answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyRuleOut {
    /// Minimum payout.
    #[schema(value_type = DecimalAnswer)]
    pub minimum: String,
    /// Fee threshold.
    #[schema(value_type = DecimalAnswer)]
    pub fee_below: String,
    /// Fee.
    #[schema(value_type = DecimalAnswer)]
    pub fee: String,
}

/// The payer, in an answer (its IBAN masked).
#[derive(Debug, Serialize, ToSchema)]
pub struct PayerOut {
    /// Name.
    pub name: String,
    /// The IBAN, masked to its last four characters.
    pub iban: Option<String>,
    /// BIC.
    pub bic: Option<String>,
    /// Whether ACH origination details are set.
    pub ach: bool,
    /// Wise funding currency.
    pub wise_source_currency: Option<String>,
}

/// A program's payout schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleOut {
    /// Program.
    pub program_id: String,
    /// Weekly or monthly.
    pub frequency: FrequencyText,
    /// Weekday or day of month.
    pub day: u32,
    /// Minimum of currencies not listed.
    #[schema(value_type = DecimalAnswer)]
    pub default_minimum: String,
    /// Per currency.
    pub currencies: BTreeMap<String, CurrencyRuleOut>,
    /// Methods paid with (empty: all).
    pub methods: Vec<String>,
    /// Per currency: second approval above.
    #[schema(value_type = BTreeMap<String, DecimalAnswer>)]
    pub second_approval_above: BTreeMap<String, String>,
    /// Who pays.
    pub payer: Option<PayerOut>,
    /// The 1099-NEC threshold set for the program (absent: the year's statutory one).
    #[schema(value_type = Option<DecimalAnswer>)]
    pub nec_threshold: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

impl From<Schedule> for ScheduleOut {
    fn from(s: Schedule) -> Self {
        let (frequency, day) = match s.frequency {
            Frequency::Weekly { weekday } => (FrequencyText::Weekly, weekday),
            Frequency::Monthly { day } => (FrequencyText::Monthly, day),
        };
        Self {
            program_id: s.program_id,
            frequency,
            day,
            default_minimum: s.settings.default_minimum.to_string(),
            currencies: s
                .settings
                .currencies
                .into_iter()
                .map(|(c, r)| {
                    (
                        c,
                        CurrencyRuleOut {
                            minimum: r.minimum.to_string(),
                            fee_below: r.fee_below.to_string(),
                            fee: r.fee.to_string(),
                        },
                    )
                })
                .collect(),
            methods: s.settings.methods,
            second_approval_above: s.settings.second_approval_above,
            payer: s.settings.payer.map(|p| PayerOut {
                name: p.name,
                iban: p.iban.as_deref().map(accrue_payfiles::mask),
                bic: p.bic,
                ach: p.ach.is_some(),
                wise_source_currency: p.wise_source_currency,
            }),
            nec_threshold: s.settings.nec_threshold.map(|d| d.to_string()),
            created_at: format_time(s.created_at_ms),
            updated_at: format_time(s.updated_at_ms),
        }
    }
}

/// `POST /v1/payout-runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunIn {
    /// The program to pay.
    pub program_id: Id,
    /// Entries approved after this instant wait for the next run (default: now).
    pub cutoff: Option<Instant>,
    /// Show what the run would pay and write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A run's totals in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsOut {
    /// Currency.
    pub currency: String,
    /// Paying items.
    pub items: i64,
    /// Held items.
    pub held: i64,
    /// Entries paid.
    pub entries: i64,
    /// Gross.
    #[schema(value_type = DecimalAnswer)]
    pub gross: String,
    /// Withheld.
    #[schema(value_type = DecimalAnswer)]
    pub withholding: String,
    /// Fees.
    #[schema(value_type = DecimalAnswer)]
    pub fees: String,
    /// Net paid.
    #[schema(value_type = DecimalAnswer)]
    pub net: String,
}

impl From<CurrencyTotals> for TotalsOut {
    fn from(t: CurrencyTotals) -> Self {
        let s = |d: Decimal| crate::domain::scaled_to(d, &t.currency).to_string();
        Self {
            gross: s(t.gross),
            withholding: s(t.withholding),
            fees: s(t.fees),
            net: s(t.net),
            currency: t.currency,
            items: t.items,
            held: t.held,
            entries: t.entries,
        }
    }
}

/// One step of a run or an item.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepOut {
    /// What happened (`drafted`, `approval`, `exported`, `cancelled`; `sent`, `paid`,
    /// `failed`, `returned`).
    pub event: String,
    /// Who.
    pub actor: String,
    /// Why, or a note.
    pub note: String,
    /// When.
    pub at: String,
}

fn steps(events: Vec<(String, String, String, i64)>) -> Vec<StepOut> {
    events
        .into_iter()
        .map(|(event, actor, note, at)| StepOut {
            // The drafted event's note is the run's totals, shown as `totals`.
            note: if event == "drafted" {
                String::new()
            } else {
                note
            },
            event,
            actor,
            at: format_time(at),
        })
        .collect()
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatusOut {
    /// Created; waits for approval.
    Draft,
    /// Approved; waits for export.
    Approved,
    /// Files written; waiting for the bank's answer.
    Exported,
    /// Every paying item has an outcome.
    Completed,
    /// Cancelled before export.
    Cancelled,
}

impl From<RunStatus> for RunStatusOut {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Draft => Self::Draft,
            RunStatus::Approved => Self::Approved,
            RunStatus::Exported => Self::Exported,
            RunStatus::Completed => Self::Completed,
            RunStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatusOut {
    /// Not paid this run (no tax form, no method...): the entries stay payable.
    Held,
    /// In the run, not sent yet.
    Pending,
    /// Handed to the bank or provider.
    Sent,
    /// Paid.
    Paid,
    /// Not paid: the entries are payable again.
    Failed,
    /// Paid, then returned: the entries are payable again.
    Returned,
}

impl From<ItemStatus> for ItemStatusOut {
    fn from(s: ItemStatus) -> Self {
        match s {
            ItemStatus::Held => Self::Held,
            ItemStatus::Pending => Self::Pending,
            ItemStatus::Sent => Self::Sent,
            ItemStatus::Paid => Self::Paid,
            ItemStatus::Failed => Self::Failed,
            ItemStatus::Returned => Self::Returned,
        }
    }
}

/// A payout run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunOut {
    /// Id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// Where it stands.
    pub status: RunStatusOut,
    /// `schedule` or `api`.
    pub trigger: String,
    /// Entries approved after this waited for the next run.
    pub cutoff: String,
    /// Admin approvals needed (2 above the program's second-approval amount).
    pub approvals_required: i64,
    /// Admins (key ids) who approved.
    pub approved_by: Vec<String>,
    /// Totals per currency.
    pub totals: Vec<TotalsOut>,
    /// Whether this is a dry run's preview (nothing was written).
    pub dry_run: bool,
    /// Created by (key id, or `scheduler`).
    pub created_by: String,
    /// Created.
    pub created_at: String,
    /// Every step.
    pub events: Vec<StepOut>,
    /// A dry run's items (a stored run lists them at `/items`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ItemOut>>,
}

impl From<RunView> for RunOut {
    fn from(r: RunView) -> Self {
        Self {
            id: r.id,
            program_id: r.program_id,
            status: r.status.into(),
            trigger: r.trigger,
            cutoff: format_time(r.cutoff_ms),
            approvals_required: r.approvals_required,
            approved_by: r.approved_by,
            totals: r.totals.into_iter().map(Into::into).collect(),
            dry_run: r.dry_run,
            created_by: r.created_by,
            created_at: format_time(r.created_at_ms),
            events: steps(r.events),
            items: None,
        }
    }
}

/// A payout item: one partner's payment in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemOut {
    /// Id (the payment's end-to-end id in files and bank reports).
    pub id: String,
    /// Run.
    pub run_id: String,
    /// Partner.
    pub partner_id: String,
    /// Currency.
    pub currency: String,
    /// The netted balance paid (clawbacks included).
    #[schema(value_type = DecimalAnswer)]
    pub gross: String,
    /// Tax withheld.
    #[schema(value_type = DecimalAnswer)]
    pub withholding: String,
    /// Fee.
    #[schema(value_type = DecimalAnswer)]
    pub fee: String,
    /// What the partner receives: gross − withholding − fee.
    #[schema(value_type = DecimalAnswer)]
    pub net: String,
    /// Where it stands.
    pub status: ItemStatusOut,
    /// Method (`sepa`, `ach`, `wire`, `paypal`, `wise`).
    pub method: Option<String>,
    /// The destination, masked.
    #[schema(value_type = Option<Object>)]
    pub destination: Option<serde_json::Value>,
    /// Account holder.
    pub holder_name: Option<String>,
    /// Why it is held (not paid; the entries stay payable).
    pub hold_reason: Option<String>,
    /// The withholding rule applied.
    #[schema(value_type = Option<Object>)]
    pub withholding_rule: Option<serde_json::Value>,
    /// Entries it pays.
    pub entry_count: i64,
    /// Created.
    pub created_at: String,
    /// Its outcomes.
    pub events: Vec<StepOut>,
}

impl From<ItemRecord> for ItemOut {
    fn from(i: ItemRecord) -> Self {
        let status = ItemStatus::of(&i).into();
        let json = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
        // Every figure with its currency's decimals, a held item's zeros too.
        let money = |d: Decimal| crate::domain::scaled_to(d, &i.currency).to_string();
        Self {
            status,
            gross: money(i.gross),
            withholding: money(i.withholding),
            fee: money(i.fee),
            net: money(i.net),
            id: i.id,
            run_id: i.run_id,
            partner_id: i.partner_id,
            currency: i.currency,
            method: i.method,
            destination: json(i.masked),
            holder_name: i.holder_name,
            hold_reason: i.hold_reason,
            withholding_rule: json(i.withholding_rule),
            entry_count: i.entry_count,
            created_at: format_time(i.created_at_ms),
            events: steps(i.events),
        }
    }
}

/// Query of list routes with a page.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only this program's runs.
    #[param(value_type = Option<Id>)]
    pub program_id: Option<Id>,
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<crate::http::cursor::CursorText>)]
    pub cursor: Option<crate::http::cursor::CursorText>,
}

/// Query of item lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<crate::http::cursor::CursorText>)]
    pub cursor: Option<crate::http::cursor::CursorText>,
}

/// Query of `GET /v1/partners/{id}/payouts`: the newest items, one page.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// How many, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// `POST /v1/payout-runs/{id}/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelIn {
    /// Why.
    pub note: NonBlank<500>,
}

/// Outcomes an item can be given over the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcomeText {
    /// Handed to the bank or provider.
    Sent,
    /// Paid.
    Paid,
    /// Not paid: the entries are payable again.
    Failed,
    /// Paid, then returned: the entries are payable again.
    Returned,
}

impl From<ItemOutcomeText> for ItemOutcomeKind {
    fn from(o: ItemOutcomeText) -> Self {
        match o {
            ItemOutcomeText::Sent => Self::Sent,
            ItemOutcomeText::Paid => Self::Paid,
            ItemOutcomeText::Failed => Self::Failed,
            ItemOutcomeText::Returned => Self::Returned,
        }
    }
}

/// `POST /v1/payout-runs/{id}/items/{item_id}/outcome`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeIn {
    /// What happened.
    pub outcome: ItemOutcomeText,
    /// Why (a bank reason, a note).
    pub reason: Option<Text<500>>,
}

/// Which kind of bank feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum FeedbackFormatText {
    /// An ISO 20022 pain.002 status report (XML).
    #[serde(rename = "pain.002")]
    Pain002,
    /// A NACHA return list (CSV: `return_code` and `trace_number` or `individual_id`).
    #[serde(rename = "nacha-returns")]
    NachaReturns,
}

/// A bank document's text: any length up to 16 MiB, line breaks and tabs allowed, no
/// other control characters.
#[derive(Debug, Clone)]
pub struct Document(pub String);

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() > 16 << 20 {
            return Err(super::reject("invalid-input", "longer than 16 MiB".into()));
        }
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(super::reject(
                "control-character",
                format!("holds the control character U+{:04X}", u32::from(c)),
            ));
        }
        Ok(Self(text))
    }
}

impl utoipa::PartialSchema for Document {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .max_length(Some(16 << 20))
            .description(Some(
                "The document's text (line breaks and tabs allowed, no other control characters).",
            ))
            .into()
    }
}

impl ToSchema for Document {}

/// `POST /v1/payout-runs/{id}/feedback`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackIn {
    /// What `content` is.
    pub format: FeedbackFormatText,
    /// The document as the bank gave it.
    pub content: Document,
}

/// One line feedback could not apply.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedOut {
    /// The item (or trace number) named.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// What feedback or an outcome did.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackOut {
    /// Items that got an outcome now.
    pub applied: Vec<String>,
    /// Items that had it already.
    pub unchanged: Vec<String>,
    /// What could not be applied.
    pub rejected: Vec<RejectedOut>,
    /// Items the bank has not decided yet.
    pub pending: Vec<String>,
}

impl From<FeedbackReport> for FeedbackOut {
    fn from(r: FeedbackReport) -> Self {
        Self {
            applied: r.applied,
            unchanged: r.unchanged,
            rejected: r
                .rejected
                .into_iter()
                .map(|(key, reason)| RejectedOut { key, reason })
                .collect(),
            pending: r.pending,
        }
    }
}

/// A payment file of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileOut {
    /// Name (download at `/v1/payout-runs/{id}/files/{name}`).
    pub name: String,
    /// `sepa`, `wire`, `nacha`, `paypal` or `wise`.
    pub format: String,
    /// Media type of the download.
    pub media_type: String,
    /// Currency of its payments.
    pub currency: String,
    /// Payments in it.
    pub item_count: i64,
    /// Their total.
    #[schema(value_type = DecimalAnswer)]
    pub total: String,
    /// sha256 of its bytes, hex.
    pub sha256: String,
    /// Created.
    pub created_at: String,
}

impl From<FileRecord> for FileOut {
    fn from(f: FileRecord) -> Self {
        Self {
            name: f.name,
            format: f.format,
            media_type: f.media_type,
            currency: f.currency,
            item_count: f.item_count,
            total: f.total.to_string(),
            sha256: f.sha256,
            created_at: format_time(f.created_at_ms),
        }
    }
}

/// Query of `GET /v1/programs/{id}/tax-reports/{year}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaxReportQuery {
    /// `1099-nec` (US payees) or `1042-s` (foreign payees with withholding).
    #[param(inline)]
    pub form: TaxReportForm,
}

/// The year-end reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum TaxReportForm {
    /// 1099-NEC data.
    #[serde(rename = "1099-nec")]
    Nec1099,
    /// 1042-S data.
    #[serde(rename = "1042-s")]
    S1042,
}

impl TaxReportForm {
    /// The engine's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nec1099 => "1099-nec",
            Self::S1042 => "1042-s",
        }
    }
}

/// Query of `GET /v1/programs/{id}/notices`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoticeQuery {
    /// Only this partner's notices.
    #[param(value_type = Option<Id>)]
    pub partner_id: Option<Id>,
}

/// A notice recorded for a partner or the operators.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeOut {
    /// `tax_form.required`, ...
    pub kind: String,
    /// Partner, if it concerns one.
    pub partner_id: Option<String>,
    /// What it is about (unique per kind).
    pub subject: String,
    /// Details.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// When.
    pub created_at: String,
}
