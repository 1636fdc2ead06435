//! Analytics: the job that takes the ledger's facts into the rollups (claimed a batch at a
//! time across replicas), funnel events (clicks and leads), the keyed hash of visitor ids
//! and e-mail addresses, and the rebuild of every rollup from the raw tables.
//!
//! What each fact adds ([`plan_step`], pure): a conversion adds, for each credited
//! partner and for the program, one conversion and its attributed revenue (in the sale
//! currency, and converted to the program currency at the rate recorded for its instant),
//! a new or returning purchase for its customer, and one sale to the funnel under the
//! channel and campaign that brought it (its click's, else the partner's last
//! touchpoint's), with its click-to-conversion time; a ledger entry adds its amount under
//! its kind, at its conversion's instant for a commission and its own otherwise; a refund
//! adds the refunded revenue, split among the credited partners by weight (exactly: the
//! largest remainder), at the refund's instant.

mod queries;

pub use queries::{
    AnalyticsAsk, CLV_HORIZON_MONTHS, ChurnReport, Cohort, CustomersReport, ForecastReport,
    FunnelReport, InCurrency, MAX_RANGE_DAYS, PartnerChurn, PartnerCustomers, PartnerRevenue,
    Period, Ranked, Ranking, RevenuePoint, RevenueReport, Roi, RoiReport, Subject,
};

use super::{Engine, EngineError, Result};
use crate::domain::Currency;
use crate::domain::analytics::buckets::month_start;
use crate::domain::analytics::customers::{self, CustomerState, Purchase};
use crate::domain::analytics::rollup::{FunnelDelta, PROGRAM_ROW, Rollup, SalesDelta, ttc_bucket};
use crate::domain::ledger::EntryKind;
use crate::store::rollups::{AnalyticsFacts, AnalyticsWrites, ConversionFact, NewEvent};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sha2::Sha256;
use std::collections::HashMap;

/// Queue rows one step of the job takes in.
pub const ANALYTICS_BATCH: i64 = 2_000;

/// Steps one run of the job takes at most, so one replica's loop yields now and then.
const STEPS_PER_RUN: usize = 500;

/// `amount` in integer minor units of `currency` (amounts are stored with at most its
/// decimals; anything finer is rounded half to even, which does not happen for stored
/// amounts).
pub fn minor(amount: Decimal, currency: &str) -> i64 {
    let units = Currency::parse(currency).map_or(2, |c| c.minor_units());
    let scaled = amount * Decimal::from(10_i64.pow(units));
    scaled.round().to_i64().unwrap_or(0)
}

/// A money delta's amount converted to the program currency at `rate`, cut toward zero
/// at its minor unit (as pricing converts).
fn convert_minor(amount_minor: i64, from: &str, rate: Decimal, to: &str) -> i64 {
    let (Ok(f), Ok(t)) = (Currency::parse(from), Currency::parse(to)) else {
        return 0;
    };
    let amount = Decimal::new(amount_minor, f.minor_units());
    crate::domain::fx::convert(amount, rate, t).map_or(0, |d| minor(d, to))
}

/// Add `delta` (in `currency`) at `at_ms` to the native rows of `partner` and, with
/// `program_too`, of the program; and its money, converted, to the program-currency rows
/// (or count it unconverted).
#[allow(clippy::too_many_arguments)]
fn add_sales(
    r: &mut Rollup,
    facts: &AnalyticsFacts,
    program_id: &str,
    partner: &str,
    currency: &str,
    at_ms: i64,
    delta: &SalesDelta,
    program_delta: Option<&SalesDelta>,
) {
    r.sales(program_id, partner, currency, false, at_ms, delta);
    if let Some(d) = program_delta {
        r.sales(program_id, PROGRAM_ROW, currency, false, at_ms, d);
    }
    let Some(pc) = facts.program_currency.get(program_id) else {
        return;
    };
    if pc == currency {
        return;
    }
    let money = delta.money_only();
    let program_money = program_delta.map(SalesDelta::money_only);
    if money.is_zero() && program_money.is_none_or(|m| m.is_zero()) {
        return;
    }
    match facts.fx.rate_at(currency, pc, at_ms) {
        Some(rate) => {
            let conv = |d: &SalesDelta| d.map_money(|m| convert_minor(m, currency, rate, pc));
            r.sales(program_id, partner, pc, true, at_ms, &conv(&money));
            if let Some(m) = program_money {
                r.sales(program_id, PROGRAM_ROW, pc, true, at_ms, &conv(&m));
            }
        }
        None => {
            let missing = SalesDelta {
                unconverted: 1,
                ..SalesDelta::default()
            };
            r.sales(program_id, partner, currency, false, at_ms, &missing);
            if program_delta.is_some() {
                r.sales(program_id, PROGRAM_ROW, currency, false, at_ms, &missing);
            }
        }
    }
}

/// The channel and campaign a partner's sale came through: its click's when the click is
/// the partner's, else the partner's last touchpoint's, else none.
fn channel_of(c: &ConversionFact, partner: &str) -> (String, String) {
    if let Some(k) = c.click.as_ref().filter(|k| k.partner_id == partner) {
        return (
            k.channel.clone().unwrap_or_default(),
            k.campaign.clone().unwrap_or_default(),
        );
    }
    c.touchpoints
        .iter()
        .filter(|t| t.0 == partner)
        .max_by_key(|t| t.3)
        .map(|t| (t.1.clone(), t.2.clone().unwrap_or_default()))
        .unwrap_or_default()
}

fn ttc(c: &ConversionFact, partner: Option<&str>) -> [i64; 8] {
    let mut h = [0; 8];
    if let Some(k) = &c.click
        && partner.is_none_or(|p| p == k.partner_id)
    {
        h[ttc_bucket((c.occurred_at_ms - k.occurred_at_ms).max(0))] = 1;
    }
    h
}

/// Decide what one step's facts add to the rollups and the customers (pure).
pub fn plan_step(facts: &AnalyticsFacts) -> std::result::Result<AnalyticsWrites, String> {
    let mut w = AnalyticsWrites::default();
    let mut states: HashMap<(String, String), (CustomerState, bool)> = HashMap::new();
    for c in &facts.conversions {
        let credited: Vec<&(String, Decimal, Decimal)> = c
            .attributions
            .iter()
            .filter(|(_, weight, _)| *weight > Decimal::ZERO)
            .collect();
        let revenue_minor: Vec<i64> = credited.iter().map(|a| minor(a.2, &c.currency)).collect();
        let total: i64 = revenue_minor.iter().sum();
        // The customer: first purchase or not, the cohort cells, a purchase demoted.
        let mut is_new = None;
        if let Some(customer) = &c.customer_id {
            let key = (c.program_id.clone(), customer.clone());
            let known = states
                .remove(&key)
                .or_else(|| facts.customers.get(&key).map(|s| (s.clone(), false)));
            // A customer's revenue is the sale's, credited to a partner or not.
            let sale = minor(c.amount, &c.currency);
            let pc = facts.program_currency.get(&c.program_id);
            let revenue_pc = match pc {
                Some(pc) if pc != &c.currency => facts
                    .fx
                    .rate_at(&c.currency, pc, c.occurred_at_ms)
                    .map_or(0, |r| convert_minor(sale, &c.currency, r, pc)),
                _ => sale,
            };
            let purchase = Purchase {
                conversion_id: c.id.clone(),
                at_ms: c.occurred_at_ms,
                month_ms: month_start(c.occurred_at_ms),
                partners: credited.iter().map(|a| (a.0.clone(), a.1)).collect(),
                currency: c.currency.clone(),
                revenue_pc,
            };
            let inserted = known.as_ref().is_none_or(|(_, fresh)| *fresh);
            let (state, fx) = customers::take_in(known.map(|(s, _)| s), &purchase, month_start);
            for (cell, d) in fx.cohorts {
                let slot = w
                    .cohorts
                    .entry((c.program_id.clone(), cell))
                    .or_insert((0, 0, 0));
                slot.0 += d.0;
                slot.1 += d.1;
                slot.2 += d.2;
            }
            if let Some((at, partners, currency)) = fx.demoted {
                let flip = SalesDelta {
                    new_customers: -1,
                    returning_customers: 1,
                    ..SalesDelta::default()
                };
                for p in &partners {
                    w.rollup
                        .sales(&c.program_id, p, &currency, false, at, &flip);
                }
                if !partners.is_empty() {
                    w.rollup
                        .sales(&c.program_id, PROGRAM_ROW, &currency, false, at, &flip);
                }
            }
            is_new = Some(fx.is_new);
            states.insert(key, (state, inserted));
        }
        if credited.is_empty() {
            continue;
        }
        let customer_counts = SalesDelta {
            new_customers: i64::from(is_new == Some(true)),
            returning_customers: i64::from(is_new == Some(false)),
            ..SalesDelta::default()
        };
        for (a, revenue) in credited.iter().zip(&revenue_minor) {
            let d = SalesDelta {
                conversions: 1,
                revenue: *revenue,
                ..customer_counts
            };
            add_sales(
                &mut w.rollup,
                facts,
                &c.program_id,
                &a.0,
                &c.currency,
                c.occurred_at_ms,
                &d,
                None,
            );
            let (channel, campaign) = channel_of(c, &a.0);
            w.rollup.funnel(
                &c.program_id,
                &a.0,
                &channel,
                &campaign,
                c.occurred_at_ms,
                &FunnelDelta {
                    sales: 1,
                    ttc: ttc(c, Some(&a.0)),
                    ..FunnelDelta::default()
                },
            );
        }
        // The program's rows: the conversion once.
        let program = SalesDelta {
            conversions: 1,
            revenue: total,
            ..customer_counts
        };
        add_sales(
            &mut w.rollup,
            facts,
            &c.program_id,
            PROGRAM_ROW,
            &c.currency,
            c.occurred_at_ms,
            &program,
            None,
        );
        let top = customers::acquirer(
            &credited
                .iter()
                .map(|a| (a.0.clone(), a.1))
                .collect::<Vec<_>>(),
        );
        let (channel, campaign) = match &c.click {
            Some(k) => (
                k.channel.clone().unwrap_or_default(),
                k.campaign.clone().unwrap_or_default(),
            ),
            None => channel_of(c, &top),
        };
        w.rollup.funnel(
            &c.program_id,
            PROGRAM_ROW,
            &channel,
            &campaign,
            c.occurred_at_ms,
            &FunnelDelta {
                sales: 1,
                ttc: ttc(c, None),
                ..FunnelDelta::default()
            },
        );
    }
    for e in &facts.entries {
        let amount = minor(e.amount, &e.currency);
        let mut d = SalesDelta::default();
        match e.kind {
            EntryKind::Commission => d.commissions = amount,
            EntryKind::Bonus => d.bonuses = amount,
            EntryKind::Reversal => d.reversals = amount,
            EntryKind::Adjustment => d.adjustments = amount,
            EntryKind::Fee => d.fees = amount,
            EntryKind::Withholding => d.withholding = amount,
        }
        add_sales(
            &mut w.rollup,
            facts,
            &e.program_id,
            &e.partner_id,
            &e.currency,
            e.at_ms,
            &d,
            Some(&d),
        );
    }
    for r in &facts.refunds {
        let credited: Vec<&(String, Decimal, Decimal)> = r
            .attributions
            .iter()
            .filter(|(_, weight, _)| *weight > Decimal::ZERO)
            .collect();
        let currency = Currency::parse(&r.currency).map_err(|e| e.to_string())?;
        let weights: Vec<Decimal> = credited.iter().map(|a| a.1).collect();
        let ties: Vec<[u8; 32]> = credited
            .iter()
            .map(|a| crate::domain::tie_key(&r.conversion_id, &a.0))
            .collect();
        let shares = if credited.is_empty() {
            Vec::new()
        } else {
            crate::domain::split_largest_remainder(r.amount, &weights, &ties, currency)
                .map_err(|e| e.to_string())?
        };
        for (a, share) in credited.iter().zip(shares) {
            let d = SalesDelta {
                refunded: minor(share, &r.currency),
                ..SalesDelta::default()
            };
            add_sales(
                &mut w.rollup,
                facts,
                &r.program_id,
                &a.0,
                &r.currency,
                r.at_ms,
                &d,
                None,
            );
        }
        if !credited.is_empty() {
            let d = SalesDelta {
                refunded: minor(r.amount, &r.currency),
                ..SalesDelta::default()
            };
            add_sales(
                &mut w.rollup,
                facts,
                &r.program_id,
                PROGRAM_ROW,
                &r.currency,
                r.at_ms,
                &d,
                None,
            );
        }
    }
    let mut customers: Vec<((String, String), CustomerState, bool)> = states
        .into_iter()
        .map(|(k, (s, fresh))| (k, s, fresh))
        .collect();
    customers.sort_by(|a, b| a.0.cmp(&b.0));
    w.customers = customers;
    Ok(w)
}

/// What a page of click and lead events adds to the funnel rollup: each to its partner's
/// row and the program's, under its channel and campaign.
pub fn events_rollup<'a>(events: impl IntoIterator<Item = &'a NewEvent>) -> Rollup {
    let mut r = Rollup::default();
    for e in events {
        let d = if e.kind == "lead" {
            FunnelDelta {
                leads: 1,
                ..FunnelDelta::default()
            }
        } else {
            FunnelDelta {
                clicks: 1,
                ..FunnelDelta::default()
            }
        };
        let channel = e.channel.as_deref().unwrap_or_default();
        let campaign = e.campaign.as_deref().unwrap_or_default();
        for partner in [e.partner_id.as_str(), PROGRAM_ROW] {
            r.funnel(
                &e.program_id,
                partner,
                channel,
                campaign,
                e.occurred_at_ms,
                &d,
            );
        }
    }
    r
}

impl Engine {
    /// The keyed hash (HMAC-SHA256 under the deployment's `identity-key` instance secret)
    /// of `value` as `what` (`visitor`, `email`): matchable, not readable back, and
    /// different in every deployment.
    pub async fn identity_hash(&self, what: &str, value: &str) -> Result<String> {
        let key = self
            .identity_key
            .get_or_try_init(|| async { self.store.instance_secret("identity-key").await })
            .await?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .map_err(|e| EngineError::Internal(format!("identity key: {e}")))?;
        mac.update(what.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Replace a conversion's visitor id and e-mail address by their keyed hashes for
    /// the store (the address lower-cased and trimmed first, so `Ann@X.com ` matches
    /// `ann@x.com`).
    pub(super) async fn hash_signals(
        &self,
        record: &mut crate::store::NewConversion,
    ) -> Result<()> {
        let signals = &record.conversion.signals;
        if let Some(v) = &signals.visitor_id {
            record.visitor_hash = Some(self.identity_hash("visitor", v).await?);
        }
        if let Some(e) = &signals.customer_email {
            record.email_hash = Some(
                self.identity_hash("email", &e.trim().to_lowercase())
                    .await?,
            );
        }
        Ok(())
    }

    /// A conversion that names its click but not its visitor takes the click's visitor,
    /// so the fraud rules count one visitor's conversions whichever way it came.
    pub(super) async fn visitors_from_clicks(
        &self,
        records: &mut [crate::store::NewConversion],
    ) -> Result<()> {
        let mut wanted: HashMap<String, Vec<String>> = HashMap::new();
        for r in records.iter() {
            if r.visitor_hash.is_none()
                && let Some(k) = &r.conversion.signals.click_id
            {
                wanted
                    .entry(r.conversion.program_id.clone())
                    .or_default()
                    .push(k.clone());
            }
        }
        for (program, clicks) in wanted {
            let found = self.store.click_visitors(&program, &clicks).await?;
            for r in records.iter_mut() {
                if r.visitor_hash.is_none()
                    && r.conversion.program_id == program
                    && let Some(k) = &r.conversion.signals.click_id
                {
                    r.visitor_hash = found.get(k).cloned();
                }
            }
        }
        Ok(())
    }

    /// Take what is waiting in the analytics queue into the rollups, a batch per
    /// transaction, until it is empty (or after a bounded number of steps). Returns the
    /// queue rows taken in. Any replica may run it: each step claims its own rows.
    pub async fn run_analytics(&self) -> Result<usize> {
        let mut done = 0;
        for _ in 0..STEPS_PER_RUN {
            let mut attempt = 0;
            let (n, programs) = loop {
                attempt += 1;
                match self.store.analytics_step(ANALYTICS_BATCH, plan_step).await {
                    Ok(out) => break out,
                    // Two replicas took in a new customer at once, or locked rows in
                    // another order: the loser rolls back, and tries again.
                    Err(e)
                        if attempt < 5
                            && (crate::store::payouts::is_retryable(&e)
                                || matches!(e, crate::store::StoreError::Conflict(_))) =>
                    {
                        tracing::debug!(attempt, "analytics step retried: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            for p in programs {
                self.analytics_changed(&p);
            }
            done += n;
            if n < ANALYTICS_BATCH as usize {
                break;
            }
        }
        if done > 0 || self.store.has_alerts_to_freeze().await? {
            let frozen = self.freeze_alerted().await?;
            if frozen > 0 {
                tracing::info!(frozen, "conversions frozen by fraud alerts");
            }
        }
        Ok(done)
    }

    /// Rebuild every rollup from the raw tables (`accrue analytics backfill`): empty them,
    /// queue every fact again, rebuild the funnel from the events, and run the job until
    /// the queue is empty. Returns `(events, facts)` taken in.
    pub async fn rebuild_analytics(&self) -> Result<(u64, usize)> {
        let events = self.store.analytics_reset().await?;
        let mut facts = 0;
        loop {
            let n = self.run_analytics().await?;
            facts += n;
            if n == 0 {
                break;
            }
        }
        self.forget_analytics_cache();
        Ok((events, facts))
    }

    /// Forget every cached analytics answer (benches measure answers computed afresh).
    pub fn forget_analytics_cache(&self) {
        self.analytics_cache.invalidate_all();
        if let Ok(mut g) = self.analytics_generations.lock() {
            for v in g.values_mut() {
                *v += 1;
            }
        }
    }

    /// Note that `program_id`'s rollups changed: cached answers about it are stale.
    pub(super) fn analytics_changed(&self, program_id: &str) {
        if let Ok(mut g) = self.analytics_generations.lock() {
            *g.entry(program_id.to_owned()).or_default() += 1;
        }
    }

    /// The current generation of `program_id`'s rollups in this process.
    pub(super) fn analytics_generation(&self, program_id: &str) -> u64 {
        self.analytics_generations
            .lock()
            .ok()
            .and_then(|g| g.get(program_id).copied())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::minor;
    use rust_decimal::Decimal;

    #[test]
    fn minor_units_follow_the_currency() {
        assert_eq!(minor(Decimal::new(12_345, 2), "USD"), 12_345);
        assert_eq!(minor(Decimal::new(500, 0), "JPY"), 500);
        assert_eq!(minor(Decimal::new(-1_234, 3), "KWD"), -1_234);
        assert_eq!(minor(Decimal::new(12, 0), "USD"), 1_200);
    }
}
