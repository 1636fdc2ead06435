//! Commissions (ledger entries), adjustments and disputes.

use super::programs::{PluginRefIn, TierRateIn, VolumeTierIn};
use super::text::NonBlank;
use super::{DecimalAnswer, EntryId, Id, Instant, Key, Text, format_time};
use crate::engine::{AdjustmentReport, DisputeOutcome};
use crate::store::{DisputeRecord, EntryRecord};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The statuses an entry can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusText {
    /// Within its hold period.
    Pending,
    /// Payable.
    Approved,
    /// Paid out.
    Paid,
    /// Frozen by a dispute.
    Frozen,
}

impl StatusText {
    /// The ledger's status.
    pub fn status(self) -> crate::domain::ledger::Status {
        use crate::domain::ledger::Status;
        match self {
            Self::Pending => Status::Pending,
            Self::Approved => Status::Approved,
            Self::Paid => Status::Paid,
            Self::Frozen => Status::Frozen,
        }
    }
}

/// The page size of a list: 1 to 1,000, 100 by default (the same rule for every list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub i64);

impl Limit {
    /// The default page size.
    pub const DEFAULT: i64 = 100;
    /// The largest page size.
    pub const MAX: i64 = 1000;

    /// The limit asked for, or the default.
    pub fn of(asked: Option<u32>) -> Result<Self, crate::http::ApiError> {
        match asked {
            None => Ok(Self(Self::DEFAULT)),
            Some(n) if (1..=Self::MAX as u32).contains(&n) => Ok(Self(i64::from(n))),
            Some(_) => Err(crate::http::ApiError::invalid(
                "limit",
                format!("must be 1 to {}", Self::MAX),
            )),
        }
    }
}

/// Query of `GET /v1/commissions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CommissionQuery {
    /// Only this partner's entries (a partner key sees only its own anyway).
    #[param(value_type = Option<Id>)]
    pub partner_id: Option<Id>,
    /// Only this program's.
    #[param(value_type = Option<Id>)]
    pub program_id: Option<Id>,
    /// Only this conversion's.
    #[param(value_type = Option<Key>)]
    pub conversion_id: Option<Key>,
    /// Only entries in this status.
    #[param(inline)]
    pub status: Option<StatusText>,
    /// Written at or after.
    #[param(value_type = Option<Instant>)]
    pub from: Option<Instant>,
    /// Written before.
    #[param(value_type = Option<Instant>)]
    pub to: Option<Instant>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<crate::http::cursor::CursorText>)]
    pub cursor: Option<crate::http::cursor::CursorText>,
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A ledger entry, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryOut {
    /// Id.
    pub id: i64,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// The conversion it is about, if any.
    pub conversion_id: Option<String>,
    /// commission, bonus, reversal, adjustment, withholding or fee (what a payout kept
    /// back; a positive one undoes a failed or returned payout's).
    pub kind: String,
    /// Amount, sale currency (negative for reversals).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub amount: Decimal,
    /// Sale currency.
    pub currency: String,
    /// Amount in the payout currency.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub payout_amount: Decimal,
    /// Payout currency.
    pub payout_currency: String,
    /// FX rate sale → payout.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub fx_rate: Decimal,
    /// Commission rate applied, if any.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<DecimalAnswer>)]
    pub rate: Option<Decimal>,
    /// pending, approved, paid or frozen.
    pub status: String,
    /// The entry this one reverses or corrects.
    pub reverses_entry_id: Option<i64>,
    /// Why it exists: conversion, refund:<id>, dispute:<id>, adjustment:<id>,
    /// payout:<item id>, period:<from>-<to>.
    pub cause: String,
    /// What produced a commission: plug-in digests, configs, rates, input hash.
    #[schema(value_type = Option<Object>)]
    pub provenance: Option<serde_json::Value>,
    /// Payable from (RFC 3339).
    pub hold_until: String,
    /// Written at (RFC 3339).
    pub created_at: String,
}

impl From<EntryRecord> for EntryOut {
    fn from(e: EntryRecord) -> Self {
        Self {
            id: e.id,
            program_id: e.program_id,
            partner_id: e.partner_id,
            conversion_id: e.conversion_id,
            kind: e.kind.as_str().to_owned(),
            amount: e.amount,
            currency: e.currency.code().to_owned(),
            payout_amount: e.payout_amount,
            payout_currency: e.payout_currency.code().to_owned(),
            fx_rate: e.fx_rate,
            rate: e.rate,
            status: e.status.as_str().to_owned(),
            reverses_entry_id: e.reverses_entry_id,
            cause: e.cause.to_string(),
            provenance: e.provenance.and_then(|p| serde_json::from_str(&p).ok()),
            hold_until: format_time(e.hold_until_ms),
            created_at: format_time(e.created_at_ms),
        }
    }
}

/// `POST /v1/adjustments`: re-price a date range with other rates or another attribution
/// plug-in. At least one of `tiers`, `volume_tiers` and `attribution` is needed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentIn {
    /// The program.
    pub program_id: Id,
    /// Conversions from (inclusive).
    pub from: Instant,
    /// Conversions to (exclusive, after `from`).
    pub to: Instant,
    /// Tier rates to re-price with.
    #[serde(default)]
    pub tiers: Option<BTreeMap<Id, TierRateIn>>,
    /// Volume tiers to re-price with.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub volume_tiers: Option<Vec<VolumeTierIn>>,
    /// An attribution plug-in to re-price with.
    #[serde(default)]
    pub attribution: Option<PluginRefIn>,
    /// Why (kept with the adjustment).
    pub reason: NonBlank<1000>,
    /// Report only and write nothing: a shadow evaluation.
    #[serde(default)]
    pub dry_run: bool,
}

/// One partner's change on one conversion.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdjustmentChangeOut {
    /// Conversion.
    pub conversion_id: String,
    /// Partner.
    pub partner_id: String,
    /// Net commission before, sale currency.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub before: Decimal,
    /// Net commission after.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub after: Decimal,
    /// The adjustment entry's amount.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub delta: Decimal,
    /// Sale currency.
    pub currency: String,
}

/// What an adjustment changed (or would change, for a dry run).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdjustmentOut {
    /// Its id.
    pub adjustment_id: String,
    /// Program.
    pub program_id: String,
    /// Conversions re-priced.
    pub conversions_examined: usize,
    /// Every change (empty when nothing differs).
    pub changes: Vec<AdjustmentChangeOut>,
    /// Sum of deltas per sale currency (decimal strings).
    pub totals: BTreeMap<String, String>,
    /// Why it was run.
    pub reason: String,
    /// True when nothing was written.
    pub dry_run: bool,
}

impl From<AdjustmentReport> for AdjustmentOut {
    fn from(r: AdjustmentReport) -> Self {
        Self {
            adjustment_id: r.adjustment_id,
            program_id: r.program_id,
            conversions_examined: r.conversions_examined,
            changes: r
                .changes
                .into_iter()
                .map(|c| AdjustmentChangeOut {
                    conversion_id: c.conversion_id,
                    partner_id: c.partner_id,
                    before: c.before,
                    after: c.after,
                    delta: c.delta,
                    currency: c.currency,
                })
                .collect(),
            totals: r.totals,
            reason: r.reason,
            dry_run: r.dry_run,
        }
    }
}

/// `POST /v1/disputes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeIn {
    /// The conversion's program.
    pub program_id: Id,
    /// The conversion disputed.
    pub conversion_id: Key,
    /// One entry of it; without one, every entry the caller may dispute.
    #[serde(default)]
    pub entry_id: Option<EntryId>,
    /// Why.
    pub reason: NonBlank<1000>,
}

/// How a dispute ends.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeText {
    /// The complaint is right: the entries are reversed.
    Upheld,
    /// The complaint is wrong: the entries are released.
    Rejected,
}

impl From<OutcomeText> for DisputeOutcome {
    fn from(o: OutcomeText) -> Self {
        match o {
            OutcomeText::Upheld => Self::Upheld,
            OutcomeText::Rejected => Self::Rejected,
        }
    }
}

/// `POST /v1/disputes/{id}/resolve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// Upheld or rejected.
    pub outcome: OutcomeText,
    /// The resolution, kept with the dispute.
    pub note: Text<1000>,
}

/// Query of `GET /v1/disputes`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DisputeQuery {
    /// Only this program's disputes.
    #[param(value_type = Option<Id>)]
    pub program_id: Option<Id>,
}

/// A dispute, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisputeOut {
    /// Id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// Conversion.
    pub conversion_id: String,
    /// The single entry disputed, if it is about one.
    pub entry_id: Option<i64>,
    /// The partner whose entries it concerns (`null`: every partner's on the conversion).
    pub partner_id: Option<String>,
    /// The key that opened it.
    pub opened_by: String,
    /// Why.
    pub reason: String,
    /// Opened at (RFC 3339).
    pub opened_at: String,
    /// open, upheld or rejected.
    pub status: String,
    /// The resolution note, once resolved.
    pub resolution: Option<String>,
    /// Resolved at (RFC 3339), once resolved.
    pub resolved_at: Option<String>,
}

impl From<DisputeRecord> for DisputeOut {
    fn from(d: DisputeRecord) -> Self {
        Self {
            id: d.id,
            program_id: d.program_id,
            conversion_id: d.conversion_id,
            entry_id: d.entry_id,
            partner_id: d.partner_id,
            opened_by: d.opened_by,
            reason: d.reason,
            opened_at: format_time(d.opened_at_ms),
            status: d.status.as_str().to_owned(),
            resolution: d.resolution,
            resolved_at: d.resolved_at_ms.map(format_time),
        }
    }
}
