//! The approval job's cost (issue 10, item 5): a run with nothing due, and a run with
//! 1,000 entries due, over a ledger of 1,000,000 entries on PostgreSQL.
//!
//! A fresh database (`DATABASE_URL`, default the local server; see
//! [`accrue::testing::TestDb`]) is migrated, then loaded directly through SQL (the bench
//! measures the job, not the ingest): one plug-in row, one program, one partner, and
//! `ACCRUE_BENCH_ENTRIES` (default 1,000,000) commission entries, half of them approved
//! already (an `approved` event each) and half on hold until a far date (a queue row
//! each), then `ANALYZE`. Then, timed with `std::time::Instant`:
//!
//! 1. `Store::approve_due` with nothing due, `ACCRUE_BENCH_RUNS` times (default 50);
//! 2. `ACCRUE_BENCH_RUNS / 5` times (at least 3): 1,000 more entries written due (not
//!    timed), then one timed `approve_due`, which must approve exactly those 1,000.
//!
//! Each prints the median, p90 and max in milliseconds. Run:
//! `cargo bench -p accrue --bench approval`; without `--bench` (e.g. `cargo test
//! --all-targets`) a small smoke version runs.

// Floats are only used for the timing figures; no money path here.
#![allow(clippy::float_arithmetic)]

use accrue::store::Store;
use accrue::testing::TestDb;
use std::time::{Duration, Instant};

/// 2026-03-10T12:00:00Z: "now" for every run.
const NOW: i64 = 1_773_144_000_000;
const DAY: i64 = 86_400_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Entries `from..to` (generated ids), each a commission of the one partner: due at
/// `due_ms`, or, when `approved`, already approved (and so not on the queue).
fn insert_entries(range: (i64, i64), due_ms: i64, approved: bool) -> Vec<String> {
    let (from, to) = range;
    let created_ms = NOW - 30 * DAY;
    let mut statements = vec![format!(
        "INSERT INTO ledger_entries (id, program_id, partner_id, conversion_id, kind, amount, currency,
             payout_amount, payout_currency, fx_rate, rate, cause, hold_until_ms, created_at_ms)
         SELECT g, 'bench', 'a', NULL, 'commission', 5.00, 'USD', 5.00, 'USD', 1, 0.05,
             'conversion', {due_ms} + g, {created_ms}
         FROM generate_series({from}, {to} - 1) AS g"
    )];
    statements.push(if approved {
        format!(
            "INSERT INTO entry_events (entry_id, event, at_ms, reason)
             SELECT g, 'approved', {NOW}, 'bench' FROM generate_series({from}, {to} - 1) AS g"
        )
    } else {
        format!(
            "INSERT INTO approval_queue (entry_id, due_ms)
             SELECT g, {due_ms} + g FROM generate_series({from}, {to} - 1) AS g"
        )
    });
    statements
}

async fn execute(db: &TestDb, statements: &[String]) {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&db.url)
        .await
        .expect("connect");
    for s in statements {
        sqlx::query(s).execute(&mut conn).await.expect(s);
    }
    conn.close().await.expect("close");
}

/// The fixed rows every entry refers to: a plug-in, a program, a partner.
fn references() -> Vec<String> {
    vec![
        format!(
            "INSERT INTO plugins (digest, name, version, world, size_bytes, component, owner_program_id, builtin, created_at_ms)
             VALUES ('bench', 'bench', '1', 'attribution', 1, '\\x00', NULL, false, {NOW})"
        ),
        format!(
            "INSERT INTO programs (id, name, currency, attribution_digest, attribution_config, lookback_days, hold_days,
                 created_at_ms, updated_at_ms)
             VALUES ('bench', 'bench', 'USD', 'bench', '{{}}', 30, 14, {NOW}, {NOW})"
        ),
        format!(
            "INSERT INTO partners (id, program_id, payout_currency, created_at_ms)
             VALUES ('a', 'bench', 'USD', {NOW})"
        ),
    ]
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |p: f64| ms(times[((times.len() - 1) as f64 * p).round() as usize]);
    println!(
        "{what:<44} runs {:>3}  median {:>8.3} ms  p90 {:>8.3} ms  max {:>8.3} ms",
        times.len(),
        at(0.5),
        at(0.9),
        at(1.0),
    );
}

/// The first case: `due` entries bulk-loaded into a fresh ledger, all due, and the
/// first run straight after, before the planner has any statistics (no `ANALYZE`; this was
/// 55 s for 50,000 entries when the job read the whole ledger).
async fn fresh_bulk_load(due: i64) {
    let db = TestDb::postgres()
        .await
        .expect("PostgreSQL (set DATABASE_URL)");
    let store = Store::connect(&db.url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut statements = references();
    statements.extend(insert_entries((1, due + 1), NOW - 2 * DAY - due, false));
    statements.push(format!("SELECT setval('ledger_entries_id_seq', {due})"));
    execute(&db, &statements).await;
    let t = Instant::now();
    let approved = store.approve_due(NOW).await.expect("approve");
    let first = t.elapsed();
    assert_eq!(approved, due as u64, "every loaded entry was due");
    println!(
        "first run after a bulk load of {due} due entries, no statistics: {:.1} ms",
        first.as_secs_f64() * 1e3
    );
    store.close().await;
    db.drop_db().await;
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (entries, runs) = if full {
        (
            env_usize("ACCRUE_BENCH_ENTRIES", 1_000_000) as i64,
            env_usize("ACCRUE_BENCH_RUNS", 50),
        )
    } else {
        (2_000, 5)
    };
    let due_runs = (runs / 5).max(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        fresh_bulk_load(if full {
            env_usize("ACCRUE_BENCH_FRESH_DUE", 50_000) as i64
        } else {
            1_000
        })
        .await;
        let db = TestDb::postgres()
            .await
            .expect("PostgreSQL (set DATABASE_URL)");
        let store = Store::connect(&db.url, 4).await.expect("connect");
        store.migrate().await.expect("migrate");
        let load = Instant::now();
        let half = entries / 2;
        let mut statements = references();
        statements.extend(insert_entries((1, half + 1), NOW, true));
        statements.extend(insert_entries((half + 1, entries + 1), NOW + 3650 * DAY, false));
        statements.push(format!(
            "SELECT setval('ledger_entries_id_seq', {entries})"
        ));
        statements.push("ANALYZE".into());
        execute(&db, &statements).await;
        println!(
            "approval benchmark: PostgreSQL, {entries} entries ({half} approved, {} on hold), loaded in {:.1} s",
            entries - half,
            load.elapsed().as_secs_f64()
        );
        // Warm-up: the pool's connections and their prepared statements.
        for _ in 0..3 {
            store.approve_due(NOW).await.expect("warm-up");
        }
        let mut idle = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let approved = store.approve_due(NOW).await.expect("approve");
            idle.push(t.elapsed());
            assert_eq!(approved, 0, "nothing is due");
        }
        report("a run with nothing due", idle);
        let mut busy = Vec::with_capacity(due_runs);
        let mut next = entries + 1;
        for _ in 0..due_runs {
            execute(&db, &insert_entries((next, next + 1000), NOW - DAY - 2_000_000_000, false)).await;
            next += 1000;
            let t = Instant::now();
            let approved = store.approve_due(NOW).await.expect("approve");
            busy.push(t.elapsed());
            assert_eq!(approved, 1000, "exactly the entries that came due");
        }
        report("a run with 1,000 entries due", busy);
        store.close().await;
        db.drop_db().await;
    });
}
