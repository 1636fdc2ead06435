//! What each fact adds to the rollups: deltas keyed by (program, partner, currency or
//! channel and campaign, grain, bucket), gathered for a batch of facts and written in key
//! order (so concurrent writers lock rows in one order and never deadlock).
//!
//! A fact is added to one bucket of every grain ([`super::buckets::GRAINS`]) and, beside
//! its partner's row, to the whole program's row (partner `""`). Money is in integer
//! minor units of its currency; a fact in another currency than the program's is also
//! added, converted at the rate recorded for its instant, to the program-currency rows
//! (`converted`), or counted as `unconverted` when no rate is recorded.

use super::buckets::{GRAINS, Grain};
use std::collections::BTreeMap;

/// The partner id of a program's own rows.
pub const PROGRAM_ROW: &str = "";

/// A sales rollup row's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SalesKey {
    /// Program.
    pub program_id: String,
    /// Grain.
    pub grain: Grain,
    /// Partner, or [`PROGRAM_ROW`].
    pub partner_id: String,
    /// Currency of the amounts.
    pub currency: String,
    /// Whether the amounts were converted from another currency into the program's.
    pub converted: bool,
    /// Bucket start (ms).
    pub bucket_ms: i64,
}

/// What a batch adds to one sales row (every amount in minor units).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SalesDelta {
    /// Conversions credited (a partner's row: conversions it has a share of; the
    /// program's: conversions with any partner).
    pub conversions: i64,
    /// Of those, a customer's first purchase.
    pub new_customers: i64,
    /// Of those, a known customer's later purchase.
    pub returning_customers: i64,
    /// Attributed revenue.
    pub revenue: i64,
    /// Revenue refunded.
    pub refunded: i64,
    /// Commission entries.
    pub commissions: i64,
    /// Bonus entries.
    pub bonuses: i64,
    /// Reversal entries (refunds, upheld disputes), negative.
    pub reversals: i64,
    /// Adjustment entries.
    pub adjustments: i64,
    /// Payout fee entries, negative.
    pub fees: i64,
    /// Withholding entries, negative.
    pub withholding: i64,
    /// Facts in this currency that could not be converted to the program's (no rate).
    pub unconverted: i64,
}

impl SalesDelta {
    fn add(&mut self, o: &Self) {
        self.conversions += o.conversions;
        self.new_customers += o.new_customers;
        self.returning_customers += o.returning_customers;
        self.revenue += o.revenue;
        self.refunded += o.refunded;
        self.commissions += o.commissions;
        self.bonuses += o.bonuses;
        self.reversals += o.reversals;
        self.adjustments += o.adjustments;
        self.fees += o.fees;
        self.withholding += o.withholding;
        self.unconverted += o.unconverted;
    }

    /// The columns in stored order, with their names (the store writes them generically).
    pub fn columns(&self) -> [(&'static str, i64); 12] {
        [
            ("conversions", self.conversions),
            ("new_customers", self.new_customers),
            ("returning_customers", self.returning_customers),
            ("revenue", self.revenue),
            ("refunded", self.refunded),
            ("commissions", self.commissions),
            ("bonuses", self.bonuses),
            ("reversals", self.reversals),
            ("adjustments", self.adjustments),
            ("fees", self.fees),
            ("withholding", self.withholding),
            ("unconverted", self.unconverted),
        ]
    }

    /// Money amounts only (what is converted to the program currency).
    pub fn money_only(&self) -> Self {
        Self {
            conversions: 0,
            new_customers: 0,
            returning_customers: 0,
            unconverted: 0,
            ..*self
        }
    }

    /// This delta's money amounts mapped through `f` (a conversion to another currency).
    pub fn map_money(&self, mut f: impl FnMut(i64) -> i64) -> Self {
        Self {
            revenue: f(self.revenue),
            refunded: f(self.refunded),
            commissions: f(self.commissions),
            bonuses: f(self.bonuses),
            reversals: f(self.reversals),
            adjustments: f(self.adjustments),
            fees: f(self.fees),
            withholding: f(self.withholding),
            ..*self
        }
    }

    /// Whether it adds anything.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// The names of the sales rollup's value columns, in stored order.
pub const SALES_COLUMNS: [&str; 12] = [
    "conversions",
    "new_customers",
    "returning_customers",
    "revenue",
    "refunded",
    "commissions",
    "bonuses",
    "reversals",
    "adjustments",
    "fees",
    "withholding",
    "unconverted",
];

/// A funnel rollup row's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunnelKey {
    /// Program.
    pub program_id: String,
    /// Grain.
    pub grain: Grain,
    /// Partner, or [`PROGRAM_ROW`].
    pub partner_id: String,
    /// Channel (`""` when none is known).
    pub channel: String,
    /// Campaign (`""` when none).
    pub campaign: String,
    /// Bucket start (ms).
    pub bucket_ms: i64,
}

/// The click-to-conversion time histogram's upper bounds (ms, exclusive); the last
/// bucket is everything longer.
pub const TTC_BOUNDS_MS: [i64; 7] = [
    60_000,
    10 * 60_000,
    60 * 60_000,
    6 * 3_600_000,
    24 * 3_600_000,
    7 * 86_400_000,
    30 * 86_400_000,
];

/// Labels of the histogram's buckets.
pub const TTC_LABELS: [&str; 8] = [
    "under 1 min",
    "1–10 min",
    "10–60 min",
    "1–6 h",
    "6–24 h",
    "1–7 days",
    "7–30 days",
    "30 days or more",
];

/// The histogram bucket of a click-to-conversion time.
pub fn ttc_bucket(ms: i64) -> usize {
    TTC_BOUNDS_MS
        .iter()
        .position(|b| ms < *b)
        .unwrap_or(TTC_BOUNDS_MS.len())
}

/// What a batch adds to one funnel row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunnelDelta {
    /// Clicks.
    pub clicks: i64,
    /// Leads.
    pub leads: i64,
    /// Sales.
    pub sales: i64,
    /// Sales by click-to-conversion time ([`TTC_BOUNDS_MS`]).
    pub ttc: [i64; 8],
}

impl FunnelDelta {
    fn add(&mut self, o: &Self) {
        self.clicks += o.clicks;
        self.leads += o.leads;
        self.sales += o.sales;
        for (a, b) in self.ttc.iter_mut().zip(o.ttc) {
            *a += b;
        }
    }
}

/// The deltas of a batch of facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollup {
    /// Sales rows, in key order.
    pub sales: BTreeMap<SalesKey, SalesDelta>,
    /// Funnel rows, in key order.
    pub funnel: BTreeMap<FunnelKey, FunnelDelta>,
}

impl Rollup {
    /// Add `delta` at instant `at_ms` to the row of `partner_id` (or the program's, with
    /// [`PROGRAM_ROW`]) in `currency`, at every grain.
    pub fn sales(
        &mut self,
        program_id: &str,
        partner_id: &str,
        currency: &str,
        converted: bool,
        at_ms: i64,
        delta: &SalesDelta,
    ) {
        if delta.is_zero() {
            return;
        }
        for grain in GRAINS {
            self.sales
                .entry(SalesKey {
                    program_id: program_id.to_owned(),
                    grain,
                    partner_id: partner_id.to_owned(),
                    currency: currency.to_owned(),
                    converted,
                    bucket_ms: grain.floor(at_ms),
                })
                .or_default()
                .add(delta);
        }
    }

    /// Add `delta` at instant `at_ms` to the funnel row of `partner_id` (or the
    /// program's), `channel` and `campaign`, at every grain.
    pub fn funnel(
        &mut self,
        program_id: &str,
        partner_id: &str,
        channel: &str,
        campaign: &str,
        at_ms: i64,
        delta: &FunnelDelta,
    ) {
        for grain in GRAINS {
            self.funnel
                .entry(FunnelKey {
                    program_id: program_id.to_owned(),
                    grain,
                    partner_id: partner_id.to_owned(),
                    channel: channel.to_owned(),
                    campaign: campaign.to_owned(),
                    bucket_ms: grain.floor(at_ms),
                })
                .or_default()
                .add(delta);
        }
    }

    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.sales.is_empty() && self.funnel.is_empty()
    }

    /// The programs whose rows this batch touches.
    pub fn programs(&self) -> std::collections::BTreeSet<String> {
        self.sales
            .keys()
            .map(|k| k.program_id.clone())
            .chain(self.funnel.keys().map(|k| k.program_id.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analytics::buckets::{DAY_MS, HOUR_MS, QUARTER_MS};

    #[test]
    fn a_fact_lands_in_one_bucket_of_each_grain() {
        let mut r = Rollup::default();
        let at = 20_000 * DAY_MS + 5 * HOUR_MS + 2 * QUARTER_MS + 7;
        let d = SalesDelta {
            conversions: 1,
            revenue: 1234,
            ..SalesDelta::default()
        };
        r.sales("p", "a", "USD", false, at, &d);
        r.sales("p", "a", "USD", false, at + 1, &d);
        assert_eq!(r.sales.len(), 3);
        let buckets: Vec<(Grain, i64)> = r.sales.keys().map(|k| (k.grain, k.bucket_ms)).collect();
        assert_eq!(
            buckets,
            vec![
                (Grain::Day, 20_000 * DAY_MS),
                (Grain::Hour, at - 7 - 2 * QUARTER_MS),
                (Grain::Quarter, at - 7),
            ]
        );
        assert!(
            r.sales
                .values()
                .all(|v| v.revenue == 2468 && v.conversions == 2)
        );
        r.sales("p", "a", "USD", false, at, &SalesDelta::default());
        assert_eq!(r.sales.len(), 3, "nothing added for a zero delta");
    }

    #[test]
    fn ttc_buckets() {
        assert_eq!(ttc_bucket(0), 0);
        assert_eq!(ttc_bucket(59_999), 0);
        assert_eq!(ttc_bucket(60_000), 1);
        assert_eq!(ttc_bucket(29 * 86_400_000), 6);
        assert_eq!(ttc_bucket(31 * 86_400_000), 7);
        assert_eq!(TTC_LABELS.len(), TTC_BOUNDS_MS.len() + 1);
    }

    #[test]
    fn money_conversion_keeps_the_counts() {
        let d = SalesDelta {
            conversions: 2,
            revenue: 1000,
            commissions: 150,
            ..SalesDelta::default()
        };
        let c = d.money_only().map_money(|m| m * 2);
        assert_eq!((c.conversions, c.revenue, c.commissions), (0, 2000, 300));
    }
}
