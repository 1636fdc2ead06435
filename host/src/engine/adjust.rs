//! Retroactive adjustments: re-price a date range of a program with a new rate table or a
//! new attribution plug-in, conversion by conversion, and write the differences as
//! adjustment entries. History is never rewritten: the original entries stay, the
//! corrections are new entries. Running the same adjustment again finds no difference and
//! writes nothing. With an idempotency key, a retry answers the first report itself (a dry
//! run writes nothing, so it is neither recorded nor replayed).

use super::idempotency::{Command, record};
use super::pricing::{Lookups, Overrides};
use super::{Engine, EngineError, Result, Scope};
use crate::domain::calc::reversed_by_refund;
use crate::domain::fx;
use crate::domain::ledger::{Cause, EntryKind, EventKind, Status};
use crate::domain::program::{PluginBinding, RateTable};
use crate::domain::{Currency, DomainError};
use crate::plugins::InputHasher;
use crate::store::{LedgerWrite, NewEntry};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What to re-price, and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentRequest {
    /// Program.
    pub program_id: String,
    /// Conversions that occurred at or after this instant (ms)...
    pub from_ms: i64,
    /// ...and before this one (ms).
    pub to_ms: i64,
    /// Re-price with these rates instead of the versions in force at the time.
    pub rate_table: Option<RateTable>,
    /// Re-price with this attribution plug-in instead of the program's.
    pub attribution: Option<PluginBinding>,
    /// Why (recorded).
    pub reason: String,
    /// Report what would change and write nothing: a shadow evaluation of a candidate
    /// plug-in or rate table on past conversions.
    pub dry_run: bool,
    /// The client's idempotency key, if it sent one.
    pub idempotency_key: Option<String>,
}

/// One partner's change on one conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentChange {
    /// Conversion.
    pub conversion_id: String,
    /// Partner.
    pub partner_id: String,
    /// Net commission before, sale currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub before: Decimal,
    /// Net commission after.
    #[serde(with = "rust_decimal::serde::str")]
    pub after: Decimal,
    /// The adjustment entry's amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub delta: Decimal,
    /// Sale currency.
    pub currency: String,
}

/// What an adjustment changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentReport {
    /// Its id.
    pub adjustment_id: String,
    /// Program.
    pub program_id: String,
    /// Conversions re-priced.
    pub conversions_examined: usize,
    /// Every change (empty when nothing differs).
    pub changes: Vec<AdjustmentChange>,
    /// Sum of deltas per sale currency.
    pub totals: BTreeMap<String, String>,
    /// Why it was run.
    pub reason: String,
    /// True when nothing was written (a shadow evaluation).
    pub dry_run: bool,
}

/// An adjustment as a client asks for it: rates as changes to the program's current table,
/// the attribution plug-in as a reference to resolve.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjustmentAsk {
    /// Program.
    pub program_id: String,
    /// From (ms, inclusive).
    pub from_ms: i64,
    /// To (ms, exclusive).
    pub to_ms: i64,
    /// Tiers replacing the current table's.
    pub tiers: Option<BTreeMap<String, crate::domain::program::TierRate>>,
    /// Volume tiers replacing the current table's.
    pub volume_tiers: Option<Vec<crate::domain::program::VolumeTier>>,
    /// Another attribution plug-in.
    pub attribution: Option<super::PluginRef>,
    /// Why.
    pub reason: String,
    /// Write nothing.
    pub dry_run: bool,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
}

fn request_hash(r: &AdjustmentRequest) -> String {
    let mut h = InputHasher::default();
    h.str(&r.program_id).i64(r.from_ms).i64(r.to_ms);
    h.str(
        &r.rate_table
            .as_ref()
            .map(|t| serde_json::to_string(t).unwrap_or_default())
            .unwrap_or_default(),
    );
    h.str(
        &r.attribution
            .as_ref()
            .map(|b| serde_json::to_string(b).unwrap_or_default())
            .unwrap_or_default(),
    );
    hex::encode(h.finish())
}

impl Engine {
    /// Re-price as asked: at least one of tiers, volume tiers and an attribution plug-in;
    /// the rates given replace those of the program's current table.
    pub async fn adjust_as_asked(&self, ask: AdjustmentAsk) -> Result<AdjustmentReport> {
        if ask.tiers.is_none() && ask.volume_tiers.is_none() && ask.attribution.is_none() {
            return Err(DomainError::invalid(
                "tiers",
                "give new tiers, volume_tiers or an attribution plug-in to re-price with",
            )
            .into());
        }
        let program = self.program(&ask.program_id).await?;
        let current = program.rate_tables.last().cloned().ok_or_else(|| {
            EngineError::Internal(format!("program {:?} has no rates", ask.program_id))
        })?;
        let rate_table = (ask.tiers.is_some() || ask.volume_tiers.is_some()).then(|| RateTable {
            version: current.version,
            effective_from_ms: current.effective_from_ms,
            tiers: ask.tiers.unwrap_or(current.tiers),
            volume_tiers: ask.volume_tiers.unwrap_or(current.volume_tiers),
        });
        let attribution = match &ask.attribution {
            Some(r) => Some(
                self.resolve_plugin(
                    r,
                    crate::plugins::World::Attribution,
                    &ask.program_id,
                    "attribution",
                )
                .await?,
            ),
            None => None,
        };
        self.adjust(&AdjustmentRequest {
            program_id: ask.program_id,
            from_ms: ask.from_ms,
            to_ms: ask.to_ms,
            rate_table,
            attribution,
            reason: ask.reason,
            dry_run: ask.dry_run,
            idempotency_key: ask.idempotency_key,
        })
        .await
    }

    /// Re-price a range and write the corrections.
    pub async fn adjust(&self, req: &AdjustmentRequest) -> Result<AdjustmentReport> {
        if req.to_ms <= req.from_ms {
            return Err(DomainError::invalid("to", "must be after from").into());
        }
        if let Some(t) = &req.rate_table {
            t.validate()?;
        }
        let cmd = match (&req.idempotency_key, req.dry_run) {
            (Some(key), false) => {
                let mut payload = InputHasher::default();
                payload.str(&request_hash(req)).str(&req.reason);
                Some(Command::new(
                    &req.program_id,
                    &Scope::Admin,
                    "adjust",
                    key.clone(),
                    payload,
                ))
            }
            _ => None,
        };
        if let Some(done) = self.answered(cmd.as_ref()).await? {
            return Ok(done);
        }
        let state = self.program(&req.program_id).await?;
        let overrides = Overrides {
            rate_table: req.rate_table.clone(),
            attribution: req.attribution.clone(),
            ..Overrides::default()
        };
        let id = format!("adj_{}", crate::ids::random_token(12));
        let conversions = self
            .store
            .conversions_between(&req.program_id, req.from_ms, req.to_ms)
            .await?;
        let mut write = LedgerWrite::default();
        let mut changes = Vec::new();
        let mut lookups = Lookups::default();
        for c in &conversions {
            let input = &c.conversion;
            let priced = self.price(&state, input, &overrides, &mut lookups).await?;
            let currency = Currency::parse(&input.currency)?;
            let entries = self
                .conversion_entries(&input.program_id, &input.id)
                .await?;
            // Net commission per partner now: commissions, their reversals, adjustments.
            let mut net: BTreeMap<String, Decimal> = BTreeMap::new();
            for e in entries.iter().filter(|e| e.kind != EntryKind::Bonus) {
                *net.entry(e.partner_id.clone()).or_default() += e.amount;
            }
            // Target per partner: the new commission less what refunds take back.
            let mut target: BTreeMap<String, (Decimal, Option<&NewEntry>)> = BTreeMap::new();
            for e in &priced.record.entries {
                let refunded = reversed_by_refund(e.amount, c.refunded, input.amount, currency)?;
                target.insert(e.partner_id.clone(), (e.amount - refunded, Some(e)));
            }
            let partners: Vec<String> = net
                .keys()
                .chain(target.keys())
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            for partner in partners {
                // With the sale currency's decimals, a partner with nothing too ("0.00").
                let before = currency.scaled(net.get(&partner).copied().unwrap_or_default());
                let (after, fresh) = target
                    .get(&partner)
                    .copied()
                    .unwrap_or((Decimal::ZERO, None));
                let after = currency.scaled(after);
                let delta = after - before;
                if delta.is_zero() {
                    continue;
                }
                // Pay the difference at the FX rate the partner's commission used (or the
                // new pricing's rate for a partner newly credited).
                let original = entries
                    .iter()
                    .find(|e| e.partner_id == partner && e.kind == EntryKind::Commission);
                let (payout_currency, fx_rate, hold_until_ms, status) = match (original, fresh) {
                    (Some(o), _) => (o.payout_currency, o.fx_rate, o.hold_until_ms, o.status),
                    (None, Some(f)) => (
                        f.payout_currency,
                        f.fx_rate,
                        f.hold_until_ms,
                        Status::Pending,
                    ),
                    (None, None) => continue,
                };
                let payout_amount = if delta.is_sign_negative() {
                    -fx::convert(-delta, fx_rate, payout_currency)?
                } else {
                    fx::convert(delta, fx_rate, payout_currency)?
                };
                write.entries.push(NewEntry {
                    program_id: input.program_id.clone(),
                    partner_id: partner.clone(),
                    conversion_id: Some(input.id.clone()),
                    kind: EntryKind::Adjustment,
                    amount: delta,
                    currency,
                    payout_amount,
                    payout_currency,
                    fx_rate,
                    rate: fresh.and_then(|f| f.rate),
                    reverses_entry_id: original.map(|o| o.id),
                    cause: Cause::Adjustment(id.to_string()),
                    provenance: fresh.and_then(|f| f.provenance.clone()),
                    hold_until_ms,
                    initial_events: if matches!(status, Status::Approved | Status::Paid) {
                        vec![EventKind::Approved]
                    } else {
                        Vec::new()
                    },
                });
                changes.push(AdjustmentChange {
                    conversion_id: input.id.clone(),
                    partner_id: partner,
                    before,
                    after,
                    delta,
                    currency: input.currency.clone(),
                });
            }
        }
        let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
        for ch in &changes {
            *totals.entry(ch.currency.clone()).or_default() += ch.delta;
        }
        let report = AdjustmentReport {
            adjustment_id: id.clone(),
            program_id: req.program_id.clone(),
            conversions_examined: conversions.len(),
            changes,
            totals: totals
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect(),
            reason: req.reason.clone(),
            dry_run: req.dry_run,
        };
        if req.dry_run {
            return Ok(report);
        }
        let text =
            serde_json::to_string(&report).map_err(|e| EngineError::Internal(e.to_string()))?;
        write.adjustment = Some((
            id,
            req.program_id.clone(),
            request_hash(req),
            req.from_ms,
            req.to_ms,
            text,
        ));
        write.command = record(cmd.as_ref(), &report)?;
        match self.store.write_ledger(&write).await {
            Ok(_) => Ok(report),
            Err(e @ crate::store::StoreError::Conflict(_)) => {
                match self.answered(cmd.as_ref()).await? {
                    Some(done) => Ok(done),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}
