//! Period close: each partner's statistics for a period go to the program's bonus plug-in,
//! and its decision becomes a `performance_bonuses` row and, when there is something to
//! pay, a bonus ledger entry. Closing a period is exactly-once per partner (the row's key),
//! so re-running it, or running it on two replicas at once, pays nothing twice.
//!
//! A plug-in's answer is money, so it is bounded: the bonus may be at most the program's
//! `max_bonus_share` of the partner's attributed revenue in the period (and within the
//! largest amount). A larger answer is that plug-in breaking its contract: refused, never
//! clamped, and reported for that partner alone; the other partners are still closed.

use super::idempotency::Command;
use super::pricing::Lookups;
use super::{Engine, EngineError, Result, Scope};
use crate::domain::calc::{bonus_amount, bonus_cap};
use crate::domain::ledger::{Cause, EntryKind};
use crate::domain::{Currency, DomainError, fx, round_minor};
use crate::plugins::{Digest, EvalError, Failure};
use crate::store::{BonusRecord, NewEntry, PeriodAttribution, StoreError};
use accrue_plugin_sdk::{Bonus, PeriodStats, PeriodTotals};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One partner's bonus for a closed period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BonusOutcome {
    /// Partner.
    pub partner_id: String,
    /// Bonus in the program currency (0 when none, or when this partner failed).
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Program currency.
    pub currency: String,
    /// The plug-in's reason (empty when this partner failed).
    pub reason: String,
    /// The ledger entry, when one was written.
    pub entry_id: Option<i64>,
    /// True when this call closed the partner's period; false when it had been closed
    /// before (the earlier result) or this partner failed.
    pub new: bool,
    /// `closed` (now or earlier), or `failed`: nothing was recorded for this partner, and
    /// closing the period again tries it again.
    pub status: BonusStatus,
    /// Why this partner failed, when it did.
    pub error: Option<BonusFailure>,
}

/// Whether a partner's period is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BonusStatus {
    /// The bonus is recorded (by this call or an earlier one).
    Closed,
    /// This partner's bonus was refused or could not be computed; nothing was recorded.
    Failed,
}

/// Why one partner's bonus failed: the problem kind the API would answer alone, and what
/// exactly went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BonusFailure {
    /// A stable slug (`plugin-failed`, `amount-too-large`, `missing-fx-rate`, ...).
    pub kind: String,
    /// The detail: for a plug-in, its digest, the partner, the amount and the cap.
    pub detail: String,
}

/// What one period close applies to every partner.
struct CloseContext<'a> {
    program_id: &'a str,
    from_ms: i64,
    to_ms: i64,
    hold_days: u32,
    max_bonus_share: Decimal,
    currency: Currency,
    binding: &'a crate::domain::program::PluginBinding,
    digest: &'a Digest,
    /// " (name@version)" of the bonus plug-in where the store knows it.
    label: String,
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
                .fx_rate(sale, currency, occurred_at_ms, lookups)
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
            let rate = self.fx_rate(sale, currency, from_ms, lookups).await?;
            totals.entry(partner).or_default().commissions += amount * rate;
        }
        for t in totals.values_mut() {
            t.revenue = round_minor(t.revenue, currency);
            t.commissions = round_minor(t.commissions, currency);
        }
        Ok(totals)
    }

    /// Close `[from_ms, to_ms)` for every partner credited in it. With `key`, a retry
    /// answers the first close's outcomes again. Each partner's bonus is its own
    /// transaction (exactly-once by its key), so the answer is recorded after them: a retry
    /// racing the first close re-runs it, pays nothing twice, and answers from the record.
    pub async fn close_period(
        &self,
        program_id: &str,
        from_ms: i64,
        to_ms: i64,
        key: Option<&str>,
    ) -> Result<Vec<BonusOutcome>> {
        if to_ms <= from_ms {
            return Err(DomainError::invalid("to", "must be after from").into());
        }
        let cmd = key.map(|key| {
            let mut payload = crate::plugins::InputHasher::default();
            payload.i64(from_ms).i64(to_ms);
            Command::new(
                program_id,
                &Scope::Admin,
                "close-period",
                key.to_owned(),
                payload,
            )
        });
        if let Some(done) = self.answered(cmd.as_ref()).await? {
            return Ok(done);
        }
        let out = self.close_period_once(program_id, from_ms, to_ms).await?;
        let Some(cmd) = cmd else {
            return Ok(out);
        };
        match self.store.put_command_result(&cmd.record(&out)?).await {
            Ok(()) => Ok(out),
            Err(StoreError::Conflict(_)) => self
                .answered(Some(&cmd))
                .await?
                .ok_or_else(|| EngineError::Internal("a command result vanished".into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn close_period_once(
        &self,
        program_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<BonusOutcome>> {
        let state = self.program(program_id).await?;
        let program = &state.program;
        let binding = program.bonus.clone().ok_or_else(|| {
            EngineError::Conflict(format!("program {program_id:?} has no bonus plug-in"))
        })?;
        let digest = Digest::parse(&binding.digest).ok_or_else(|| {
            EngineError::Internal(format!(
                "stored bonus digest {:?} does not parse",
                binding.digest
            ))
        })?;
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
        let label = match self.store.plugin_for(program_id, &binding.digest).await? {
            Some(p) => format!(" ({}@{})", p.name, p.version),
            None => String::new(),
        };
        let ctx = CloseContext {
            program_id,
            from_ms,
            to_ms,
            hold_days: program.hold_days,
            max_bonus_share: program.max_bonus_share,
            currency,
            binding: &binding,
            digest: &digest,
            label,
        };
        let mut out = Vec::new();
        for partner in partners {
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
            // One partner's refused or failed bonus does not stop the others; only the
            // store failing does.
            match self
                .close_partner(&ctx, &partner, &stats, &mut lookups)
                .await
            {
                Ok(outcome) => out.push(outcome),
                Err(e @ (EngineError::Plugin(_) | EngineError::Domain(_))) => {
                    tracing::warn!(program_id, partner_id = %partner.id, error = %e, "bonus refused");
                    out.push(BonusOutcome {
                        partner_id: partner.id.clone(),
                        amount: round_minor(Decimal::ZERO, currency),
                        currency: currency.code().to_owned(),
                        reason: String::new(),
                        entry_id: None,
                        new: false,
                        status: BonusStatus::Failed,
                        error: Some(BonusFailure {
                            kind: e.kind().to_owned(),
                            detail: e.to_string(),
                        }),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Close one partner's period: the plug-in's decision, checked against the cap, then
    /// recorded once.
    async fn close_partner(
        &self,
        ctx: &CloseContext<'_>,
        partner: &crate::store::PartnerRecord,
        stats: &PeriodStats,
        lookups: &mut Lookups,
    ) -> Result<BonusOutcome> {
        let (program_id, from_ms, to_ms, currency) =
            (ctx.program_id, ctx.from_ms, ctx.to_ms, ctx.currency);
        if let Some(done) = self.store.bonus(program_id, &partner.id, from_ms).await? {
            return Ok(earlier(done));
        }
        let decision = self
            .evaluate_bonus(
                program_id,
                ctx.digest.clone(),
                ctx.binding.config_text(),
                stats.clone(),
            )
            .await?;
        let revenue = stats.current.revenue;
        let amount = bonus_amount(&decision.bonus, revenue, currency)?;
        let cap = bonus_cap(revenue, ctx.max_bonus_share, currency)?;
        if amount > cap {
            // The plug-in's answer breaks the program's bound: refused, never clamped.
            return Err(EngineError::Plugin(EvalError {
                digest: ctx.digest.clone(),
                label: ctx.label.clone(),
                failure: Failure::Contract(format!(
                    "bonus of {amount} {currency} for partner {:?} is above the program's cap of \
                     {cap} {currency} ({} of attributed revenue {} {currency})",
                    partner.id,
                    ctx.max_bonus_share.normalize(),
                    round_minor(revenue, currency),
                )),
            }));
        }
        currency.check_amount("amount", amount)?;
        let payout_currency = partner.payout_currency;
        let fx_rate = self
            .fx_rate(currency, payout_currency, to_ms, lookups)
            .await?;
        let payout_amount = fx::convert(amount, fx_rate, payout_currency)?;
        let entry = (!amount.is_zero()).then(|| NewEntry {
            program_id: program_id.to_owned(),
            partner_id: partner.id.clone(),
            conversion_id: None,
            kind: EntryKind::Bonus,
            amount,
            currency,
            payout_amount,
            payout_currency,
            fx_rate,
            rate: match decision.bonus {
                Bonus::Rate(r) => Some(r),
                _ => None,
            },
            reverses_entry_id: None,
            cause: Cause::Period { from_ms, to_ms },
            provenance: serde_json::to_string(&serde_json::json!({
                "bonus_digest": ctx.binding.digest, "tier": stats.tier,
                "revenue": stats.current.revenue.to_string(), "reason": decision.reason,
                "max_bonus_share": ctx.max_bonus_share.to_string(),
            }))
            .ok(),
            hold_until_ms: to_ms.saturating_add(i64::from(ctx.hold_days) * 86_400_000),
            initial_events: Vec::new(),
        });
        let record = BonusRecord {
            program_id: program_id.to_owned(),
            partner_id: partner.id.clone(),
            period_start_ms: from_ms,
            period_end_ms: to_ms,
            plugin_digest: ctx.binding.digest.clone(),
            decision: serde_json::json!({ "bonus": format!("{:?}", decision.bonus), "reason": decision.reason }).to_string(),
            amount,
            currency,
            ledger_entry_id: None,
        };
        match self.store.record_bonus(&record, entry.as_ref()).await {
            Ok(entry_id) => Ok(BonusOutcome {
                partner_id: partner.id.clone(),
                amount,
                currency: currency.code().to_owned(),
                reason: decision.reason.clone(),
                entry_id,
                new: true,
                status: BonusStatus::Closed,
                error: None,
            }),
            // Another replica closed this partner's period first: report its result.
            Err(StoreError::Conflict(_)) => {
                match self.store.bonus(program_id, &partner.id, from_ms).await? {
                    Some(done) => Ok(earlier(done)),
                    // The insert said the row exists and the read says it does not: a fault
                    // of the store, not of the request.
                    None => Err(EngineError::Internal("bonus vanished".into())),
                }
            }
            Err(e) => Err(e.into()),
        }
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
        currency: done.currency.code().to_owned(),
        reason,
        entry_id: done.ledger_entry_id,
        new: false,
        status: BonusStatus::Closed,
        error: None,
    }
}
