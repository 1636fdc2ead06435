//! Analytics over HTTP: funnel events (one bad item of a batch fails alone), the
//! reporting paths and what each key sees, fraud alerts, and report jobs as CSV and XLSX
//! (formula-looking cells escaped), built exactly once by two replicas sharing the
//! database.

use crate::support::{ADMIN_KEY, Server, postgres};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// `YYYY-MM-DD` of `days` before today (UTC).
fn day(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// An RFC 3339 instant `days` before now, at `hour`:00 UTC.
fn at(days: i64, hour: u32) -> String {
    format!("{}T{hour:02}:00:00Z", day(days))
}

async fn partner_key(s: &Server, partner: &str) -> String {
    let k = s
        .admin(
            Method::POST,
            "/v1/api-keys",
            json!({"scope": "partner", "partner_id": partner, "label": partner}),
        )
        .await;
    k["key"].as_str().expect("key").to_owned()
}

/// Wait until the analytics job has taken everything in (the revenue total shows
/// `conversions` and the refunds as `refunded`).
async fn settled(s: &Server, conversions: i64, refunded: &str) {
    let started = Instant::now();
    loop {
        let r = s
            .admin_get(&format!(
                "/affiliate/analytics/revenue?program_id=shop&from={}&to={}",
                day(60),
                day(0)
            ))
            .await;
        let t = &r.body["program_currency_totals"];
        if t["conversions"] == json!(conversions) && t["refunded"] == json!(refunded) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the rollups did not settle: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_answer_each_key_its_own_figures_and_reports_are_built_once() {
    let db = postgres().await;
    let env = [("ACCRUE_ANALYTICS_EVERY_MS", "100")];
    let s = Server::start(&db.url, &env).await;
    let other = Server::start(&db.url, &env).await;
    s.program("shop", "USD", "last-touch").await;
    for p in ["alice", "bob"] {
        s.partner(p, "shop", json!({"tier": "professional"})).await;
    }
    // Events: clicks of both partners; a lead; one malformed item and one with a control
    // character fail alone.
    let mut events: Vec<Value> = (0..10)
        .map(|i| {
            json!({"id": format!("ka{i}"), "program_id": "shop", "kind": "click", "partner_id": "alice",
                   "occurred_at": at(3, 9), "channel": "email", "campaign": "=HYPERLINK(\"http://x\")",
                   "visitor_id": format!("v{i}"), "user_agent_class": "mobile", "country": "DE"})
        })
        .collect();
    events.extend((0..4).map(|i| {
        json!({"id": format!("kb{i}"), "program_id": "shop", "kind": "click", "partner_id": "bob",
               "occurred_at": at(2, 9), "channel": "social"})
    }));
    events.push(
        json!({"id": "lead-1", "program_id": "shop", "kind": "lead", "partner_id": "alice",
                       "occurred_at": at(3, 10), "click_id": "ka1", "channel": "email"}),
    );
    events.push(json!({"id": "bad", "program_id": "shop", "kind": "visit", "partner_id": "alice", "occurred_at": at(3, 9)}));
    events.push(
        json!({"id": "ctl", "program_id": "shop", "kind": "click", "partner_id": "alice",
                       "occurred_at": at(3, 9), "channel": "e\u{0007}mail"}),
    );
    let batch = s
        .admin(Method::POST, "/v1/events/batch", json!({"events": events}))
        .await;
    assert_eq!(
        (batch["created"].clone(), batch["errors"].clone()),
        (json!(15), json!(2)),
        "{batch}"
    );
    assert_eq!(batch["results"][15]["status"], "error");
    assert_eq!(
        batch["results"][16]["error"]["type"], "urn:accrue:problem:invalid-input",
        "{}",
        batch["results"][16]
    );
    let again = s
        .call(
            Method::POST,
            "/v1/events",
            Some(ADMIN_KEY),
            Some(events[0].clone()),
        )
        .await;
    assert_eq!(
        (again.status, again.body["status"].clone()),
        (StatusCode::OK, json!("duplicate"))
    );
    // Conversions: alice's through her clicks, bob's one, a refund.
    for (id, partner, amount, days, click) in [
        ("o1", "alice", "100.00", 3, Some("ka0")),
        ("o2", "alice", "50.00", 2, Some("ka2")),
        ("o3", "bob", "80.00", 2, None),
    ] {
        let mut c = json!({"program_id": "shop", "id": id, "amount": amount, "currency": "USD",
                           "occurred_at": at(days, 12), "customer_id": format!("cust-{id}"),
                           "touchpoints": [{"partner_id": partner, "channel": if partner == "alice" {"email"} else {"social"},
                                            "occurred_at": at(days, 9)}]});
        if let Some(k) = click {
            c["click_id"] = json!(k);
        }
        s.admin(Method::POST, "/v1/conversions", c).await;
    }
    s.admin(
        Method::POST,
        "/v1/conversions/o2/refunds",
        json!({"program_id": "shop", "amount": "10.00"}),
    )
    .await;
    settled(&s, 3, "10.00").await;

    let range = format!("from={}&to={}", day(10), day(0));
    let revenue = s
        .admin_get(&format!("/affiliate/analytics/revenue?program_id=shop&{range}&group_by=partner&time_zone=America/New_York"))
        .await;
    assert_eq!(revenue.status, StatusCode::OK, "{}", revenue.body);
    let revenue_path = format!(
        "/affiliate/analytics/revenue?program_id=shop&{range}&group_by=partner&time_zone=America/New_York"
    );
    let totals = &revenue.body["program_currency_totals"];
    assert_eq!(
        (
            totals["revenue"].clone(),
            totals["refunded"].clone(),
            totals["net_revenue"].clone()
        ),
        (json!("230.00"), json!("10.00"), json!("220.00")),
        "{totals}"
    );
    assert_eq!(revenue.body["series"].as_array().map(Vec::len), Some(11));
    let partners = revenue.body["partners"].as_array().expect("partners");
    assert_eq!(partners[0]["partner_id"], "alice");
    assert_eq!(partners[0]["program_currency"]["net_revenue"], "140.00");
    // A partner key: its own figures only.
    let alice = partner_key(&s, "alice").await;
    let mine = s
        .call(
            Method::GET,
            &format!("/affiliate/analytics/revenue?{range}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(mine.body["partner_id"], "alice", "{}", mine.body);
    assert_eq!(
        mine.body["program_currency_totals"]["net_revenue"],
        "140.00"
    );
    for path in [
        format!("/affiliate/analytics/revenue?{range}&partner_id=bob"),
        format!("/affiliate/analytics/conversions?{range}&program_id=other"),
    ] {
        s.call(Method::GET, &path, Some(&alice), None)
            .await
            .assert_problem(404, "not-found", &path);
    }
    for path in [
        "/affiliate/analytics/ranking?program_id=shop",
        "/affiliate/analytics/forecast?program_id=shop",
        "/affiliate/analytics/churn?program_id=shop",
    ] {
        s.call(Method::GET, path, Some(&alice), None)
            .await
            .assert_problem(403, "forbidden", path);
    }
    s.admin_get(&format!(
        "/affiliate/analytics/revenue?program_id=shop&{range}&time_zone=Mars/Olympus"
    ))
    .await
    .assert_problem(422, "invalid-input", "an unknown time zone");
    s.admin_get("/affiliate/analytics/revenue?program_id=shop&from=2026-02-30")
        .await
        .assert_problem(422, "invalid-input", "not a date");
    // The funnel: alice's clicks, lead and sales, her click-to-conversion times.
    let funnel = s
        .call(
            Method::GET,
            &format!("/affiliate/analytics/conversions?{range}&group_by=channel"),
            Some(&alice),
            None,
        )
        .await;
    let t = &funnel.body["totals"];
    assert_eq!(
        (t["clicks"].clone(), t["leads"].clone(), t["sales"].clone()),
        (json!(10), json!(1), json!(2)),
        "{}",
        funnel.body
    );
    assert_eq!(t["click_to_sale"], "0.2000");
    let timed: i64 = funnel.body["time_to_convert"]
        .as_array()
        .expect("ttc")
        .iter()
        .map(|b| b["sales"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(timed, 2);
    // Customers, ROI, ranking, churn; a forecast needs more history (409).
    let customers = s
        .admin_get(&format!(
            "/affiliate/analytics/customers?program_id=shop&{range}"
        ))
        .await;
    assert_eq!(
        (
            customers.body["new"].clone(),
            customers.body["customers"].clone()
        ),
        (json!(3), json!(3)),
        "{}",
        customers.body
    );
    let roi = s
        .admin_get(&format!("/affiliate/analytics/roi?program_id=shop&{range}"))
        .await;
    assert_eq!(roi.body["total"]["revenue"], "220.00", "{}", roi.body);
    let ranking = s
        .admin_get(&format!(
            "/affiliate/analytics/ranking?program_id=shop&{range}&by=revenue"
        ))
        .await;
    assert_eq!(
        ranking.body["partners"][0]["partner_id"], "alice",
        "{}",
        ranking.body
    );
    let churn = s
        .admin_get("/affiliate/analytics/churn?program_id=shop")
        .await;
    assert_eq!(churn.status, StatusCode::OK, "{}", churn.body);
    assert_eq!(churn.body["partners"].as_array().map(Vec::len), Some(2));
    // Three days of history: too few for a model, so the mean of what there is, said so.
    let forecast = s
        .admin_get("/affiliate/analytics/forecast?program_id=shop")
        .await;
    assert_eq!(forecast.status, StatusCode::OK, "{}", forecast.body);
    assert!(
        forecast.body["next_30_days"]["method"]
            .as_str()
            .unwrap_or_default()
            .starts_with("mean"),
        "{}",
        forecast.body["next_30_days"]["method"]
    );
    assert_eq!(
        forecast.body["next_90_days"]["points"]
            .as_array()
            .map(Vec::len),
        Some(90)
    );
    s.admin_get("/affiliate/analytics/forecast?program_id=nope")
        .await
        .assert_problem(404, "not-found", "an unknown program");
    let alerts = s.admin_get("/v1/fraud-alerts?program_id=shop").await;
    assert_eq!(alerts.status, StatusCode::OK, "{}", alerts.body);
    s.call(
        Method::GET,
        "/v1/fraud-alerts?program_id=shop",
        Some(&alice),
        None,
    )
    .await
    .assert_problem(403, "forbidden", "a partner's key");

    // Reports: asked on one replica, built by whichever claims them, each once.
    let mut ids = Vec::new();
    for (i, (report, format)) in [
        ("conversions", "csv"),
        ("revenue", "xlsx"),
        ("ledger", "csv"),
        ("roi", "csv"),
    ]
    .iter()
    .enumerate()
    {
        let r = s
            .call_with(
                Method::POST,
                "/affiliate/reports/generate",
                Some(ADMIN_KEY),
                Some(json!({"report": report, "format": format, "program_id": "shop", "from": day(10), "to": day(0),
                            "group_by": if *report == "conversions" { json!("campaign") } else { Value::Null }})),
                &[("Idempotency-Key", &format!("report-{i}"))],
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        ids.push(r.body["id"].as_str().expect("id").to_owned());
    }
    let retry = s
        .call_with(Method::POST, "/affiliate/reports/generate", Some(ADMIN_KEY),
                   Some(json!({"report": "conversions", "format": "csv", "program_id": "shop", "from": day(10), "to": day(0), "group_by": "campaign"})),
                   &[("Idempotency-Key", "report-0")])
        .await;
    assert_eq!(
        retry.body["id"],
        json!(ids[0]),
        "the same key answers the same job"
    );
    let mine = s
        .call(
            Method::POST,
            "/affiliate/reports/generate",
            Some(&alice),
            Some(json!({"report": "revenue"})),
        )
        .await;
    assert_eq!(mine.status, StatusCode::ACCEPTED, "{}", mine.body);
    s.call(
        Method::GET,
        &format!("/affiliate/reports/{}", ids[0]),
        Some(&alice),
        None,
    )
    .await
    .assert_problem(404, "not-found", "another key's report");
    let started = Instant::now();
    for id in &ids {
        loop {
            let j = other.admin_get(&format!("/affiliate/reports/{id}")).await;
            if j.body["status"] == "done" {
                break;
            }
            assert_ne!(j.body["status"], "failed", "{}", j.body);
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "report {id}: {}",
                j.body
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let pool = sqlx::PgPool::connect(&db.url).await.expect("db");
    let attempts: Vec<(i64,)> = sqlx::query_as("SELECT attempts FROM report_jobs")
        .fetch_all(&pool)
        .await
        .expect("jobs");
    assert!(
        attempts.iter().all(|a| a.0 == 1),
        "each built once: {attempts:?}"
    );
    let csv = s
        .admin_get(&format!("/affiliate/reports/{}/file", ids[0]))
        .await;
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    let text = csv.body.as_str().expect("csv text").to_owned();
    assert!(
        text.contains("'=HYPERLINK"),
        "the formula is escaped: {text}"
    );
    assert!(!text.lines().any(|l| l.starts_with("=HYPERLINK")), "{text}");
    let xlsx = s
        .raw_get(&format!("/affiliate/reports/{}/file", ids[1]), ADMIN_KEY)
        .await;
    assert!(xlsx.starts_with(b"PK\x03\x04"), "an XLSX is a zip");

    // `accrue analytics backfill` rebuilds rollups that were lost, while the service runs.
    for table in ["rollup_sales", "rollup_funnel", "rollup_cohorts"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&pool)
            .await
            .expect("empty a rollup");
    }
    let out = std::process::Command::new(crate::support::binary())
        .args(["analytics", "backfill"])
        .env("DATABASE_URL", &db.url)
        .env("ACCRUE_LOG", "warn")
        .output()
        .expect("run accrue analytics backfill");
    assert!(out.status.success(), "backfill: {out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("analytics rebuilt: "), "{said}");
    // Past the cache's 5 s lifetime, the service answers from the rebuilt rollups.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let again = s.admin_get(&revenue_path).await;
    assert_eq!(
        again.body, revenue.body,
        "the backfill restores every figure"
    );
    pool.close().await;
    drop(other);
    drop(s);
    db.drop_db().await;
}
