//! Analytics conformance: the rollups the job and the event ingest keep equal a scan of
//! the raw tables (conversions, attributions, entries, refunds, events), computed here
//! independently of the rollup code; every grain adds up to the same totals; a rebuild
//! from the raw tables gives the same rows; new against returning customers and cohorts
//! follow the customers' first purchases whatever the order they arrive in.

use super::*;
use crate::domain::conversion::Signals;
use crate::engine::{EventInput, EventKind, EventOutcome};
use chrono_tz::Tz;
use sqlx::Row;

fn ask_without_group(a: &AnalyticsAsk) -> AnalyticsAsk {
    AnalyticsAsk {
        group_by: Some("channel".into()),
        ..a.clone()
    }
}
use std::collections::BTreeMap;

/// (partner, currency, converted, day) to the sales columns, read from the rollup.
type SalesRows = BTreeMap<(String, String, i64, i64), Vec<i64>>;

const SALES: [&str; 12] = crate::domain::analytics::rollup::SALES_COLUMNS;

async fn rollup_sales(f: &Fixture, grain: &str) -> SalesRows {
    let cols = SALES.join(", ");
    let rows = sqlx::query(&format!(
        "SELECT partner_id, currency, converted, bucket_ms, {cols} FROM rollup_sales
         WHERE program_id = 'p' AND grain = $1"
    ))
    .bind(grain)
    .fetch_all(f.engine.store().pool())
    .await
    .expect("rollup rows");
    let mut out = SalesRows::new();
    for r in rows {
        let bucket: i64 = r.get("bucket_ms");
        let key = (
            r.get::<String, _>("partner_id"),
            r.get::<String, _>("currency"),
            r.get::<i64, _>("converted"),
            bucket.div_euclid(DAY) * DAY,
        );
        let v: Vec<i64> = SALES.iter().map(|c| r.get::<i64, _>(*c)).collect();
        let slot = out.entry(key).or_insert_with(|| vec![0; SALES.len()]);
        for (a, b) in slot.iter_mut().zip(v) {
            *a += b;
        }
    }
    out.retain(|_, v| v.iter().any(|x| *x != 0));
    out
}

fn minor(d: Decimal) -> i64 {
    crate::engine::analytics::minor(d, "USD")
}

fn day(ms: i64) -> i64 {
    ms.div_euclid(DAY) * DAY
}

/// The independent scan: sales columns by (partner or "", currency, 0, day), from the raw
/// tables (every currency here has two decimals).
async fn scan(f: &Fixture) -> SalesRows {
    let pool = f.engine.store().pool();
    let t = f.engine.store().dialect().text();
    let mut out = SalesRows::new();
    let mut add = |partner: &str, currency: &str, at: i64, column: &str, v: i64| {
        let i = SALES.iter().position(|c| *c == column).expect("column");
        let slot = out
            .entry((partner.to_owned(), currency.to_owned(), 0, day(at)))
            .or_insert_with(|| vec![0; SALES.len()]);
        slot[i] += v;
    };
    // Conversions and attributed revenue, per credited partner and once for the program.
    let rows = sqlx::query(&format!(
        "SELECT a.conversion_id, a.partner_id, a.attributed_amount{t} AS amount, c.currency, c.occurred_at_ms
         FROM revenue_attributions a JOIN conversions c ON c.program_id = a.program_id AND c.id = a.conversion_id
         WHERE a.program_id = 'p' AND a.weight > 0"
    ))
    .fetch_all(pool)
    .await
    .expect("attributions");
    let mut by_conversion: BTreeMap<String, (String, i64, i64)> = BTreeMap::new();
    for r in &rows {
        let amount = minor(dec(&r.get::<String, _>("amount")));
        let currency: String = r.get("currency");
        let at: i64 = r.get("occurred_at_ms");
        add(
            &r.get::<String, _>("partner_id"),
            &currency,
            at,
            "conversions",
            1,
        );
        add(
            &r.get::<String, _>("partner_id"),
            &currency,
            at,
            "revenue",
            amount,
        );
        let c = by_conversion
            .entry(r.get("conversion_id"))
            .or_insert((currency, at, 0));
        c.2 += amount;
    }
    for (currency, at, amount) in by_conversion.values() {
        add("", currency, *at, "conversions", 1);
        add("", currency, *at, "revenue", *amount);
    }
    // Entries by kind: commissions at their conversion's instant, the rest at their own.
    let rows = sqlx::query(&format!(
        "SELECT e.partner_id, e.kind, e.amount{t} AS amount, e.currency, e.created_at_ms, c.occurred_at_ms
         FROM ledger_entries e LEFT JOIN conversions c ON c.program_id = e.program_id AND c.id = e.conversion_id
         WHERE e.program_id = 'p'"
    ))
    .fetch_all(pool)
    .await
    .expect("entries");
    for r in rows {
        let kind: String = r.get("kind");
        let column = match kind.as_str() {
            "commission" => "commissions",
            "bonus" => "bonuses",
            "reversal" => "reversals",
            "adjustment" => "adjustments",
            "fee" => "fees",
            _ => "withholding",
        };
        let at: i64 = if kind == "commission" {
            r.get("occurred_at_ms")
        } else {
            r.get("created_at_ms")
        };
        let amount = minor(dec(&r.get::<String, _>("amount")));
        let currency: String = r.get("currency");
        add(
            &r.get::<String, _>("partner_id"),
            &currency,
            at,
            column,
            amount,
        );
        add("", &currency, at, column, amount);
    }
    // Refunds: the program's whole amount (the partners' shares are checked apart).
    let rows = sqlx::query(&format!(
        "SELECT r.amount{t} AS amount, r.created_at_ms, c.currency FROM refunds r
         JOIN conversions c ON c.program_id = r.program_id AND c.id = r.conversion_id WHERE r.program_id = 'p'"
    ))
    .fetch_all(pool)
    .await
    .expect("refunds");
    for r in rows {
        let amount = minor(dec(&r.get::<String, _>("amount")));
        add(
            "",
            &r.get::<String, _>("currency"),
            r.get("created_at_ms"),
            "refunded",
            amount,
        );
    }
    out.retain(|_, v| v.iter().any(|x| *x != 0));
    out
}

fn click(id: &str, partner: &str, at: i64, channel: &str, campaign: Option<&str>) -> EventInput {
    EventInput {
        program_id: "p".into(),
        id: id.into(),
        kind: EventKind::Click,
        partner_id: partner.into(),
        occurred_at_ms: at,
        visitor_id: Some(format!("visitor-{id}")),
        campaign: campaign.map(Into::into),
        channel: Some(channel.into()),
        landing_page: Some("/spring".into()),
        country: Some("us".into()),
        user_agent_class: Some("mobile".into()),
        click_id: None,
    }
}

fn sale(
    id: &str,
    amount: &str,
    currency: &str,
    at: i64,
    customer: Option<&str>,
    touches: &[&str],
) -> ConversionInput {
    let mut c = conversion("p", id, amount, &[]);
    c.currency = currency.into();
    c.occurred_at_ms = at;
    c.customer_id = customer.map(Into::into);
    c.touchpoints = touches
        .iter()
        .enumerate()
        .map(|(k, p)| TouchpointInput {
            partner_id: (*p).into(),
            channel: if *p == "a" { "email" } else { "social" }.into(),
            occurred_at_ms: at - DAY + k as i64,
            campaign: Some("spring".into()),
        })
        .collect();
    c
}

/// Case: the rollups equal the raw tables, at every grain, incrementally and rebuilt.
pub(super) async fn rollups_equal_a_scan_of_the_raw_tables(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "professional", "USD").await;
    f.partner("b", "p", "starter", "EUR").await;
    for (base, quote, rate) in [("EUR", "USD", "1.10"), ("USD", "EUR", "0.90")] {
        f.engine
            .put_fx_rate(&FxRate {
                base: Currency::parse(base).expect("currency"),
                quote: Currency::parse(quote).expect("currency"),
                rate: dec(rate),
                effective_from_ms: T0 - 100 * DAY,
            })
            .await
            .expect("rate");
    }
    // Funnel events: a's clicks by e-mail, b's by social; a lead; one click twice.
    let mut events: Vec<EventInput> = (0..5)
        .map(|i| {
            click(
                &format!("ka{i}"),
                "a",
                T0 + i * 3_600_000,
                "email",
                Some("spring"),
            )
        })
        .collect();
    events.extend((0..3).map(|i| {
        click(
            &format!("kb{i}"),
            "b",
            T0 + 2 * DAY + i * 60_000,
            "social",
            None,
        )
    }));
    events.push(EventInput {
        kind: EventKind::Lead,
        click_id: Some("ka0".into()),
        ..click("lead-1", "a", T0 + 600_000, "email", Some("spring"))
    });
    events.push(click("ka0", "a", T0, "email", Some("spring")));
    let outcomes = f.engine.record_events(&events).await.expect("events");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Ok(EventOutcome::Created)))
            .count(),
        9
    );
    assert!(
        matches!(outcomes[9], Ok(EventOutcome::Duplicate)),
        "{:?}",
        outcomes[9]
    );
    let again = f
        .engine
        .record_events(&events[..2])
        .await
        .expect("events again");
    assert!(
        again
            .iter()
            .all(|o| matches!(o, Ok(EventOutcome::Duplicate)))
    );
    // A bad event fails alone.
    let bad = f
        .engine
        .record_events(&[
            click("kx", "nobody", T0, "email", None),
            click("ky", "a", T0, "email", None),
        ])
        .await
        .expect("events");
    assert_eq!(
        bad[0].as_ref().expect_err("unknown partner").kind(),
        "unknown-partner"
    );
    assert!(matches!(bad[1], Ok(EventOutcome::Created)));
    // Sales: c1's first purchase is o1; c2's first, o3, arrives last.
    let mut with_click = sale("o4", "30.00", "USD", T0 + 2 * DAY, Some("c2"), &["a"]);
    with_click.signals = Signals {
        click_id: Some("ka4".into()),
        visitor_id: Some("visitor-x".into()),
        customer_email: Some("Ann@Example.com".into()),
    };
    for c in [
        sale("o1", "100.00", "USD", T0, Some("c1"), &["a", "b"]),
        sale("o2", "80.00", "EUR", T0 + DAY, Some("c1"), &["b"]),
        with_click,
        sale("o5", "10.00", "USD", T0 + 3 * DAY, None, &["b"]),
        sale("o6", "20.00", "USD", T0 + 3 * DAY, Some("c3"), &[]),
        sale("o3", "60.00", "USD", T0 - 40 * DAY, Some("c2"), &["a"]),
    ] {
        f.ingest(&c).await;
    }
    f.engine
        .refund("p", "o1", "r1", Some(dec("20.00")))
        .await
        .expect("refund");
    let dispute = f
        .engine
        .open_dispute(&OpenDispute {
            program_id: "p".into(),
            conversion_id: "o5".into(),
            entry_id: None,
            opened_by: "key_admin".into(),
            scope: Scope::Admin,
            reason: "fraud".into(),
            idempotency_key: None,
        })
        .await
        .expect("dispute");
    f.engine
        .resolve_dispute(
            &dispute.id,
            DisputeOutcome::Upheld,
            "key_admin",
            "confirmed",
            None,
        )
        .await
        .expect("uphold");
    assert!(f.engine.store().analytics_backlog().await.expect("backlog") > 0);
    let taken = f.engine.run_analytics().await.expect("job");
    assert!(taken > 0);
    assert_eq!(
        f.engine.store().analytics_backlog().await.expect("backlog"),
        0
    );
    assert_eq!(
        f.engine.run_analytics().await.expect("job again"),
        0,
        "each fact once"
    );

    // Native rows (converted = 0) against the scan; customers' counts compared below.
    let strip = |rows: &SalesRows| -> SalesRows {
        rows.iter()
            .filter(|(k, _)| k.2 == 0)
            .map(|(k, v)| {
                let mut v = v.clone();
                for c in ["new_customers", "returning_customers", "unconverted"] {
                    v[SALES.iter().position(|x| *x == c).expect("column")] = 0;
                }
                // The partners' refunded shares are checked apart.
                if !k.0.is_empty() {
                    v[4] = 0;
                }
                (k.clone(), v)
            })
            .filter(|(_, v)| v.iter().any(|x| *x != 0))
            .collect()
    };
    let days = rollup_sales(&f, "d").await;
    assert_eq!(
        strip(&days),
        scan(&f).await,
        "the day rollup equals the scan"
    );
    for grain in ["h", "q"] {
        assert_eq!(
            rollup_sales(&f, grain).await,
            days,
            "grain {grain} sums to the days"
        );
    }
    // Refunded revenue: 20.00 of o1, split 10.00 / 10.00 between a and b.
    let refunded = |partner: &str| -> i64 {
        days.iter()
            .filter(|(k, _)| k.0 == partner && k.2 == 0)
            .map(|(_, v)| v[4])
            .sum()
    };
    assert_eq!(
        (refunded("a"), refunded("b"), refunded("")),
        (1000, 1000, 2000)
    );
    // o2 (80.00 EUR) converted to the program's USD at 1.10: 88.00.
    let converted: i64 = days
        .iter()
        .filter(|(k, _)| k.0.is_empty() && k.2 == 1)
        .map(|(_, v)| v[3])
        .sum();
    assert_eq!(converted, 8800);
    // New against returning, credited conversions only: o1 and o3 new (c1, c2 first
    // purchases; o3 arrived after o4), o2 and o4 returning; o5 has no customer, o6 no
    // partner.
    let program_counts: (i64, i64) = days
        .iter()
        .filter(|(k, _)| k.0.is_empty() && k.2 == 0)
        .fold((0, 0), |acc, (_, v)| (acc.0 + v[1], acc.1 + v[2]));
    assert_eq!(program_counts, (2, 2));
    let new_on = |d: i64| -> i64 {
        days.iter()
            .filter(|(k, _)| k.0.is_empty() && k.3 == day(d))
            .map(|(_, v)| v[1])
            .sum()
    };
    assert_eq!(new_on(T0 - 40 * DAY), 1, "o3 is new");
    assert_eq!(new_on(T0 + 2 * DAY), 0, "o4 was demoted to returning");
    // Cohorts: three customers; c2 in o3's month, acquired by a.
    let cohorts = sqlx::query(
        "SELECT partner_id, cohort_ms, month_ms, customers, orders, revenue FROM rollup_cohorts
         WHERE program_id = 'p' AND customers <> 0 ORDER BY partner_id, cohort_ms, month_ms",
    )
    .fetch_all(f.engine.store().pool())
    .await
    .expect("cohorts");
    let firsts: i64 = cohorts
        .iter()
        .filter(|r| {
            r.get::<String, _>("partner_id").is_empty()
                && r.get::<i64, _>("cohort_ms") == r.get::<i64, _>("month_ms")
        })
        .map(|r| r.get::<i64, _>("customers"))
        .sum();
    let dump: Vec<(String, i64, i64, i64, i64, i64)> = cohorts
        .iter()
        .map(|r| {
            (
                r.get("partner_id"),
                r.get("cohort_ms"),
                r.get("month_ms"),
                r.get("customers"),
                r.get("orders"),
                r.get("revenue"),
            )
        })
        .collect();
    assert_eq!(firsts, 3, "c1, c2, c3 in their first months: {dump:?}");
    let c2_cohort = crate::domain::analytics::buckets::month_start(T0 - 40 * DAY);
    assert!(
        cohorts
            .iter()
            .any(|r| r.get::<String, _>("partner_id") == "a"
                && r.get::<i64, _>("cohort_ms") == c2_cohort),
        "c2 acquired by a in o3's month"
    );
    // The funnel: clicks and leads from the events, sales from the conversions, the
    // click-to-conversion time of o4.
    let funnel = sqlx::query(
        "SELECT partner_id, channel, campaign, CAST(SUM(clicks) AS BIGINT) AS clicks, CAST(SUM(leads) AS BIGINT) AS leads, CAST(SUM(sales) AS BIGINT) AS sales,
             CAST(SUM(ttc_0 + ttc_1 + ttc_2 + ttc_3 + ttc_4 + ttc_5 + ttc_6 + ttc_7) AS BIGINT) AS timed
         FROM rollup_funnel WHERE program_id = 'p' AND grain = 'd'
         GROUP BY partner_id, channel, campaign ORDER BY partner_id, channel, campaign",
    )
    .fetch_all(f.engine.store().pool())
    .await
    .expect("funnel");
    let got: Vec<(String, String, String, i64, i64, i64, i64)> = funnel
        .iter()
        .map(|r| {
            (
                r.get("partner_id"),
                r.get("channel"),
                r.get("campaign"),
                r.get("clicks"),
                r.get("leads"),
                r.get("sales"),
                r.get("timed"),
            )
        })
        .collect();
    let raw_clicks = sqlx::query(
        "SELECT COUNT(*) AS n FROM analytics_events WHERE program_id = 'p' AND kind = 'click'",
    )
    .fetch_one(f.engine.store().pool())
    .await
    .expect("clicks")
    .get::<i64, _>("n");
    let program_clicks: i64 = got.iter().filter(|g| g.0.is_empty()).map(|g| g.3).sum();
    assert_eq!(program_clicks, raw_clicks);
    assert!(
        got.contains(&("a".into(), "email".into(), "spring".into(), 5, 1, 3, 1)),
        "{got:#?}"
    );
    assert!(
        got.contains(&("a".into(), "email".into(), String::new(), 1, 0, 0, 0)),
        "ky has no campaign: {got:#?}"
    );
    assert!(
        got.contains(&("b".into(), "social".into(), String::new(), 3, 0, 0, 0)),
        "{got:#?}"
    );
    let b_sales: i64 = got.iter().filter(|g| g.0 == "b").map(|g| g.5).sum();
    assert_eq!(b_sales, 3, "o1, o2, o5");

    // The reporting queries over these rollups (both stores): the revenue total equals
    // the scan's, in any time zone; the funnel's clicks the events'.
    let scanned: i64 = scan(&f)
        .await
        .iter()
        .filter(|(k, _)| k.0.is_empty() && k.1 == "USD")
        .map(|(_, v)| v[3])
        .sum();
    for zone in ["UTC", "America/New_York", "Asia/Kolkata"] {
        let ask = AnalyticsAsk {
            program_id: Some("p".into()),
            first: Some(crate::domain::analytics::buckets::local_date(
                Tz::UTC,
                T0 - 60 * DAY,
            )),
            last: Some(crate::domain::analytics::buckets::local_date(
                Tz::UTC,
                T0 + 30 * DAY,
            )),
            time_zone: Some(zone.into()),
            interval: Some("week".into()),
            group_by: Some("partner".into()),
            ..Default::default()
        };
        let r = f
            .engine
            .revenue_report(&Scope::Admin, &ask)
            .await
            .expect("revenue");
        let usd = r.totals.iter().find(|t| t.currency == "USD").expect("USD");
        assert_eq!(usd.figures.revenue, scanned, "{zone}");
        assert_eq!(
            r.program_totals.revenue,
            scanned + 8800,
            "{zone}: USD and the converted EUR"
        );
        let series: i64 = r.series.iter().map(|p| p.program_currency.revenue).sum();
        assert_eq!(
            series, r.program_totals.revenue,
            "{zone}: the series adds up"
        );
        let funnel = f
            .engine
            .funnel_report(&Scope::Admin, &ask_without_group(&ask))
            .await
            .expect("funnel");
        assert_eq!(funnel.totals.clicks, raw_clicks, "{zone}");
    }
    let mine = f
        .engine
        .revenue_report(
            &Scope::Partner("a".into()),
            &AnalyticsAsk {
                first: Some(crate::domain::analytics::buckets::local_date(
                    Tz::UTC,
                    T0 - 60 * DAY,
                )),
                last: Some(crate::domain::analytics::buckets::local_date(
                    Tz::UTC,
                    T0 + 30 * DAY,
                )),
                ..Default::default()
            },
        )
        .await
        .expect("a's revenue");
    assert_eq!(mine.subject.partner_id.as_deref(), Some("a"));
    assert_eq!(
        f.engine
            .revenue_report(
                &Scope::Partner("a".into()),
                &AnalyticsAsk {
                    partner_id: Some("b".into()),
                    ..Default::default()
                }
            )
            .await
            .expect_err("b's")
            .kind(),
        "not-found"
    );
    // Rebuilt from the raw tables: the same rows.
    let before = (rollup_sales(&f, "q").await, got.clone());
    f.engine.rebuild_analytics().await.expect("rebuild");
    let funnel_after = sqlx::query(
        "SELECT partner_id, channel, campaign, CAST(SUM(clicks) AS BIGINT) AS clicks, CAST(SUM(leads) AS BIGINT) AS leads, CAST(SUM(sales) AS BIGINT) AS sales,
             CAST(SUM(ttc_0 + ttc_1 + ttc_2 + ttc_3 + ttc_4 + ttc_5 + ttc_6 + ttc_7) AS BIGINT) AS timed
         FROM rollup_funnel WHERE program_id = 'p' AND grain = 'd'
         GROUP BY partner_id, channel, campaign ORDER BY partner_id, channel, campaign",
    )
    .fetch_all(f.engine.store().pool())
    .await
    .expect("funnel")
    .iter()
    .map(|r| {
        (
            r.get("partner_id"),
            r.get("channel"),
            r.get("campaign"),
            r.get("clicks"),
            r.get("leads"),
            r.get("sales"),
            r.get("timed"),
        )
    })
    .collect::<Vec<(String, String, String, i64, i64, i64, i64)>>();
    assert_eq!(
        (rollup_sales(&f, "q").await, funnel_after),
        before,
        "rebuilt the same"
    );
    f.finish().await;
}

/// Case: the fraud rules raise one alert per finding, with evidence; with `freeze`, the
/// alert's conversion is frozen through a dispute, which resolving the alert upholds or
/// rejects.
pub(super) async fn fraud_rules_raise_alerts_and_freeze(f: Fixture) {
    f.program("p", "first-touch", serde_json::json!({})).await;
    f.partner("a", "p", "professional", "USD").await;
    f.partner("b", "p", "professional", "USD").await;
    let mut rules = f
        .engine
        .fraud_rules(&Scope::Admin, "p")
        .await
        .expect("rules");
    rules.freeze = true;
    rules.visitor_many_conversions.max_conversions = 2;
    f.engine
        .set_fraud_rules(&Scope::Admin, "p", &rules)
        .await
        .expect("set rules");
    assert_eq!(
        f.engine
            .set_fraud_rules(&Scope::Partner("a".into()), "p", &rules)
            .await
            .expect_err("a partner")
            .kind(),
        "forbidden"
    );
    f.engine
        .set_partner_identity(
            &Scope::Admin,
            "a",
            Some("a-as-customer"),
            Some(" A@Shop.example "),
        )
        .await
        .expect("identity");
    f.engine
        .record_events(&[click("k1", "b", T0 - 5_000, "email", None)])
        .await
        .expect("click");
    // o1: a's own e-mail; o2: 5 s after its click; o3..o5: one visitor three times.
    let mut own = sale("o1", "50.00", "USD", T0, Some("c9"), &["a"]);
    own.signals.customer_email = Some("a@shop.example".into());
    let mut fast = sale("o2", "40.00", "USD", T0, Some("c8"), &["b"]);
    fast.signals.click_id = Some("k1".into());
    f.ingest(&own).await;
    f.ingest(&fast).await;
    for (i, id) in ["o3", "o4", "o5"].iter().enumerate() {
        let mut c = sale(id, "10.00", "USD", T0 + i as i64 * 60_000, None, &["b"]);
        c.signals.visitor_id = Some("same-visitor".into());
        f.ingest(&c).await;
    }
    f.engine.run_analytics().await.expect("job");
    let alerts = f
        .engine
        .fraud_alerts(&Scope::Admin, "p", None, None, None, None, 100)
        .await
        .expect("alerts");
    let mut rules_seen: Vec<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
    rules_seen.sort_unstable();
    assert_eq!(
        rules_seen,
        vec![
            "click_to_conversion_too_short",
            "self_referral",
            "visitor_many_conversions"
        ],
        "{alerts:#?}"
    );
    // Raised once: the job again, or the same facts again, raise nothing new.
    f.engine.rebuild_analytics().await.expect("rebuild");
    assert_eq!(
        f.engine
            .fraud_alerts(&Scope::Admin, "p", None, None, None, None, 100)
            .await
            .expect("alerts")
            .len(),
        3
    );
    let selfref = alerts
        .iter()
        .find(|a| a.rule == "self_referral")
        .expect("self-referral");
    assert_eq!(selfref.partner_id.as_deref(), Some("a"));
    assert!(selfref.evidence.contains("email"), "{}", selfref.evidence);
    // Frozen: a's entry of o1 is disputed.
    let dispute = selfref.dispute_id.clone().expect("frozen");
    let entries = f
        .engine
        .store()
        .entries(&EntryFilter {
            program_id: Some("p".into()),
            partner_id: Some("a".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("entries");
    assert!(
        entries.iter().any(|e| e.status == Status::Frozen),
        "{entries:#?}"
    );
    // Confirmed: the dispute is upheld, the commission reversed.
    let resolved = f
        .engine
        .resolve_fraud_alert(
            &Scope::Admin,
            &selfref.id,
            AlertOutcome::Confirmed,
            "key_admin",
            "own purchase",
        )
        .await
        .expect("resolve");
    assert_eq!(
        resolved.resolution.as_ref().map(|r| r.0.as_str()),
        Some("confirmed")
    );
    let d = f
        .engine
        .store()
        .dispute(&dispute)
        .await
        .expect("dispute")
        .expect("stored");
    assert_eq!(d.status, crate::domain::ledger::DisputeStatus::Upheld);
    // The same outcome again answers the alert; another is a conflict.
    f.engine
        .resolve_fraud_alert(
            &Scope::Admin,
            &selfref.id,
            AlertOutcome::Confirmed,
            "key_admin",
            "again",
        )
        .await
        .expect("same outcome");
    assert_eq!(
        f.engine
            .resolve_fraud_alert(
                &Scope::Admin,
                &selfref.id,
                AlertOutcome::Dismissed,
                "key_admin",
                "no"
            )
            .await
            .expect_err("another outcome")
            .kind(),
        "conflict"
    );
    // Dismissed: the fast conversion's freeze is released.
    let fast_alert = alerts
        .iter()
        .find(|a| a.rule == "click_to_conversion_too_short")
        .expect("fast");
    let fast_dispute = f
        .engine
        .fraud_alert(&Scope::Admin, &fast_alert.id)
        .await
        .expect("alert")
        .dispute_id
        .expect("frozen");
    f.engine
        .resolve_fraud_alert(
            &Scope::Admin,
            &fast_alert.id,
            AlertOutcome::Dismissed,
            "key_admin",
            "fine",
        )
        .await
        .expect("dismiss");
    let d = f
        .engine
        .store()
        .dispute(&fast_dispute)
        .await
        .expect("dispute")
        .expect("stored");
    assert_eq!(d.status, crate::domain::ledger::DisputeStatus::Rejected);
    assert_eq!(
        f.engine
            .fraud_alerts(&Scope::Partner("a".into()), "p", None, None, None, None, 10)
            .await
            .expect_err("partner")
            .kind(),
        "forbidden"
    );
    // The partner-level rules: a burst (velocity), a refund rate, one customer credited
    // to two partners within a day.
    let mut rules = f
        .engine
        .fraud_rules(&Scope::Admin, "p")
        .await
        .expect("rules");
    rules.conversion_velocity_spike.min_conversions = 3;
    rules.refund_rate_high.min_conversions = 1;
    rules.customer_many_partners.max_partners = 1;
    f.engine
        .set_fraud_rules(&Scope::Admin, "p", &rules)
        .await
        .expect("set rules");
    f.partner("c", "p", "professional", "USD").await;
    f.partner("d", "p", "professional", "USD").await;
    // Now-ish: a refund counts at its own (real) instant, the revenue at the sale's.
    let later = crate::store::now_ms() - 2 * 3_600_000;
    for i in 0..3 {
        f.ingest(&sale(
            &format!("v{i}"),
            "10.00",
            "USD",
            later + i * 60_000,
            None,
            &["c"],
        ))
        .await;
    }
    f.ingest(&sale("m1", "30.00", "USD", later, Some("c7"), &["c"]))
        .await;
    f.ingest(&sale(
        "m2",
        "30.00",
        "USD",
        later + 3_600_000,
        Some("c7"),
        &["d"],
    ))
    .await;
    f.engine.run_analytics().await.expect("job");
    f.engine
        .refund("p", "m2", "r9", None)
        .await
        .expect("refund");
    f.engine.run_analytics().await.expect("job");
    let rules_of = |p: &str, alerts: &[crate::store::fraud::AlertRecord]| -> Vec<String> {
        let mut v: Vec<String> = alerts
            .iter()
            .filter(|a| a.partner_id.as_deref() == Some(p))
            .map(|a| a.rule.clone())
            .collect();
        v.sort();
        v
    };
    let all = f
        .engine
        .fraud_alerts(&Scope::Admin, "p", Some("open"), None, None, None, 100)
        .await
        .expect("alerts");
    assert_eq!(
        rules_of("c", &all),
        vec!["conversion_velocity_spike".to_owned()],
        "{all:#?}"
    );
    assert!(
        rules_of("d", &all).contains(&"customer_many_partners".to_owned())
            && rules_of("d", &all).contains(&"refund_rate_high".to_owned()),
        "{all:#?}"
    );
    f.finish().await;
}

/// Every funnel row, bucket by bucket.
async fn funnel_rows(f: &Fixture) -> Vec<(String, String, i64, String, String, i64, i64)> {
    sqlx::query(
        "SELECT grain, partner_id, bucket_ms, channel, campaign, clicks, leads FROM rollup_funnel
         ORDER BY grain, partner_id, bucket_ms, channel, campaign",
    )
    .fetch_all(f.engine.store().pool())
    .await
    .expect("funnel")
    .iter()
    .map(|r| {
        (
            r.get("grain"),
            r.get("partner_id"),
            r.get("bucket_ms"),
            r.get("channel"),
            r.get("campaign"),
            r.get("clicks"),
            r.get("leads"),
        )
    })
    .collect()
}

/// Case: the rebuild puts clicks in the buckets the job put them in, before 1970 too
/// (where SQL's `%` and `/` round toward zero, not down).
pub(super) async fn rebuilt_funnel_buckets_match_the_jobs(f: Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("a", "p", "professional", "USD").await;
    let events = [
        click("old", "a", -DAY - 1_000, "email", None),
        click("edge", "a", -1, "email", None),
        click("now", "a", T0 + 1_234_567, "email", Some("spring")),
    ];
    f.engine.record_events(&events).await.expect("events");
    while f.engine.run_analytics().await.expect("job") > 0 {}
    let by_job = funnel_rows(&f).await;
    assert!(
        by_job.iter().any(|r| r.2 < -DAY),
        "the pre-1970 click is in its own bucket: {by_job:?}"
    );
    f.engine.rebuild_analytics().await.expect("rebuild");
    assert_eq!(funnel_rows(&f).await, by_job);
}
