//! Ingest throughput benchmark (issue 3): conversions through the engine (not HTTP) into
//! PostgreSQL (or SQLite, see below), with the default plug-ins.
//!
//! A fresh PostgreSQL database (`DATABASE_URL`, default the local server; see
//! [`accrue::testing::TestDb`]) gets one program bound to the built-in `linear` attribution
//! plug-in and a few partners. Then, each conversion carrying three touchpoints to three
//! different partners and a unique id:
//!
//! 1. single conversions, one `Engine::ingest` call after the other;
//! 2. batches through `Engine::ingest_batch`, one after the other, with the split of each
//!    batch's time between reads (idempotency records, partners), pricing and the store
//!    write (from the engine's debug event);
//! 3. the same batches from concurrent callers (two by default: the service handles requests
//!    concurrently, and the machine has two cores).
//!
//! Each phase prints conversions/second and rows/second. Rows are what the store writes
//! per conversion: the conversion, its idempotency record, its touchpoints, one revenue
//! attribution and one ledger entry per credited partner. At the end the tables are counted
//! and checked against that arithmetic, and the database is dropped.
//!
//! Run: `cargo bench -p accrue --bench ingest`. `ACCRUE_BENCH_DB=sqlite` runs it on a fresh
//! SQLite file instead, twice: with the store's `synchronous = FULL`, then with `NORMAL`. Sizes: `ACCRUE_BENCH_SINGLES` (default
//! 2000), `ACCRUE_BENCH_BATCHES` (60), `ACCRUE_BENCH_BATCH_SIZE` (500) and
//! `ACCRUE_BENCH_CALLERS` (2, for the concurrent phase), and `ACCRUE_BENCH_CHECKS`
//! (`statement`, the default, or `row`: how batches check their references, see
//! [`accrue::store::BatchChecks`]). `ACCRUE_BENCH_KEEP_DB=1` keeps
//! the database for inspection and prints its URL. Without
//! `--bench` (e.g. `cargo test --all-targets`) it runs a small smoke version.

// Floats are only used for the timing figures (rates, milliseconds); no money path here.
#![allow(clippy::float_arithmetic)]

/// The service's allocator (see `host/src/main.rs`), so the engine runs here as it does there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use accrue::domain::Currency;
use accrue::domain::program::{Program, RateTable, default_tiers};
use accrue::engine::{ConversionInput, Engine, IngestOutcome, PluginRef, TouchpointInput};
use accrue::plugins::{Limits, Runtime, World};
use accrue::store::{BatchChecks, PartnerRecord, Store};
use accrue::testing::TestDb;
use rust_decimal::Decimal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

/// 2026-03-10T12:00:00Z: when the conversions occur (plus one ms each).
const T0: i64 = 1_773_144_000_000;
const DAY: i64 = 86_400_000;
const PROGRAM: &str = "bench";
const PARTNERS: usize = 12;
const TOUCHPOINTS: usize = 3;

/// Sums of the engine's per-batch timings (its `batch priced and written` debug event):
/// reads (idempotency records, partners), pricing (plug-ins, amounts, result documents)
/// and the store write.
#[derive(Default)]
struct Split {
    batches: AtomicU64,
    read_us: AtomicU64,
    price_us: AtomicU64,
    write_us: AtomicU64,
}

impl Split {
    fn take(&self) -> (u64, u64, u64, u64) {
        (
            self.batches.swap(0, Ordering::Relaxed),
            self.read_us.swap(0, Ordering::Relaxed),
            self.price_us.swap(0, Ordering::Relaxed),
            self.write_us.swap(0, Ordering::Relaxed),
        )
    }
}

struct SplitLayer(Arc<Split>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SplitLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Visit<'a>(&'a Split, bool);
        impl tracing::field::Visit for Visit<'_> {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                match field.name() {
                    "read_us" => self.0.read_us.fetch_add(value, Ordering::Relaxed),
                    "price_us" => self.0.price_us.fetch_add(value, Ordering::Relaxed),
                    "write_us" => self.0.write_us.fetch_add(value, Ordering::Relaxed),
                    _ => return,
                };
                self.1 = true;
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        if event.metadata().target() != "accrue::engine::ingest" {
            return;
        }
        let mut visit = Visit(&self.0, false);
        event.record(&mut visit);
        if visit.1 {
            self.0.batches.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn print_split(split: &Split, size: usize) {
    let (batches, read_us, price_us, write_us) = split.take();
    if batches == 0 {
        return;
    }
    let per_batch = |us: u64| us as f64 / batches as f64 / 1e3;
    let per_conv = |us: u64| us as f64 / batches as f64 / size as f64;
    println!(
        "{:<34} per batch: reads {:.1} ms, pricing {:.1} ms ({:.0} µs/conversion), store write {:.1} ms ({:.0} µs/conversion)",
        "",
        per_batch(read_us),
        per_batch(price_us),
        per_conv(price_us),
        per_batch(write_us),
        per_conv(write_us),
    );
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Conversion number `n` of phase `phase`: three touchpoints (3, 2 and 1 days before) to
/// three different partners, rotating over all of them.
fn conversion(phase: &str, n: usize) -> ConversionInput {
    let occurred = T0 + n as i64;
    ConversionInput {
        program_id: PROGRAM.into(),
        id: format!("{phase}-{n:07}"),
        amount: Decimal::new(12_990 + (n % 1000) as i64, 2),
        currency: "USD".into(),
        occurred_at_ms: occurred,
        customer_id: Some(format!("cust-{}", n % 5000)),
        country: Some("US".into()),
        region: Some("US-CA".into()),
        new_customer: n.is_multiple_of(3),
        attributes: Vec::new(),
        touchpoints: (0..TOUCHPOINTS)
            .map(|k| TouchpointInput {
                partner_id: format!("p{:02}", (n + k) % PARTNERS),
                channel: ["email", "social", "search"][k].into(),
                occurred_at_ms: occurred - (TOUCHPOINTS - k) as i64 * DAY,
                campaign: None,
            })
            .collect(),
        signals: Default::default(),
    }
}

/// Rows the store writes for one new conversion: the conversion, its idempotency record,
/// its touchpoints, and per credited partner one revenue attribution and one ledger entry.
fn rows_of(input: &ConversionInput, outcome: &IngestOutcome) -> u64 {
    let IngestOutcome::Created(r) = outcome else {
        panic!("{}: expected a new conversion, got a replay", input.id);
    };
    assert_eq!(
        r.commissions.len(),
        TOUCHPOINTS,
        "one line per distinct partner"
    );
    (2 + input.touchpoints.len() + 2 * r.commissions.len()) as u64
}

/// CPU time so far, in clock ticks (Linux `/proc`; zeros elsewhere): this process (the
/// engine and the bench's driver), and the whole machine busy (which adds PostgreSQL).
#[derive(Clone, Copy, Default)]
struct Cpu {
    process: u64,
    machine: u64,
}

impl Cpu {
    /// Ticks per second for `/proc` figures (`USER_HZ`, 100 on Linux).
    const HZ: f64 = 100.0;

    fn now() -> Self {
        let process = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                // Fields after the command name, which is in parentheses: utime and
                // stime are the 12th and 13th of them.
                let rest = s.rsplit_once(')')?.1.to_owned();
                let f: Vec<u64> = rest
                    .split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|v| v.parse().ok())
                    .collect();
                Some(f.iter().sum())
            })
            .unwrap_or(0);
        let machine = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let f: Vec<u64> = s
                    .lines()
                    .next()?
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|v| v.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal: busy is all but idle
                // and iowait.
                Some(f.iter().take(8).sum::<u64>() - f.get(3)? - f.get(4)?)
            })
            .unwrap_or(0);
        Self { process, machine }
    }
}

struct Figures {
    conversions: u64,
    rows: u64,
    elapsed: Duration,
    cpu: (Cpu, Cpu),
}

impl Figures {
    fn print(&self, what: &str) {
        let s = self.elapsed.as_secs_f64();
        println!(
            "{what:<34} {:>7} conv in {:>8.1} ms  {:>9.0} conversions/s  {:>9.0} rows/s",
            self.conversions,
            s * 1e3,
            self.conversions as f64 / s,
            self.rows as f64 / s,
        );
        let (start, end) = self.cpu;
        let per_conv = |ticks: u64| ticks as f64 / Cpu::HZ * 1e6 / self.conversions as f64;
        let process = end.process.saturating_sub(start.process);
        let machine = end.machine.saturating_sub(start.machine);
        if machine > 0 {
            println!(
                "{:<34} CPU per conversion: {:.0} µs in all, {:.0} µs in this process (engine + driver), {:.0} µs elsewhere (PostgreSQL)",
                "",
                per_conv(machine),
                per_conv(process),
                per_conv(machine.saturating_sub(process)),
            );
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn setup(db: &TestDb, checks: BatchChecks) -> Engine {
    let store = Store::connect(&db.url, 16)
        .await
        .expect("connect")
        .with_batch_checks(checks);
    store.migrate().await.expect("migrate");
    let runtime = Arc::new(Runtime::new(Limits::default(), None).expect("runtime"));
    let engine = Engine::new(store, runtime);
    engine.load_plugins().await.expect("plug-ins");
    engine
        .wait_for_plugins(std::time::Duration::from_secs(600))
        .await;
    let attribution = engine
        .resolve_plugin(
            &PluginRef {
                plugin: "linear".into(),
                config: serde_json::json!({}),
            },
            World::Attribution,
            PROGRAM,
            "attribution",
        )
        .await
        .expect("linear plug-in");
    let program = Program {
        id: PROGRAM.into(),
        name: "Ingest benchmark".into(),
        currency: Currency::parse("USD").expect("USD"),
        attribution,
        geo_rate: None,
        bonus: None,
        lookback_days: 30,
        hold_days: 14,
        max_bonus_share: Decimal::ONE,
    };
    let rates = RateTable {
        version: 1,
        effective_from_ms: 0,
        tiers: default_tiers(),
        volume_tiers: Vec::new(),
    };
    engine
        .create_program(&program, rates)
        .await
        .expect("program");
    for p in 0..PARTNERS {
        engine
            .create_partner(&PartnerRecord {
                id: format!("p{p:02}"),
                program_id: PROGRAM.into(),
                name: None,
                country: Some("US".into()),
                payout_currency: accrue::domain::Currency::parse("USD").expect("USD"),
                tiers: vec![(0, "professional".into())],
                created_at_ms: T0 - 30 * DAY,
            })
            .await
            .expect("partner");
    }
    engine
}

async fn singles(engine: &Engine, n: usize) -> Figures {
    let inputs: Vec<ConversionInput> = (0..n).map(|i| conversion("single", i)).collect();
    let mut latencies = Vec::with_capacity(n);
    let mut rows = 0;
    let cpu = Cpu::now();
    let start = Instant::now();
    for input in &inputs {
        let t = Instant::now();
        let outcome = engine.ingest(input).await.expect("ingest");
        latencies.push(t.elapsed());
        rows += rows_of(input, &outcome);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let f = Figures {
        conversions: n as u64,
        rows,
        elapsed,
        cpu: (cpu, Cpu::now()),
    };
    f.print("single conversions (sequential)");
    println!(
        "{:<34} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms per conversion",
        "",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    f
}

async fn run_batches(engine: &Engine, phase: &str, batches: usize, size: usize) -> (u64, u64) {
    let mut rows = 0;
    for b in 0..batches {
        let inputs: Vec<ConversionInput> =
            (0..size).map(|i| conversion(phase, b * size + i)).collect();
        let outcomes = engine.ingest_batch(&inputs).await.expect("batch");
        for (input, outcome) in inputs.iter().zip(&outcomes) {
            rows += rows_of(input, outcome.as_ref().expect("batch item"));
        }
    }
    ((batches * size) as u64, rows)
}

async fn batches(engine: &Engine, batches: usize, size: usize) -> Figures {
    let cpu = Cpu::now();
    let start = Instant::now();
    let (conversions, rows) = run_batches(engine, "batch", batches, size).await;
    let f = Figures {
        conversions,
        rows,
        elapsed: start.elapsed(),
        cpu: (cpu, Cpu::now()),
    };
    f.print(&format!("batches of {size} (sequential)"));
    f
}

async fn concurrent_batches(
    engine: &Engine,
    callers: usize,
    batches: usize,
    size: usize,
) -> Figures {
    let cpu = Cpu::now();
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let engine = engine.clone();
            let phase = format!("conc-{caller}");
            tokio::spawn(async move {
                run_batches(&engine, &phase, batches.div_ceil(callers), size).await
            })
        })
        .collect();
    let (mut conversions, mut rows) = (0, 0);
    for t in tasks {
        let (c, r) = t.await.expect("task");
        conversions += c;
        rows += r;
    }
    let f = Figures {
        conversions,
        rows,
        elapsed: start.elapsed(),
        cpu: (cpu, Cpu::now()),
    };
    f.print(&format!("batches of {size} ({callers} concurrent callers)"));
    f
}

/// Count what the store holds and compare with the rows the figures assumed.
async fn check_rows(db: &TestDb, expected_conversions: u64, expected_rows: u64) {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::AnyConnection::connect(&db.url)
        .await
        .expect("connect");
    let mut total = 0;
    let mut conversions = 0;
    for table in [
        "conversions",
        "idempotency_records",
        "touchpoints",
        "revenue_attributions",
        "ledger_entries",
    ] {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .expect("count")
            .try_get("n")
            .expect("n");
        println!("  {table:<22} {n:>9}");
        if table == "conversions" {
            conversions = n as u64;
        }
        total += n as u64;
    }
    conn.close().await.expect("close");
    assert_eq!(conversions, expected_conversions, "conversions stored");
    assert_eq!(total, expected_rows, "rows stored");
    println!(
        "  {:<22} {total:>9} (= {:.1} rows per conversion)",
        "total",
        total as f64 / conversions.max(1) as f64
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n_single, n_batches, size, callers) = if full {
        (
            env_usize("ACCRUE_BENCH_SINGLES", 2000),
            env_usize("ACCRUE_BENCH_BATCHES", 60),
            env_usize("ACCRUE_BENCH_BATCH_SIZE", 500),
            env_usize("ACCRUE_BENCH_CALLERS", 2).max(1),
        )
    } else {
        (20, 2, 10, 2)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let split = Arc::new(Split::default());
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::filter::Targets::new()
                    .with_target("accrue::engine::ingest", tracing::Level::DEBUG),
            )
            .with(SplitLayer(split.clone())),
    )
    .expect("tracing subscriber");
    let checks: BatchChecks = std::env::var("ACCRUE_BENCH_CHECKS")
        .unwrap_or_else(|_| "statement".into())
        .parse()
        .expect("ACCRUE_BENCH_CHECKS: statement or row");
    let sizes = Sizes {
        singles: n_single,
        batches: n_batches,
        size,
        callers,
    };
    rt.block_on(async {
        match std::env::var("ACCRUE_BENCH_DB").as_deref() {
            Ok("sqlite") => {
                // Durability's price (issue 10, item 8): the same phases on a fresh file
                // with the store's FULL, then with the NORMAL it used before.
                for level in ["FULL", "NORMAL"] {
                    let db = TestDb::sqlite();
                    let engine = setup(&db, checks).await;
                    let read = engine
                        .store()
                        .set_sqlite_synchronous(level)
                        .await
                        .expect("synchronous");
                    let label = format!("SQLite, synchronous = {level} ({read})");
                    run(&db, &engine, &label, &sizes, &split).await;
                    assert_eq!(
                        engine.store().sqlite_synchronous().await.expect("pragma"),
                        read,
                        "the level held for the whole run"
                    );
                    finish(db, &engine).await;
                }
            }
            Ok("postgres") | Err(_) => {
                let db = TestDb::postgres()
                    .await
                    .expect("PostgreSQL (set DATABASE_URL)");
                let engine = setup(&db, checks).await;
                let label = format!("PostgreSQL, batch reference checks: {checks:?}");
                run(&db, &engine, &label, &sizes, &split).await;
                finish(db, &engine).await;
            }
            Ok(other) => panic!("ACCRUE_BENCH_DB={other:?}: postgres or sqlite"),
        }
    });
}

/// How much each phase ingests.
struct Sizes {
    singles: usize,
    batches: usize,
    size: usize,
    callers: usize,
}

/// The three phases, printed under `label`, then the row check.
async fn run(db: &TestDb, engine: &Engine, label: &str, sizes: &Sizes, split: &Split) {
    println!(
        "ingest benchmark: {label}, linear attribution, {TOUCHPOINTS} touchpoints to {TOUCHPOINTS} partners per conversion, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let size = sizes.size;
    // Warm-up: program cache, plug-in instance pre, pool connections.
    let (warm, warm_rows) = run_batches(engine, "warm", 2, 50.min(size)).await;

    let single = singles(engine, sizes.singles).await;
    split.take();
    let batch = batches(engine, sizes.batches, size).await;
    print_split(split, size);
    let conc = concurrent_batches(engine, sizes.callers, sizes.batches, size).await;
    print_split(split, size);

    println!("rows in the database:");
    check_rows(
        db,
        warm + single.conversions + batch.conversions + conc.conversions,
        warm_rows + single.rows + batch.rows + conc.rows,
    )
    .await;
}

/// Close the store and drop the database, unless asked to keep it.
async fn finish(db: TestDb, engine: &Engine) {
    engine.store().close().await;
    if std::env::var_os("ACCRUE_BENCH_KEEP_DB").is_some() {
        println!("kept the database: {}", db.url);
    } else {
        db.drop_db().await;
    }
}
