//! Customers: first purchase, acquisition, new against returning purchases, and the
//! cohort matrix (customers by the month of their first purchase, and what they bought in
//! each month since), kept as each purchase is taken in, in any order.
//!
//! A purchase is *new* when it is its customer's earliest; the partner that *acquired* a
//! customer is the one with the largest share of that earliest purchase (ties: the
//! smallest partner id; none: `""`). A purchase that arrives after a later one of the
//! same customer (a late conversion) becomes the first: the customer moves to its cohort
//! and acquiring partner, and the purchase that was first is counted again as returning
//! ([`Effects::demoted`]). So the state after any order of arrival is the state the
//! purchases give in time order.

use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// What is kept of one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerState {
    /// The earliest purchase's instant (ms).
    pub first_ms: i64,
    /// The earliest purchase's conversion id.
    pub first_conversion_id: String,
    /// The acquiring partner (`""` for none).
    pub acquired_by: String,
    /// The partners credited with the earliest purchase.
    pub first_partners: Vec<String>,
    /// The earliest purchase's currency.
    pub first_currency: String,
    /// Per month (UTC month start, ms): orders and revenue in the program currency (minor
    /// units).
    pub months: BTreeMap<i64, (i64, i64)>,
}

/// One purchase as the cohort rules read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    /// Conversion id.
    pub conversion_id: String,
    /// Instant (ms).
    pub at_ms: i64,
    /// The UTC month start of `at_ms`.
    pub month_ms: i64,
    /// Credited partners and their weights.
    pub partners: Vec<(String, Decimal)>,
    /// Sale currency.
    pub currency: String,
    /// Revenue in the program currency (minor units; 0 when it could not be converted).
    pub revenue_pc: i64,
}

/// A cohort matrix cell: `(partner, cohort month, month)`; partner `""` is the program.
pub type CohortKey = (String, i64, i64);

/// What a cohort cell gains: customers active, orders, revenue (program currency).
pub type CohortDelta = (i64, i64, i64);

/// What taking in one purchase changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Whether the purchase is its customer's first (so far).
    pub is_new: bool,
    /// The purchase that was first and is not any more: `(instant, partners, currency)`;
    /// its counts move from new to returning.
    pub demoted: Option<(i64, Vec<String>, String)>,
    /// Cohort cells, added to.
    pub cohorts: BTreeMap<CohortKey, CohortDelta>,
}

/// The partner with the largest weight (ties: the smallest id), or `""`.
pub fn acquirer(partners: &[(String, Decimal)]) -> String {
    partners
        .iter()
        .filter(|(_, w)| *w > Decimal::ZERO)
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|(p, _)| p.clone())
        .unwrap_or_default()
}

fn add(cells: &mut BTreeMap<CohortKey, CohortDelta>, key: CohortKey, d: CohortDelta) {
    let c = cells.entry(key).or_insert((0, 0, 0));
    c.0 += d.0;
    c.1 += d.1;
    c.2 += d.2;
}

/// Add one customer-month to the cells of its acquirer (none for a customer no partner
/// brought) and of the program.
fn cell(
    cells: &mut BTreeMap<CohortKey, CohortDelta>,
    acquired_by: &str,
    cohort_ms: i64,
    month_ms: i64,
    d: CohortDelta,
) {
    if !acquired_by.is_empty() {
        add(cells, (acquired_by.to_owned(), cohort_ms, month_ms), d);
    }
    add(cells, (String::new(), cohort_ms, month_ms), d);
}

/// Take in `purchase` for a customer whose state is `state` (`None`: not seen before).
/// Returns the new state and what changed. `month_of` gives a UTC month's start.
pub fn take_in(
    state: Option<CustomerState>,
    purchase: &Purchase,
    month_of: impl Fn(i64) -> i64,
) -> (CustomerState, Effects) {
    let partners: Vec<String> = purchase
        .partners
        .iter()
        .filter(|(_, w)| *w > Decimal::ZERO)
        .map(|(p, _)| p.clone())
        .collect();
    let mut fx = Effects::default();
    let Some(mut s) = state else {
        let s = CustomerState {
            first_ms: purchase.at_ms,
            first_conversion_id: purchase.conversion_id.clone(),
            acquired_by: acquirer(&purchase.partners),
            first_partners: partners,
            first_currency: purchase.currency.clone(),
            months: BTreeMap::from([(purchase.month_ms, (1, purchase.revenue_pc))]),
        };
        cell(
            &mut fx.cohorts,
            &s.acquired_by,
            purchase.month_ms,
            purchase.month_ms,
            (1, 1, purchase.revenue_pc),
        );
        fx.is_new = true;
        return (s, fx);
    };
    let earlier = (purchase.at_ms, &purchase.conversion_id) < (s.first_ms, &s.first_conversion_id);
    if earlier {
        // The customer moves: every month it bought in leaves the old cohort and acquirer
        // and joins the new ones.
        let (old_cohort, new_cohort) = (month_of(s.first_ms), purchase.month_ms);
        let new_acquirer = acquirer(&purchase.partners);
        for (&m, &(orders, revenue)) in &s.months {
            cell(
                &mut fx.cohorts,
                &s.acquired_by,
                old_cohort,
                m,
                (-1, -orders, -revenue),
            );
            cell(
                &mut fx.cohorts,
                &new_acquirer,
                new_cohort,
                m,
                (1, orders, revenue),
            );
        }
        fx.demoted = Some((
            s.first_ms,
            std::mem::take(&mut s.first_partners),
            std::mem::take(&mut s.first_currency),
        ));
        s.first_ms = purchase.at_ms;
        s.first_conversion_id = purchase.conversion_id.clone();
        s.acquired_by = new_acquirer;
        s.first_partners = partners;
        s.first_currency = purchase.currency.clone();
        fx.is_new = true;
    }
    let cohort = month_of(s.first_ms);
    let month = s.months.entry(purchase.month_ms).or_insert((0, 0));
    let newly_active = month.0 == 0;
    month.0 += 1;
    month.1 += purchase.revenue_pc;
    cell(
        &mut fx.cohorts,
        &s.acquired_by,
        cohort,
        purchase.month_ms,
        (i64::from(newly_active), 1, purchase.revenue_pc),
    );
    (s, fx)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 2_592_000_000; // "months" of 30 days, for the test's own month_of

    fn month_of(ms: i64) -> i64 {
        ms.div_euclid(M) * M
    }

    fn buy(id: &str, at: i64, partners: &[(&str, i64)], revenue: i64) -> Purchase {
        Purchase {
            conversion_id: id.into(),
            at_ms: at,
            month_ms: month_of(at),
            partners: partners
                .iter()
                .map(|(p, w)| ((*p).to_owned(), Decimal::new(*w, 1)))
                .collect(),
            currency: "USD".into(),
            revenue_pc: revenue,
        }
    }

    /// Take purchases in the given order; the cohort matrix and the final state.
    fn run(order: &[Purchase]) -> (CustomerState, BTreeMap<CohortKey, CohortDelta>, i64) {
        let mut state = None;
        let mut cells = BTreeMap::new();
        let mut new_count = 0;
        for p in order {
            let (s, fx) = take_in(state, p, month_of);
            new_count += i64::from(fx.is_new) - i64::from(fx.demoted.is_some());
            for (k, d) in fx.cohorts {
                add(&mut cells, k, d);
            }
            state = Some(s);
        }
        cells.retain(|_, d| *d != (0, 0, 0));
        (state.expect("state"), cells, new_count)
    }

    #[test]
    fn any_order_of_arrival_gives_the_state_of_time_order() {
        let a = buy("o1", 10, &[("alice", 7), ("bob", 3)], 1000);
        let b = buy("o2", M + 5, &[("bob", 10)], 500);
        let c = buy("o3", M + 9, &[("carol", 10)], 250);
        let (s1, m1, n1) = run(&[a.clone(), b.clone(), c.clone()]);
        for order in [
            vec![c.clone(), b.clone(), a.clone()],
            vec![b.clone(), a.clone(), c.clone()],
            vec![c.clone(), a.clone(), b.clone()],
        ] {
            let (s, m, n) = run(&order);
            assert_eq!((&s, &m, n), (&s1, &m1, n1), "{order:?}");
        }
        assert_eq!(s1.acquired_by, "alice");
        assert_eq!(s1.first_conversion_id, "o1");
        assert_eq!(n1, 1, "one new purchase");
        // Cohort 0: active in month 0 (1 order, 1000) and month 1 (2 orders, 750), for
        // alice and the program.
        for who in ["alice", ""] {
            assert_eq!(m1[&(who.to_owned(), 0, 0)], (1, 1, 1000));
            assert_eq!(m1[&(who.to_owned(), 0, M)], (1, 2, 750));
        }
        assert_eq!(m1.len(), 4);
    }

    #[test]
    fn acquirer_takes_the_largest_share_then_the_smallest_id() {
        let p = |v: &[(&str, i64)]| -> Vec<(String, Decimal)> {
            v.iter()
                .map(|(a, w)| ((*a).to_owned(), Decimal::new(*w, 1)))
                .collect()
        };
        assert_eq!(acquirer(&p(&[("b", 5), ("a", 5)])), "a");
        assert_eq!(acquirer(&p(&[("b", 6), ("a", 4)])), "b");
        assert_eq!(acquirer(&[]), "");
    }
}
