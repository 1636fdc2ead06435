//! Refunds: reversal entries proportional to the refunded share of the sale.
//!
//! For each commission or adjustment entry of the conversion, the cumulative reversal is
//! `round(entry × refunded_total / amount)`, and a refund writes the difference from what
//! was reversed before. A full refund therefore lands on exactly zero, whatever partial
//! refunds came first. A reversal of an entry already approved or paid is approved at once:
//! after a payout that makes the balance negative, a clawback carried to the next payout.
//!
//! The refund's id is its idempotency key (per conversion): the same id with the same
//! amount answers the first refund again; with another amount it is a conflict.

use super::idempotency::{Command, record};
use super::{Engine, EngineError, Result, Scope};
use crate::domain::calc::reversed_by_refund;
use crate::domain::ledger::{Cause, EntryKind, EventKind, Status};
use crate::domain::{Currency, DomainError};
use crate::plugins::InputHasher;
use crate::store::{EntryFilter, EntryRecord, LedgerWrite, NewEntry, StoreError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a refund did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundResult {
    /// Program.
    pub program_id: String,
    /// Conversion.
    pub conversion_id: String,
    /// This refund's id.
    pub refund_id: String,
    /// This refund's amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// All refunds of the conversion so far.
    #[serde(with = "rust_decimal::serde::str")]
    pub refunded_total: Decimal,
    /// Sale currency.
    pub currency: String,
    /// The reversal entries written.
    pub reversals: Vec<ReversalLine>,
}

/// One reversal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalLine {
    /// Partner.
    pub partner_id: String,
    /// The entry reversed.
    pub reverses_entry_id: i64,
    /// Amount, sale currency (negative).
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Amount, payout currency (negative).
    #[serde(with = "rust_decimal::serde::str")]
    pub payout_amount: Decimal,
    /// Payout currency.
    pub payout_currency: String,
}

/// A reversal of `part` of `entry`, in both currencies, keeping its status class.
pub(super) fn reversal(
    entry: &EntryRecord,
    amount: Decimal,
    payout_amount: Decimal,
    cause: Cause,
) -> NewEntry {
    NewEntry {
        program_id: entry.program_id.clone(),
        partner_id: entry.partner_id.clone(),
        conversion_id: entry.conversion_id.clone(),
        kind: EntryKind::Reversal,
        amount: -amount,
        currency: entry.currency,
        payout_amount: -payout_amount,
        payout_currency: entry.payout_currency,
        fx_rate: entry.fx_rate,
        rate: entry.rate,
        reverses_entry_id: Some(entry.id),
        cause,
        provenance: None,
        hold_until_ms: entry.hold_until_ms,
        initial_events: match entry.status {
            Status::Approved | Status::Paid => vec![EventKind::Approved],
            Status::Pending | Status::Frozen => Vec::new(),
        },
    }
}

/// `delta`, no larger in size than `left` (what is left of an entry, of its sign).
fn at_most(delta: Decimal, left: Decimal) -> Decimal {
    if left.is_sign_negative() {
        delta.max(left)
    } else {
        delta.min(left)
    }
}

impl Engine {
    /// Every entry of one conversion.
    pub(super) async fn conversion_entries(
        &self,
        program_id: &str,
        conversion_id: &str,
    ) -> Result<Vec<EntryRecord>> {
        let filter = EntryFilter {
            program_id: Some(program_id.to_owned()),
            conversion_id: Some(conversion_id.to_owned()),
            limit: 100_000,
            ..EntryFilter::default()
        };
        Ok(self.store.entries(&filter).await?)
    }

    /// Refund `amount` of a conversion (everything not yet refunded if `None`).
    pub async fn refund(
        &self,
        program_id: &str,
        conversion_id: &str,
        refund_id: &str,
        amount: Option<Decimal>,
    ) -> Result<RefundResult> {
        let mut payload = InputHasher::default();
        payload
            .str(program_id)
            .str(conversion_id)
            .opt(amount.map(|a| a.normalize().to_string()).as_deref());
        // Refund ids are per conversion, as the refunds table keys them.
        let key = format!("{conversion_id:?}/{refund_id:?}");
        let cmd = Command::new(program_id, &Scope::Admin, "refund", key, payload);
        if let Some(done) = self.answered(Some(&cmd)).await? {
            return Ok(done);
        }
        let conversion = self
            .store
            .conversion(program_id, conversion_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("conversion {conversion_id:?}")))?;
        let currency = Currency::parse(&conversion.conversion.currency)?;
        let remaining = conversion.conversion.amount - conversion.refunded;
        let amount = amount.unwrap_or(remaining);
        currency.check_amount("amount", amount)?;
        // "10" USD is refunded, stored and answered as 10.00.
        let amount = currency.scaled(amount);
        if amount.is_zero() {
            return Err(DomainError::invalid("amount", "nothing to refund").into());
        }
        if amount > remaining {
            return Err(EngineError::Conflict(format!(
                "refund of {amount} {currency} exceeds the {remaining} {currency} not yet refunded"
            )));
        }
        let refunded_total = currency.scaled(conversion.refunded + amount);
        let entries = self.conversion_entries(program_id, conversion_id).await?;
        let mut write = LedgerWrite {
            refund: Some((
                program_id.to_owned(),
                conversion_id.to_owned(),
                refund_id.to_owned(),
                amount,
            )),
            ..LedgerWrite::default()
        };
        let mut lines = Vec::new();
        for entry in entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Commission | EntryKind::Adjustment))
        {
            let before: (Decimal, Decimal) = entries
                .iter()
                .filter(|r| {
                    r.kind == EntryKind::Reversal
                        && r.reverses_entry_id == Some(entry.id)
                        && matches!(r.cause, Cause::Refund(_))
                })
                .fold((Decimal::ZERO, Decimal::ZERO), |acc, r| {
                    (acc.0 - r.amount, acc.1 - r.payout_amount)
                });
            let payout_currency = entry.payout_currency;
            let target = reversed_by_refund(
                entry.amount,
                refunded_total,
                conversion.conversion.amount,
                currency,
            )?;
            let payout_target = reversed_by_refund(
                entry.payout_amount,
                refunded_total,
                conversion.conversion.amount,
                payout_currency,
            )?;
            // Never more than is left of the entry: an upheld dispute may have reversed
            // it already, and a refund after that has nothing more to take back.
            let (left, payout_left) = entries
                .iter()
                .filter(|r| r.kind == EntryKind::Reversal && r.reverses_entry_id == Some(entry.id))
                .fold((entry.amount, entry.payout_amount), |acc, r| {
                    (acc.0 + r.amount, acc.1 + r.payout_amount)
                });
            let (delta, payout_delta) = (
                at_most(target - before.0, left),
                at_most(payout_target - before.1, payout_left),
            );
            if delta.is_zero() && payout_delta.is_zero() {
                continue;
            }
            let r = reversal(
                entry,
                delta,
                payout_delta,
                Cause::Refund(refund_id.to_owned()),
            );
            lines.push(ReversalLine {
                partner_id: r.partner_id.clone(),
                reverses_entry_id: entry.id,
                amount: r.amount,
                payout_amount: r.payout_amount,
                payout_currency: r.payout_currency.code().to_owned(),
            });
            write.entries.push(r);
        }
        let result = RefundResult {
            program_id: program_id.to_owned(),
            conversion_id: conversion_id.to_owned(),
            refund_id: refund_id.to_owned(),
            amount,
            refunded_total,
            currency: currency.code().to_owned(),
            reversals: lines,
        };
        write.command = record(Some(&cmd), &result)?;
        match self.store.write_ledger(&write).await {
            Ok(_) => Ok(result),
            // A concurrent retry with the same key won: answer as it did.
            Err(StoreError::Conflict(_)) => match self.answered(Some(&cmd)).await? {
                Some(done) => Ok(done),
                None => Err(EngineError::Conflict(format!(
                    "refund {refund_id:?} of conversion {conversion_id:?} was already recorded"
                ))),
            },
            Err(e) => Err(e.into()),
        }
    }
}
