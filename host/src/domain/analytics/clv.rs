//! Customer lifetime value: what a customer has brought so far, and what one is likely
//! to bring over a horizon, from cohort retention.
//!
//! **Retention.** A cohort is the customers whose first purchase fell in one month;
//! `active[k]` is how many of them bought in the k-th month after it (offset 0 is the
//! month itself, so `active[0]` is the cohort's size). [`retention`] pools the cohorts:
//! at each offset, Σ active / Σ size over the cohorts old enough to have that offset,
//! which is the size-weighted mean of their retention rates. [`monthly_retention`] turns
//! that curve into one month-to-month rate r, the geometric mean of the successive ratios
//! R(k) / R(k − 1). The product telescopes, so r = (R(K) / R(0))^(1/K): the constant rate
//! that takes the pooled curve from its first offset to its last (K, seen only by the
//! oldest cohorts, which makes r as reliable as they are numerous). r is capped to
//! [0.01, 0.99]: at 1 or more a customer would never leave and the value would have no
//! end; at 0, a month in which no observed customer came back, 0.01 keeps the rate
//! positive while counting (almost) only the current month.
//!
//! **Value.** With S(n) = Σ_{k=0}^{n−1} r^k = (1 − rⁿ) / (1 − r), the expected number of
//! months a customer is active in its first n months (for fractional n too):
//!
//! ```text
//! historical = revenue / customers
//! f          = orders / (customers · S(M))      orders per active customer-month,
//!                                               M = months_observed
//! projected  = AOV · f · S(H)                   AOV = revenue / orders, H = horizon
//!            = historical · S(H) / S(M)
//! ```
//!
//! The customers' observed months are not all active ones: dividing their orders by
//! S(M) rather than M counts only the months they were still buying, so churn is not
//! counted twice (once in f, once in S(H)). The projection is the value of a customer
//! over its first H months, from its first purchase; at H = M it equals the historical
//! value. Without retention (r unknown) f is orders per customer-month (as if nobody had
//! left) and nothing is projected.
//!
//! **Money.** Amounts in and out are `i64` minor units. `historical_minor` and
//! `average_order_minor` are exact integer divisions rounded half to even; the projection
//! is an estimate, computed with floats and rounded half to even once, at the end.

#![allow(clippy::float_arithmetic)]

use serde::Serialize;

/// The lowest monthly retention used (see the module documentation).
pub const MIN_MONTHLY_RETENTION: f64 = 0.01;
/// The highest monthly retention used: below 1, so that the value has an end.
pub const MAX_MONTHLY_RETENTION: f64 = 0.99;

/// One acquisition cohort's activity by month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CohortRow {
    /// The month of the cohort's first purchases, `YYYY-MM`.
    pub cohort_month: String,
    /// Customers in the cohort.
    pub size: u64,
    /// Customers of the cohort who bought in month offset 0, 1, 2, ... after its first
    /// month (offset 0 is the first month itself, so `active[0] == size`); as many
    /// offsets as the cohort is old.
    pub active: Vec<u64>,
}

/// The pooled retention per month offset: at each offset, the share of customers still
/// buying, over the cohorts old enough to have it, weighted by cohort size; `None` at an
/// offset where no cohort of customers has data. As long as the oldest cohort.
pub fn retention(rows: &[CohortRow]) -> Vec<Option<f64>> {
    let offsets = rows.iter().map(|r| r.active.len()).max().unwrap_or(0);
    (0..offsets)
        .map(|k| {
            let (active, size) = rows
                .iter()
                .filter(|r| r.active.len() > k)
                .fold((0_u128, 0_u128), |(a, s), r| {
                    (a + u128::from(r.active[k]), s + u128::from(r.size))
                });
            // Counts as floats: a rate is an estimate; u128 keeps the sums exact first.
            (size > 0).then(|| active as f64 / size as f64)
        })
        .collect()
}

/// The month-to-month retention rate of a pooled curve: the geometric mean of its
/// successive ratios, capped to [`MIN_MONTHLY_RETENTION`]..=[`MAX_MONTHLY_RETENTION`];
/// `None` when the curve has no two consecutive known offsets to compare (a ratio after
/// a zero is unknown and skipped).
pub fn monthly_retention(retention: &[Option<f64>]) -> Option<f64> {
    let ratios: Vec<f64> = retention
        .windows(2)
        .filter_map(|pair| match (pair[0], pair[1]) {
            (Some(before), Some(after)) if before > 0.0 => Some(after / before),
            _ => None,
        })
        .collect();
    if ratios.is_empty() {
        return None;
    }
    let rate = if ratios.contains(&0.0) {
        0.0
    } else {
        // Through logarithms: a product of many ratios could underflow.
        (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp()
    };
    cap(rate)
}

/// What [`clv`] needs about a set of customers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClvInput {
    /// Customers.
    pub customers: u64,
    /// Their orders.
    pub orders: u64,
    /// Their revenue, minor units.
    pub revenue_minor: i64,
    /// Average months since the customers' first purchase, counting the current month
    /// (at least 1; less is read as 1).
    pub months_observed: f64,
    /// The month-to-month retention, usually from [`monthly_retention`]; capped like it.
    pub monthly_retention: Option<f64>,
}

/// Customer lifetime value, historical and projected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clv {
    /// Revenue per customer so far, minor units.
    pub historical_minor: i64,
    /// Expected revenue of a customer over its first `horizon_months` months, minor
    /// units; `None` without retention data or customers.
    pub projected_minor: Option<i64>,
    /// The projection's horizon in months.
    pub horizon_months: u32,
    /// How the projection was made, or why it was not.
    pub method: String,
    /// Revenue per order, minor units (0 without orders).
    pub average_order_minor: i64,
    /// Orders per active customer per month.
    pub orders_per_customer_month: f64,
    /// The monthly retention used, after capping.
    pub monthly_retention: Option<f64>,
}

/// Historical and projected lifetime value (see the module documentation).
pub fn clv(input: &ClvInput, horizon_months: u32) -> Clv {
    let average_order_minor = divide_half_even(input.revenue_minor, input.orders).unwrap_or(0);
    let rate = input.monthly_retention.and_then(cap);
    let Some(historical_minor) = divide_half_even(input.revenue_minor, input.customers) else {
        return Clv {
            historical_minor: 0,
            projected_minor: None,
            horizon_months,
            method: "no customers: nothing to project".to_owned(),
            average_order_minor,
            orders_per_customer_month: 0.0,
            monthly_retention: rate,
        };
    };
    let months = if input.months_observed >= 1.0 {
        input.months_observed
    } else {
        1.0
    };
    // Counts and revenue as floats: the projection is an estimate, rounded once below.
    let customers = input.customers as f64;
    let observed_active = rate.map_or(months, |r| active_months(r, months));
    let orders_per_customer_month = input.orders as f64 / (customers * observed_active);
    let Some(r) = rate else {
        return Clv {
            historical_minor,
            projected_minor: None,
            horizon_months,
            method: "historical only: no retention data".to_owned(),
            average_order_minor,
            orders_per_customer_month,
            monthly_retention: None,
        };
    };
    // AOV · f · S(H), written as revenue per active customer-month · S(H) so that it
    // holds without orders too.
    let per_active_month = input.revenue_minor as f64 / (customers * observed_active);
    let projected = per_active_month * active_months(r, f64::from(horizon_months));
    Clv {
        historical_minor,
        projected_minor: Some(projected.round_ties_even() as i64),
        horizon_months,
        method: format!(
            "average order × orders per active customer-month × Σ r^k over \
             {horizon_months} months, r = {r:.4}"
        ),
        average_order_minor,
        orders_per_customer_month,
        monthly_retention: Some(r),
    }
}

/// S(n) = Σ_{k=0}^{n−1} rᵏ = (1 − rⁿ) / (1 − r): a customer's expected active months in
/// its first n (r < 1 by the cap).
fn active_months(r: f64, months: f64) -> f64 {
    (1.0 - r.powf(months)) / (1.0 - r)
}

fn cap(rate: f64) -> Option<f64> {
    rate.is_finite()
        .then(|| rate.clamp(MIN_MONTHLY_RETENTION, MAX_MONTHLY_RETENTION))
}

/// `amount / count` rounded half to even, exactly; `None` when `count` is 0.
fn divide_half_even(amount: i64, count: u64) -> Option<i64> {
    if count == 0 {
        return None;
    }
    let (n, d) = (i128::from(amount).unsigned_abs(), u128::from(count));
    let (mut q, rem) = (n / d, n % d);
    if 2 * rem > d || (2 * rem == d && q % 2 == 1) {
        q += 1;
    }
    // |q| ≤ |amount|, so it fits.
    let q = i64::try_from(q).ok()?;
    Some(if amount < 0 { -q } else { q })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(month: &str, active: &[u64]) -> CohortRow {
        CohortRow {
            cohort_month: month.to_owned(),
            size: active[0],
            active: active.to_vec(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn retention_pools_by_cohort_size() {
        let rows = [
            row("2026-01", &[100, 60, 30]),
            row("2026-02", &[50, 20]),
            row("2026-03", &[50]),
        ];
        let curve = retention(&rows);
        assert_eq!(curve.len(), 3);
        assert!(close(curve[0].unwrap(), 1.0));
        // (60 + 20) / (100 + 50), then 30 / 100.
        assert!(close(curve[1].unwrap(), 80.0 / 150.0));
        assert!(close(curve[2].unwrap(), 0.3));
    }

    #[test]
    fn retention_without_customers_is_unknown() {
        assert!(retention(&[]).is_empty());
        let empty = CohortRow {
            cohort_month: "2026-01".to_owned(),
            size: 0,
            active: vec![0, 0],
        };
        assert_eq!(retention(&[empty]), vec![None, None]);
    }

    #[test]
    fn monthly_retention_is_the_geometric_mean_of_the_ratios() {
        let curve = [Some(1.0), Some(80.0 / 150.0), Some(0.3)];
        // (0.533 · 0.5625)^(1/2) = √0.3.
        assert!(close(monthly_retention(&curve).unwrap(), 0.3_f64.sqrt()));
        assert!(close(
            monthly_retention(&[Some(1.0), Some(0.5), Some(0.25), Some(0.125)]).unwrap(),
            0.5
        ));
    }

    #[test]
    fn monthly_retention_is_capped_and_needs_two_offsets() {
        assert_eq!(monthly_retention(&[]), None);
        assert_eq!(monthly_retention(&[Some(1.0)]), None);
        assert_eq!(monthly_retention(&[Some(1.0), None]), None);
        assert_eq!(monthly_retention(&[Some(0.0), Some(0.0)]), None);
        assert_eq!(monthly_retention(&[Some(1.0), Some(1.2)]), Some(0.99));
        assert_eq!(monthly_retention(&[Some(1.0), Some(0.0)]), Some(0.01));
    }

    fn input(customers: u64, orders: u64, revenue_minor: i64, months: f64) -> ClvInput {
        ClvInput {
            customers,
            orders,
            revenue_minor,
            months_observed: months,
            monthly_retention: Some(0.5),
        }
    }

    #[test]
    fn clv_by_hand() {
        // 100 customers, 300 orders, 15 000.00 over 3 months on average, r = 0.5.
        let value = clv(&input(100, 300, 1_500_000, 3.0), 12);
        assert_eq!(value.historical_minor, 15_000);
        assert_eq!(value.average_order_minor, 5_000);
        // S(3) = 1 + 0.5 + 0.25 = 1.75: 300 orders / 175 active customer-months.
        assert!(close(value.orders_per_customer_month, 300.0 / 175.0));
        // 5 000 × 1.714 285 7 × S(12) = 1.999 511 718 75: 17 138.67.
        assert_eq!(value.projected_minor, Some(17_139));
        assert_eq!(value.monthly_retention, Some(0.5));
        assert_eq!(value.horizon_months, 12);
        assert!(value.method.contains("r = 0.5000"), "{}", value.method);
    }

    #[test]
    fn the_projection_over_the_observed_months_is_the_history() {
        let value = clv(&input(100, 300, 1_500_000, 3.0), 3);
        assert_eq!(value.projected_minor, Some(value.historical_minor));
    }

    #[test]
    fn money_is_rounded_half_to_even() {
        assert_eq!(clv(&input(10, 10, 25, 1.0), 1).historical_minor, 2);
        assert_eq!(clv(&input(10, 10, 35, 1.0), 1).historical_minor, 4);
        assert_eq!(clv(&input(10, 10, -25, 1.0), 1).historical_minor, -2);
        assert_eq!(clv(&input(10, 4, 10, 1.0), 1).average_order_minor, 2);
        // One month observed, r = 0.5: 3 × S(2) = 4.5 → 4; 1 × 1.5 → 2.
        assert_eq!(clv(&input(1, 1, 3, 1.0), 2).projected_minor, Some(4));
        assert_eq!(clv(&input(1, 1, 1, 1.0), 2).projected_minor, Some(2));
    }

    #[test]
    fn without_retention_only_history() {
        let value = clv(
            &ClvInput {
                monthly_retention: None,
                ..input(100, 300, 1_500_000, 3.0)
            },
            12,
        );
        assert_eq!(value.historical_minor, 15_000);
        assert_eq!(value.projected_minor, None);
        assert!(close(value.orders_per_customer_month, 1.0));
        assert_eq!(value.method, "historical only: no retention data");
    }

    #[test]
    fn without_customers_nothing() {
        let value = clv(&input(0, 0, 0, 3.0), 12);
        assert_eq!(value.historical_minor, 0);
        assert_eq!(value.projected_minor, None);
        assert_eq!(value.average_order_minor, 0);
    }

    #[test]
    fn the_given_retention_is_capped_and_months_at_least_one() {
        let rate = |r: f64| {
            clv(
                &ClvInput {
                    monthly_retention: Some(r),
                    ..input(1, 1, 100, 1.0)
                },
                2,
            )
        };
        assert_eq!(rate(1.5).monthly_retention, Some(0.99));
        assert_eq!(rate(1.5).projected_minor, Some(199));
        assert_eq!(rate(0.0).monthly_retention, Some(0.01));
        assert_eq!(rate(0.0).projected_minor, Some(101));
        assert_eq!(rate(f64::NAN).projected_minor, None);
        // 0.2 months is read as 1.
        assert_eq!(
            clv(&input(1, 1, 100, 0.2), 2),
            clv(&input(1, 1, 100, 1.0), 2)
        );
    }
}
