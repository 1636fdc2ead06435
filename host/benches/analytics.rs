//! Analytics at scale (issue 12, "Speed"): on PostgreSQL, a year of data (default
//! 1,000,000 conversions and 20,000,000 clicks of 1,000 partners), the rollups rebuilt
//! from it, every analytics path's latency, and click ingest in batches.
//!
//! The raw tables are loaded directly through SQL (not timed as ingest): partners are
//! drawn with a skew (a few partners bring most sales, as in real programs), every
//! conversion credits one partner with a touchpoint, an attribution and a 10 % commission
//! entry; a third name a click; customers come back (300,000 of them); a year of clicks
//! by channel and campaign. Then, timed:
//!
//! 1. the rebuild of every rollup from the raw tables (`Engine::rebuild_analytics`, what
//!    `accrue analytics backfill` runs);
//! 2. each analytics path through the service's router in process (parsing, auth, the
//!    engine, serialisation; no sockets), `ACCRUE_BENCH_REQUESTS` times (default 40) with
//!    a different range each time, so every answer is computed from the rollups, not the
//!    cache: p50, p95 and max per path and variant;
//! 3. click ingest: `POST /v1/events/batch` with 10,000 clicks per request from 2 callers
//!    at once, `ACCRUE_BENCH_INGEST` clicks in all (default 500,000): events per second.
//!
//! `ACCRUE_BENCH_KEEP_DB=1` keeps the database and prints its URL and an admin key, for
//! the dashboard's timing (`tests/bench/dashboard.sh`). Without `--bench` (as `cargo test
//! --all-targets` runs it) a small smoke version runs and checks that the rollups hold
//! what was loaded.

// Floats only for the timing figures.
#![allow(clippy::float_arithmetic)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use accrue::engine::Engine;
use accrue::http::{AppState, router};
use accrue::plugins::{Limits, Runtime};
use accrue::store::Store;
use accrue::testing::TestDb;
use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const PROGRAM: &str = "bench";
const ADMIN: &str = "acc_bench_admin_key";
const DAY: i64 = 86_400_000;
const CHANNELS: [&str; 3] = ["email", "social", "search"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn execute(db: &TestDb, statements: &[String]) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    for s in statements {
        sqlx::query(s).execute(&mut conn).await.expect(s);
    }
    conn.close().await.expect("close");
}

/// The data, as SQL: `end` is the instant the year ends at (now).
fn load(partners: usize, conversions: usize, clicks: usize, end: i64) -> Vec<String> {
    let start = end - 365 * DAY;
    let span = 365 * DAY;
    // Partner of row g: skewed toward the first ones (the square of a uniform draw).
    let partner = |g: &str| {
        format!(
            "'p' || lpad((1 + floor(power(((hashint8({g}) & 1048575)::float8 / 1048576), 2) * {partners}))::int::text, 5, '0')"
        )
    };
    vec![
        format!(
            "INSERT INTO plugins (digest, name, version, world, size_bytes, component, owner_program_id, builtin, created_at_ms)
             VALUES ('bench', 'bench', '1', 'attribution', 1, '\\x00', NULL, false, {start})"
        ),
        format!(
            "INSERT INTO programs (id, name, currency, attribution_digest, attribution_config, lookback_days, hold_days,
                 created_at_ms, updated_at_ms)
             VALUES ('{PROGRAM}', 'Bench shop', 'USD', 'bench', '{{}}', 30, 14, {start}, {start})"
        ),
        format!(
            "INSERT INTO rate_tables (program_id, version, effective_from_ms, created_at_ms) VALUES ('{PROGRAM}', 1, 0, {start})"
        ),
        format!(
            "INSERT INTO commission_tiers (program_id, version, tier, base_rate, bonus_rate) VALUES ('{PROGRAM}', 1, 'starter', 0.10, 0)"
        ),
        format!(
            "INSERT INTO partners (id, program_id, name, country, payout_currency, created_at_ms)
             SELECT 'p' || lpad(k::text, 5, '0'), '{PROGRAM}', 'Partner ' || k, 'US', 'USD', {start}
             FROM generate_series(1, {partners}) AS k"
        ),
        format!(
            "CREATE TEMP TABLE conv AS
             SELECT g, 'c' || g AS id, {partner} AS partner_id,
                    {start} + (g::bigint * {span}) / {conversions} + (hashint8(g) & 3599999) AS at,
                    ((1000 + (hashint8(g * 7) & 32767))::numeric / 100) AS amount,
                    'cust' || (hashint8(g * 13) & 262143) AS customer,
                    CASE WHEN g % 3 = 0 THEN 'k' || (g * 20) END AS click
             FROM generate_series(1, {conversions}) AS g",
            partner = partner("g")
        ),
        format!(
            "INSERT INTO conversions (program_id, id, amount, currency, occurred_at_ms, customer_id, country, region,
                 new_customer, attributes, created_at_ms, click_id)
             SELECT '{PROGRAM}', id, amount, 'USD', at, customer, 'US', NULL, false, '[]', at, click FROM conv"
        ),
        format!(
            "INSERT INTO touchpoints (program_id, conversion_id, seq, partner_id, channel, occurred_at_ms, campaign)
             SELECT '{PROGRAM}', id, 0, partner_id, (ARRAY['email','social','search'])[1 + g % 3], at - 3600000,
                    'campaign-' || (g % 5) FROM conv"
        ),
        format!(
            "INSERT INTO revenue_attributions (program_id, conversion_id, partner_id, weight, attributed_amount, currency, occurred_at_ms)
             SELECT '{PROGRAM}', id, partner_id, 1, amount, 'USD', at FROM conv"
        ),
        format!(
            "INSERT INTO ledger_entries (program_id, partner_id, conversion_id, kind, amount, currency, payout_amount,
                 payout_currency, fx_rate, rate, cause, hold_until_ms, created_at_ms)
             SELECT '{PROGRAM}', partner_id, id, 'commission', round(amount / 10, 2), 'USD', round(amount / 10, 2),
                    'USD', 1, 0.10, 'conversion', at + 14 * {DAY}, at FROM conv"
        ),
        // Clicks: the same partner skew, a year long, in time order.
        format!(
            "INSERT INTO analytics_events (program_id, id, kind, partner_id, occurred_at_ms, visitor_hash, campaign,
                 channel, landing_page, country, user_agent_class, click_id, created_at_ms)
             SELECT '{PROGRAM}', 'k' || g, 'click', {partner}, {start} + (g::bigint * {span}) / {clicks},
                    md5(g::text), 'campaign-' || (g % 5), (ARRAY['email','social','search'])[1 + g % 3],
                    '/landing', 'US', 'mobile', NULL, {start} + (g::bigint * {span}) / {clicks}
             FROM generate_series(1, {clicks}) AS g",
            partner = partner("(g / 20)")
        ),
        "VACUUM ANALYZE".into(),
    ]
}

/// The service's router over `engine`.
async fn app(engine: &Engine) -> axum::Router {
    engine
        .ensure_admin_key(Some(ADMIN))
        .await
        .expect("admin key");
    router(AppState::new(engine.clone()).await.expect("state"))
}

async fn request(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {ADMIN}"));
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(serde_json::to_vec(b).expect("json"))
        }
        None => Body::empty(),
    };
    let resp = app
        .clone()
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("response");
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn date(days_ago: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days_ago))
        .format("%Y-%m-%d")
        .to_string()
}

/// Time `n` requests of `path(i)`, each a fresh answer; print p50, p95, max.
async fn time_path(
    app: &axum::Router,
    name: &str,
    n: usize,
    path: impl Fn(usize) -> String,
) -> f64 {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let uri = path(i);
        let t = Instant::now();
        let (status, body) = request(app, "GET", &uri, None).await;
        times.push(t.elapsed());
        assert_eq!(status, 200, "{uri}: {body}");
    }
    times.sort();
    let p95 = percentile(&times, 0.95);
    println!(
        "  {name:<44} n {n:>3}  p50 {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms",
        percentile(&times, 0.5),
        p95,
        times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    p95
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (partners, conversions, clicks, requests, ingest) = if full {
        (
            env_usize("ACCRUE_BENCH_PARTNERS", 1_000),
            env_usize("ACCRUE_BENCH_CONVERSIONS", 1_000_000),
            env_usize("ACCRUE_BENCH_CLICKS", 20_000_000),
            env_usize("ACCRUE_BENCH_REQUESTS", 40),
            env_usize("ACCRUE_BENCH_INGEST", 500_000),
        )
    } else {
        (20, 2_000, 20_000, 3, 20_000)
    };
    if let Ok(filter) = std::env::var("ACCRUE_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        // A database an earlier run kept (`ACCRUE_BENCH_REUSE=<its url>`): steps 2 and 3
        // again without the load and the rebuild (loading a year and rebuilding takes
        // about 25 minutes on 2 cores).
        let reuse = std::env::var("ACCRUE_BENCH_REUSE").ok();
        let db = match &reuse {
            Some(url) => TestDb::existing(url),
            None => TestDb::postgres().await.expect("PostgreSQL (set DATABASE_URL)"),
        };
        let store = Store::connect(&db.url, 8).await.expect("connect");
        store.migrate().await.expect("migrate");
        let end = chrono::Utc::now().timestamp_millis();
        let runtime = Arc::new(Runtime::new(Limits::default(), None).expect("runtime"));
        let engine = Engine::new(store.clone(), runtime);
        let (clicks, conversions) = if reuse.is_some() {
            let row: (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM analytics_events WHERE kind = 'click'), (SELECT COUNT(*) FROM conversions)",
            )
            .fetch_one(&sqlx::PgPool::connect(&db.url).await.expect("connect"))
            .await
            .expect("count");
            println!(
                "analytics benchmark: PostgreSQL, the kept database {} ({} conversions, {} clicks loaded before)",
                db.url, row.1, row.0
            );
            (usize::try_from(row.0).unwrap_or(0), usize::try_from(row.1).unwrap_or(0))
        } else {
            let t = Instant::now();
            execute(&db, &load(partners, conversions, clicks, end)).await;
            println!(
                "analytics benchmark: PostgreSQL, {partners} partners, {conversions} conversions, {clicks} clicks over a year; loaded in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            let t = Instant::now();
            let (events, facts) = engine.rebuild_analytics().await.expect("rebuild");
            let rebuild = t.elapsed();
            println!(
                "1. rebuild of the rollups: {events} events and {facts} facts in {:.1} s ({:.0} facts/s, events included)",
                rebuild.as_secs_f64(),
                (events as f64 + facts as f64) / rebuild.as_secs_f64()
            );
            execute(&db, &["VACUUM ANALYZE".into()]).await;
            (clicks, conversions)
        };
        let app = app(&engine).await;
        // What the rollups say equals what was loaded.
        let (_, all) = request(
            &app,
            "GET",
            &format!("/affiliate/analytics/conversions?program_id={PROGRAM}&from={}&to={}", date(370), date(0)),
            None,
        )
        .await;
        assert_eq!(all["totals"]["clicks"], json!(clicks), "{all}");
        assert_eq!(all["totals"]["sales"], json!(conversions), "{all}");
        println!("2. analytics paths (each answer computed from the rollups, not the cache):");
        let mut worst: f64 = 0.0;
        let n = requests;
        let q = |to: usize, days: i64| format!("program_id={PROGRAM}&from={}&to={}", date(days + to as i64), date(to as i64));
        let p = "p00001";
        for (name, path) in [
            ("revenue, program, 30 days by day, New York", Box::new(move |i: usize| format!("/affiliate/analytics/revenue?{}&time_zone=America/New_York", q(i, 29))) as Box<dyn Fn(usize) -> String>),
            ("revenue, program, a year by month", Box::new(move |i| format!("/affiliate/analytics/revenue?{}&interval=month", q(i, 364)))),
            ("revenue, 90 days by partner", Box::new(move |i| format!("/affiliate/analytics/revenue?{}&group_by=partner&interval=week", q(i, 89)))),
            ("revenue, one partner, 90 days, Kolkata", Box::new(move |i| format!("/affiliate/analytics/revenue?{}&partner_id={p}&time_zone=Asia/Kolkata", q(i, 89)))),
            ("conversions, program, 30 days by channel", Box::new(move |i| format!("/affiliate/analytics/conversions?{}&group_by=channel", q(i, 29)))),
            ("conversions, 30 days by partner", Box::new(move |i| format!("/affiliate/analytics/conversions?{}&group_by=partner", q(i, 29)))),
            ("conversions, one partner, 90 days", Box::new(move |i| format!("/affiliate/analytics/conversions?{}&partner_id={p}", q(i, 89)))),
            ("customers, program, 90 days", Box::new(move |i| format!("/affiliate/analytics/customers?{}", q(i, 89)))),
            ("customers, by partner, a year", Box::new(move |i| format!("/affiliate/analytics/customers?{}&group_by=partner&interval=month", q(i, 364)))),
            ("roi, program and partners, 30 days", Box::new(move |i| format!("/affiliate/analytics/roi?{}", q(i, 29)))),
            ("ranking by revenue, 30 days", Box::new(move |i| format!("/affiliate/analytics/ranking?{}&by=revenue", q(i, 29)))),
            ("ranking by growth, 90 days", Box::new(move |i| format!("/affiliate/analytics/ranking?{}&by=growth", q(i, 89)))),
        ] {
            worst = worst.max(time_path(&app, name, n, path).await);
        }
        // Forecast and churn are per day: each request after the first is a cache hit, so
        // the cold figure is one request per program state (a rebuild between them).
        for (name, path) in [
            ("forecast (30 and 90 days, with backtest)", format!("/affiliate/analytics/forecast?program_id={PROGRAM}")),
            ("churn (every partner, with evaluation)", format!("/affiliate/analytics/churn?program_id={PROGRAM}")),
        ] {
            let mut times = Vec::new();
            for _ in 0..3.min(n) {
                engine.forget_analytics_cache();
                let t = Instant::now();
                let (status, body) = request(&app, "GET", &path, None).await;
                times.push(t.elapsed());
                assert_eq!(status, 200, "{path}: {body}");
            }
            times.sort();
            let p95 = percentile(&times, 0.95);
            worst = worst.max(p95);
            println!("  {name:<44} n {:>3}  p50 {:>7.1} ms  max {:>7.1} ms (uncached)", times.len(), percentile(&times, 0.5), p95);
            let t = Instant::now();
            request(&app, "GET", &path, None).await;
            println!("  {:<44} cached: {:.2} ms", "", t.elapsed().as_secs_f64() * 1000.0);
        }
        println!("  worst p95: {worst:.1} ms (goal: at most 100 ms)");
        // Click ingest through the API: 10,000 per batch, 2 callers; ids new in every run.
        let run = end;
        let per_batch = 10_000.min(ingest);
        let batches = ingest / per_batch;
        let t = Instant::now();
        let mut tasks = Vec::new();
        for caller in 0..2 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let mut b = caller;
                while b < batches {
                    let events: Vec<Value> = (0..per_batch)
                        .map(|i| {
                            let n = b * per_batch + i;
                            json!({"id": format!("new-{run}-{n}"), "program_id": PROGRAM, "kind": "click",
                                   "partner_id": format!("p{:05}", 1 + n % 1000.min(partners.max(1))),
                                   "occurred_at": chrono::DateTime::from_timestamp_millis(end - 3_600_000 + (n as i64 % 3_600_000)).map(|d| d.to_rfc3339()).unwrap_or_default(),
                                   "channel": CHANNELS[n % 3], "campaign": format!("campaign-{}", n % 5),
                                   "visitor_id": format!("visitor-{n}")})
                        })
                        .collect();
                    let (status, body) = request(&app, "POST", "/v1/events/batch", Some(&json!({"events": events}))).await;
                    assert_eq!(status, 200, "{body}");
                    assert_eq!(body["created"], json!(per_batch), "{}", body["results"][0]);
                    b += 2;
                }
            }));
        }
        for t in tasks {
            t.await.expect("ingest task");
        }
        let took = t.elapsed();
        println!(
            "3. click ingest: {} clicks in batches of {per_batch} from 2 callers in {:.2} s: {:.0} events/s (goal: at least 50,000)",
            batches * per_batch,
            took.as_secs_f64(),
            (batches * per_batch) as f64 / took.as_secs_f64()
        );
        if reuse.is_some() || std::env::var("ACCRUE_BENCH_KEEP_DB").is_ok() {
            println!("database kept: {} (admin key {ADMIN})", db.url);
            store.close().await;
        } else {
            store.close().await;
            db.drop_db().await;
        }
    });
}
