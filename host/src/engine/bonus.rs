//! Period close: each partner's statistics for a period go to the program's bonus plug-in,
//! and its decision becomes a `performance_bonuses` row and, when there is something to
//! pay, a bonus ledger entry. Closing a period is exactly-once per partner (the row's key),
//! so re-running it, or running it on two replicas at once, pays nothing twice.

use super::pricing::Lookups;
use super::{Engine, EngineError, Result};
use crate::domain::ledger::EntryKind;
use crate::domain::{Currency, DomainError, fx, round_minor};
use crate::plugins::Digest;
use crate::store::{BonusRecord, NewEntry, PeriodAttribution, StoreError};
use accrue_plugin_sdk::{Bonus, PeriodStats, PeriodTotals};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One partner's bonus for a closed period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BonusOutcome {
    /// Partner.
    pub partner_id: String,
    /// Bonus in the program currency (0 when none).
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Program currency.
    pub currency: String,
    /// The plug-in's reason.
    pub reason: String,
    /// The ledger entry, when one was written.
    pub entry_id: Option<i64>,
    /// False when this partner's period had been closed before (the earlier result).
    pub new: bool,
}

impl Engine {
    /// Totals per partner over `[from_ms, to_ms)`, in the program currency: conversions
    /// credited, attributed revenue net of refunds, net commissions.
    async fn period_totals(
        &self,
        program_id: &str,
        currency: Currency,
        from_ms: i64,
        to_ms: i64,
        lookups: &mut Lookups,
    ) -> Result<BTreeMap<String, PeriodTotals>> {
        let refunds: HashMap<String, Decimal> = self
            .store
            .period_refunds(program_id, from_ms, to_ms)
            .await?
            .into_iter()
            .fold(HashMap::new(), |mut m, (c, a)| {
                *m.entry(c).or_default() += a;
                m
            });
        let mut totals: BTreeMap<String, PeriodTotals> = BTreeMap::new();
        for a in self
            .store
            .period_attributions(program_id, from_ms, to_ms)
            .await?
        {
            let PeriodAttribution {
                partner_id,
                conversion_id,
                attributed_amount,
                currency: sale,
                occurred_at_ms,
                conversion_amount,
            } = a;
            let refunded = refunds.get(&conversion_id).copied().unwrap_or_default();
            let net = if conversion_amount.is_zero() {
                attributed_amount
            } else {
                attributed_amount - attributed_amount * refunded / conversion_amount
            };
            let rate = self
                .fx_rate(Currency::parse(&sale)?, currency, occurred_at_ms, lookups)
                .await?;
            let t = totals.entry(partner_id).or_default();
            t.conversions += 1;
            t.revenue += net * rate;
        }
        for (partner, amount, sale) in self
            .store
            .period_commissions(program_id, from_ms, to_ms)
            .await?
        {
            let rate = self
                .fx_rate(Currency::parse(&sale)?, currency, from_ms, lookups)
                .await?;
            totals.entry(partner).or_default().commissions += amount * rate;
        }
        for t in totals.values_mut() {
            t.revenue = round_minor(t.revenue, currency);
            t.commissions = round_minor(t.commissions, currency);
        }
        Ok(totals)
    }

    /// Close `[from_ms, to_ms)` for every partner credited in it.
    pub async fn close_period(
        &self,
        program_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<BonusOutcome>> {
        if to_ms <= from_ms {
            return Err(DomainError::invalid("to", "must be after from").into());
        }
        let state = self.program(program_id).await?;
        let program = &state.program;
        let binding = program.bonus.clone().ok_or_else(|| {
            EngineError::Conflict(format!("program {program_id:?} has no bonus plug-in"))
        })?;
        let digest = Digest::parse(&binding.digest)
            .ok_or_else(|| EngineError::Conflict("bad bonus digest".into()))?;
        let currency = program.currency;
        let mut lookups = Lookups::default();
        let current = self
            .period_totals(program_id, currency, from_ms, to_ms, &mut lookups)
            .await?;
        let previous = self
            .period_totals(
                program_id,
                currency,
                from_ms - (to_ms - from_ms),
                from_ms,
                &mut lookups,
            )
            .await?;
        let partners = self
            .store
            .partners_by_id(&current.keys().cloned().collect::<Vec<_>>())
            .await?;
        let mut out = Vec::new();
        for partner in partners {
            if let Some(done) = self.store.bonus(program_id, &partner.id, from_ms).await? {
                out.push(earlier(done));
                continue;
            }
            let stats = PeriodStats {
                partner_id: partner.id.clone(),
                tier: partner.tier_at(to_ms - 1).to_owned(),
                period_start_ms: from_ms,
                period_end_ms: to_ms,
                currency: currency.code().to_owned(),
                current: current.get(&partner.id).cloned().unwrap_or_default(),
                previous: previous.get(&partner.id).cloned(),
                attributes: Vec::new(),
            };
            let decision = self
                .evaluate_bonus(
                    program_id,
                    digest.clone(),
                    binding.config_text(),
                    stats.clone(),
                )
                .await?;
            let amount = round_minor(
                match decision.bonus {
                    Bonus::None => Decimal::ZERO,
                    Bonus::Amount(a) => a,
                    Bonus::Rate(r) => stats.current.revenue.max(Decimal::ZERO) * r,
                },
                currency,
            );
            let payout_currency = Currency::parse(&partner.payout_currency)?;
            let fx_rate = self
                .fx_rate(currency, payout_currency, to_ms, &mut lookups)
                .await?;
            let payout_amount = fx::convert(amount, fx_rate, payout_currency)?;
            let entry = (!amount.is_zero()).then(|| NewEntry {
                program_id: program_id.to_owned(),
                partner_id: partner.id.clone(),
                conversion_id: None,
                kind: EntryKind::Bonus,
                amount,
                currency: currency.code().to_owned(),
                payout_amount,
                payout_currency: payout_currency.code().to_owned(),
                fx_rate,
                rate: match decision.bonus {
                    Bonus::Rate(r) => Some(r),
                    _ => None,
                },
                reverses_entry_id: None,
                cause: format!("period:{from_ms}-{to_ms}"),
                provenance: serde_json::to_string(&serde_json::json!({
                    "bonus_digest": binding.digest, "tier": stats.tier,
                    "revenue": stats.current.revenue.to_string(), "reason": decision.reason,
                }))
                .ok(),
                hold_until_ms: to_ms.saturating_add(i64::from(program.hold_days) * 86_400_000),
                initial_events: Vec::new(),
            });
            let record = BonusRecord {
                program_id: program_id.to_owned(),
                partner_id: partner.id.clone(),
                period_start_ms: from_ms,
                period_end_ms: to_ms,
                plugin_digest: binding.digest.clone(),
                decision: serde_json::json!({ "bonus": format!("{:?}", decision.bonus), "reason": decision.reason }).to_string(),
                amount,
                currency: currency.code().to_owned(),
                ledger_entry_id: None,
            };
            match self.store.record_bonus(&record, entry.as_ref()).await {
                Ok(entry_id) => out.push(BonusOutcome {
                    partner_id: partner.id,
                    amount,
                    currency: currency.code().to_owned(),
                    reason: decision.reason.clone(),
                    entry_id,
                    new: true,
                }),
                // Another replica closed this partner's period first: report its result.
                Err(StoreError::Conflict(_)) => {
                    match self.store.bonus(program_id, &partner.id, from_ms).await? {
                        Some(done) => out.push(earlier(done)),
                        None => return Err(EngineError::Conflict("bonus vanished".into())),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }
}

fn earlier(done: BonusRecord) -> BonusOutcome {
    let reason = serde_json::from_str::<serde_json::Value>(&done.decision)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_owned))
        .unwrap_or_default();
    BonusOutcome {
        partner_id: done.partner_id,
        amount: done.amount,
        currency: done.currency,
        reason,
        entry_id: done.ledger_entry_id,
        new: false,
    }
}
