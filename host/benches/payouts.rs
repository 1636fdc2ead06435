//! The payout run's cost (issue 11, "Speed"): a run over 1,000,000 approved entries of
//! 100,000 partners on PostgreSQL, from the payable set to the stored SEPA and NACHA files.
//!
//! A fresh database (`DATABASE_URL`, default the local server; see
//! [`accrue::testing::TestDb`]) is migrated, then loaded directly through SQL, not timed
//! (the bench measures the run, not the ingest or the approval job): one program,
//! `ACCRUE_BENCH_PARTNERS` partners (default 100,000) and `ACCRUE_BENCH_ENTRIES`
//! commission entries (default 1,000,000, spread evenly over the partners), each with an
//! `approved` event and its row in the payable set, as the approval job writes them. Even
//! partners are paid in EUR by SEPA (a valid German IBAN each) and file a W-8BEN (DE,
//! 0 %); odd ones in USD by ACH and file a W-9, every other one without a TIN (24 % backup
//! withholding), so both withholding paths run. Every tenth partner is a company (CCD
//! batches in the NACHA file). Each method is sealed for its partner with a fixed bench key
//! and stored with its mask, as `Engine::set_payout_method` stores it. The schedule has a
//! payer (IBAN, BIC, ACH origin) and a minimum per currency. Then `VACUUM ANALYZE`.
//!
//! Then `ACCRUE_BENCH_RUNS` times (default 3), timed with `std::time::Instant`:
//!
//! 1. `Engine::start_payout_run`: gather the balances, net, withhold, write the items, the
//!    entries they pay and the withholding entries;
//! 2. `Engine::approve_payout_run` by an admin;
//! 3. `Engine::export_payout_run`: read the items, open every destination, write the SEPA
//!    and NACHA files and store them with their items;
//!
//! and, outside those, the pure file generation over the run's items
//! (`accrue_payfiles::sepa::write`, `accrue_payfiles::nacha::write`) in items/s, plus the
//! parts of the export the bench can time on its own (reading the items, opening the
//! destinations). Between runs the database is restored, not timed: the payout tables are
//! emptied, the withholding entries deleted, the payable set rebuilt from the approved
//! entries, then `VACUUM ANALYZE`; every run starts from the same state as the first.
//!
//! Each phase prints the median and max of the runs. `ACCRUE_BENCH_KEEP_DB=1` keeps the
//! database (after the last run) for inspection and prints its URL. Run:
//! `cargo bench -p accrue --bench payouts`; without `--bench` (e.g. `cargo test
//! --all-targets`) a small smoke version runs (1,000 entries of 100 partners, one run, then
//! again with every foreign key checked row by row) and checks that the run's figures add
//! up.

// Floats are only used for the timing figures; no money path here.
#![allow(clippy::float_arithmetic)]

/// The service's allocator (see `host/src/main.rs`), so the engine runs here as it does there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use accrue::domain::payout::{AchOrigin, CurrencyRule, Frequency, Payer, Settings};
use accrue::engine::{Engine, RunRequest, Sealer, masked_method};
use accrue::plugins::{Limits, Runtime};
use accrue::store::payouts::ItemRecord;
use accrue::store::{BatchChecks, Store};
use accrue::testing::TestDb;
use accrue_payfiles::accounts::AccountType;
use accrue_payfiles::{Item, Method, PartyKind};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-03-10T12:00:00Z: "now" for every run, and its cut-off.
const NOW: i64 = 1_773_144_000_000;
const DAY: i64 = 86_400_000;
/// The program.
const PROGRAM: &str = "bench";
/// The bench's secrets key (fixed: nothing here is secret).
const KEY: [u8; 32] = [7; 32];
/// Methods sealed and inserted per statement.
const METHOD_CHUNK: usize = 20_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal")
}

/// Partner `k`'s id (1-based), as the SQL below writes it.
fn partner_id(k: usize) -> String {
    format!("b{k:06}")
}

/// A valid German IBAN for partner `k`: bank code 37040044, account `k`, check digits
/// computed (ISO 13616 mod 97).
fn iban(k: usize) -> String {
    let bban = format!("37040044{k:010}");
    // The BBAN, then "DE" as digits (D = 13, E = 14), then "00".
    let remainder = format!("{bban}131400")
        .bytes()
        .fold(0u32, |acc, b| (acc * 10 + u32::from(b - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - remainder)
}

/// Partner `k`'s payout method: SEPA for even `k` (EUR), ACH for odd (USD).
fn method(k: usize) -> Method {
    if k.is_multiple_of(2) {
        Method::Sepa {
            iban: iban(k),
            bic: None,
        }
    } else {
        Method::Ach {
            routing: if k % 4 == 1 { "021000021" } else { "011000015" }.into(),
            account: format!("{:012}", 100_000_000 + k),
            account_type: if k.is_multiple_of(3) {
                AccountType::Savings
            } else {
                AccountType::Checking
            },
        }
    }
}

/// Run SQL statements one after the other on one connection.
async fn execute(db: &TestDb, statements: &[String]) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    for s in statements {
        sqlx::query(s).execute(&mut conn).await.expect(s);
    }
    conn.close().await.expect("close");
}

/// The program, its partners, their entries (approved, payable) and tax profiles.
fn load_statements(partners: usize, entries: usize) -> Vec<String> {
    let created = NOW - 30 * DAY;
    let approved = NOW - DAY;
    vec![
        format!(
            "INSERT INTO plugins (digest, name, version, world, size_bytes, component, owner_program_id, builtin, created_at_ms)
             VALUES ('bench', 'bench', '1', 'attribution', 1, '\\x00', NULL, false, {created})"
        ),
        format!(
            "INSERT INTO programs (id, name, currency, attribution_digest, attribution_config, lookback_days, hold_days,
                 created_at_ms, updated_at_ms)
             VALUES ('{PROGRAM}', 'bench', 'USD', 'bench', '{{}}', 30, 14, {created}, {created})"
        ),
        format!(
            "INSERT INTO rate_tables (program_id, version, effective_from_ms, created_at_ms)
             VALUES ('{PROGRAM}', 1, 0, {created})"
        ),
        format!(
            "INSERT INTO commission_tiers (program_id, version, tier, base_rate, bonus_rate)
             VALUES ('{PROGRAM}', 1, 'starter', 0.05, 0)"
        ),
        format!(
            "INSERT INTO partners (id, program_id, name, country, payout_currency, created_at_ms)
             SELECT 'b' || lpad(k::text, 6, '0'), '{PROGRAM}', 'Partner ' || k,
                    CASE WHEN k % 2 = 0 THEN 'DE' ELSE 'US' END,
                    CASE WHEN k % 2 = 0 THEN 'EUR' ELSE 'USD' END, {created}
             FROM generate_series(1, {partners}) AS k"
        ),
        // Entry g belongs to partner (g - 1) % partners + 1: 5.00 to 14.99 each.
        format!(
            "INSERT INTO ledger_entries (id, program_id, partner_id, conversion_id, kind, amount, currency,
                 payout_amount, payout_currency, fx_rate, rate, cause, hold_until_ms, created_at_ms)
             SELECT g, '{PROGRAM}', 'b' || lpad(((g - 1) % {partners} + 1)::text, 6, '0'), NULL, 'commission',
                 (500 + g % 1000)::numeric / 100, c, (500 + g % 1000)::numeric / 100, c, 1, 0.05,
                 'conversion', {created} + 14 * {DAY}, {created}
             FROM (SELECT g, CASE WHEN ((g - 1) % {partners} + 1) % 2 = 0 THEN 'EUR' ELSE 'USD' END AS c
                   FROM generate_series(1, {entries}) AS g) s"
        ),
        format!("SELECT setval('ledger_entries_id_seq', {entries})"),
        format!(
            "INSERT INTO entry_events (entry_id, event, at_ms, reason)
             SELECT g, 'approved', {approved}, 'hold period over' FROM generate_series(1, {entries}) AS g"
        ),
        payable_rebuild(),
        // EUR partners: W-8BEN from Germany. USD partners: W-9, a TIN on file for
        // k % 4 = 1 (sealed below), none for k % 4 = 3.
        format!(
            "INSERT INTO tax_profiles (partner_id, form, legal_name, tin_sealed, tin_masked, country, treaty_rate, updated_at_ms)
             SELECT 'b' || lpad(k::text, 6, '0'), CASE WHEN k % 2 = 0 THEN 'w8ben' ELSE 'w9' END,
                    'Partner ' || k, NULL, NULL, CASE WHEN k % 2 = 0 THEN 'DE' ELSE 'US' END, NULL, {created}
             FROM generate_series(1, {partners}) AS k"
        ),
    ]
}

/// The payable set from the approved commission entries: what the approval job writes.
fn payable_rebuild() -> String {
    "INSERT INTO payable_entries (entry_id, program_id, partner_id, payout_currency, payout_amount, approved_at_ms)
     SELECT e.id, e.program_id, e.partner_id, e.payout_currency, e.payout_amount, a.at_ms
     FROM ledger_entries e JOIN entry_events a ON a.entry_id = e.id AND a.event = 'approved'
     WHERE e.kind = 'commission'"
        .into()
}

/// Undo a run (not timed): the state of the database after loading, again.
fn restore_statements() -> Vec<String> {
    vec![
        "TRUNCATE payout_file_items, payout_files, payout_item_events, payout_item_entry_lists, payout_items,
                  payout_run_events, payout_runs, notices"
            .into(),
        // Without the foreign-key triggers for the two deletes: `reverses_entry_id` has no
        // index, so checking each deleted withholding entry would scan the whole ledger.
        // Nothing refers to these entries any more (their items are gone).
        "SET session_replication_role = replica".into(),
        "DELETE FROM entry_events WHERE entry_id IN (SELECT id FROM ledger_entries WHERE kind IN ('withholding', 'fee'))"
            .into(),
        "DELETE FROM ledger_entries WHERE kind IN ('withholding', 'fee')".into(),
        "SET session_replication_role = DEFAULT".into(),
        "TRUNCATE payable_entries".into(),
        payable_rebuild(),
    ]
}

/// Seal every partner's method (and the TINs on file) and store them in bulk.
async fn load_methods(db: &TestDb, sealer: &Sealer, partners: usize) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let ks: Vec<usize> = (1..=partners).collect();
    for chunk in ks.chunks(METHOD_CHUNK) {
        let mut ids = Vec::with_capacity(chunk.len());
        let mut names = Vec::with_capacity(chunk.len());
        let mut kinds = Vec::with_capacity(chunk.len());
        let mut party = Vec::with_capacity(chunk.len());
        let mut sealed = Vec::with_capacity(chunk.len());
        let mut masks = Vec::with_capacity(chunk.len());
        for &k in chunk {
            let id = partner_id(k);
            let m = method(k);
            let plain = serde_json::to_vec(&m).expect("method as JSON");
            sealed.push(sealer.seal(&id, &plain));
            masks.push(serde_json::to_string(&masked_method(&m)).expect("mask as JSON"));
            kinds.push(m.name().to_owned());
            names.push(format!("Partner {k}"));
            party.push(
                if k.is_multiple_of(10) {
                    "company"
                } else {
                    "individual"
                }
                .to_owned(),
            );
            ids.push(id);
        }
        sqlx::query(
            "INSERT INTO payout_methods (partner_id, method, holder_name, party_kind, sealed, masked, key_id, updated_at_ms)
             SELECT p, m, h, k, s, x, $7, $8
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(p, m, h, k, s, x)",
        )
        .bind(&ids)
        .bind(&kinds)
        .bind(&names)
        .bind(&party)
        .bind(&sealed)
        .bind(&masks)
        .bind(sealer.key_id())
        .bind(NOW - 30 * DAY)
        .execute(&mut conn)
        .await
        .expect("payout methods");
        let (tin_ids, tins): (Vec<String>, Vec<String>) = chunk
            .iter()
            .filter(|&&k| k % 4 == 1)
            .map(|&k| {
                let id = partner_id(k);
                let tin = sealer.seal(&id, format!("{:09}", 100_000_000 + k).as_bytes());
                (id, tin)
            })
            .unzip();
        sqlx::query(
            "UPDATE tax_profiles t SET tin_sealed = u.s, tin_masked = '•••••' || right(u.p, 4)
             FROM UNNEST($1::text[], $2::text[]) AS u(p, s) WHERE t.partner_id = u.p",
        )
        .bind(&tin_ids)
        .bind(&tins)
        .execute(&mut conn)
        .await
        .expect("TINs");
    }
    conn.close().await.expect("close");
}

/// The program's schedule: a payer for SEPA and ACH files, a minimum per currency.
fn settings() -> Settings {
    let mut currencies = BTreeMap::new();
    for c in ["EUR", "USD"] {
        currencies.insert(
            c.to_owned(),
            CurrencyRule {
                minimum: dec("25.00"),
                fee_below: Decimal::ZERO,
                fee: Decimal::ZERO,
            },
        );
    }
    Settings {
        currencies,
        default_minimum: dec("50.00"),
        methods: Vec::new(),
        second_approval_above: BTreeMap::new(),
        payer: Some(Payer {
            name: "Accrue Bench GmbH".into(),
            iban: Some("DE75512108001245126199".into()),
            bic: Some("SOGEDEFFXXX".into()),
            ach: Some(AchOrigin {
                immediate_destination: "021000021".into(),
                immediate_destination_name: "JPMORGAN CHASE".into(),
                immediate_origin: "1234567890".into(),
                immediate_origin_name: "ACCRUE BENCH".into(),
                company_name: "ACCRUE BENCH".into(),
                company_id: "1234567890".into(),
                odfi_routing: "021000021".into(),
                entry_description: "PAYOUT".into(),
            }),
            wise_source_currency: None,
        }),
        nec_threshold: None,
    }
}

/// What one run measured.
#[derive(Default)]
struct Times {
    start: Duration,
    approve: Duration,
    export: Duration,
    read_items: Duration,
    open: Duration,
    sepa: Duration,
    nacha: Duration,
    sepa_items: usize,
    nacha_items: usize,
}

/// The run's paying items as the file writers take them, as the export builds them.
fn file_item(engine: &Engine, run_id: &str, i: &ItemRecord) -> Item {
    let sealed = i
        .destination
        .as_deref()
        .expect("a paying item has a destination");
    let plain = engine
        .sealer()
        .expect("sealer")
        .open(&i.partner_id, sealed)
        .expect("opens");
    Item {
        id: i.id.clone(),
        name: i.holder_name.clone().unwrap_or_default(),
        kind: if i.party_kind.as_deref() == Some("company") {
            PartyKind::Company
        } else {
            PartyKind::Individual
        },
        method: serde_json::from_slice(&plain).expect("method"),
        amount: i.net,
        currency: i.currency.clone(),
        reference: format!("Commission payout {run_id}"),
        execution_date: None,
    }
}

/// One run: start, approve, export (timed), then the file generation on its own.
async fn one_run(
    engine: &Engine,
    db: &TestDb,
    partners: usize,
    entries: usize,
    check: bool,
) -> Times {
    let mut t = Times::default();
    let clock = Instant::now();
    let started = engine
        .start_payout_run(&RunRequest {
            program_id: PROGRAM.into(),
            cutoff_ms: Some(NOW),
            dry_run: false,
            idempotency_key: None,
            actor: "admin-1".into(),
        })
        .await
        .expect("start");
    t.start = clock.elapsed();
    let run_id = started.run.id.clone();
    let clock = Instant::now();
    engine
        .approve_payout_run(&run_id, "admin-1", None)
        .await
        .expect("approve");
    t.approve = clock.elapsed();
    let clock = Instant::now();
    let files = engine
        .export_payout_run(&run_id, "admin-1", None)
        .await
        .expect("export");
    t.export = clock.elapsed();

    // The parts of the export the bench can time on its own, and the writers alone.
    let clock = Instant::now();
    let items = engine
        .store()
        .run_paying_items(&run_id)
        .await
        .expect("items");
    t.read_items = clock.elapsed();
    let clock = Instant::now();
    let file_items: Vec<Item> = items
        .iter()
        .map(|i| file_item(engine, &run_id, i))
        .collect();
    t.open = clock.elapsed();
    let (sepa_items, ach_items): (Vec<Item>, Vec<Item>) = file_items
        .into_iter()
        .partition(|i| matches!(i.method, Method::Sepa { .. }));
    let s = settings();
    let payer = s.payer.expect("payer");
    let ach = payer.ach.clone().expect("ach origin");
    let created = chrono::DateTime::from_timestamp_millis(NOW).expect("instant");
    let batch = accrue_payfiles::sepa::Batch {
        message_id: format!("{run_id}-S"),
        created_at: created,
        execution_date: created.date_naive(),
        debtor: accrue_payfiles::sepa::Party {
            name: payer.name.clone(),
            iban: payer.iban.clone().expect("iban"),
            bic: payer.bic.clone(),
        },
        items: sepa_items,
    };
    let file = accrue_payfiles::nacha::File {
        immediate_destination: ach.immediate_destination,
        immediate_destination_name: ach.immediate_destination_name,
        immediate_origin: ach.immediate_origin,
        immediate_origin_name: ach.immediate_origin_name,
        created_at: created.naive_utc(),
        file_id_modifier: 'A',
        reference_code: String::new(),
        company_name: ach.company_name,
        company_id: ach.company_id,
        odfi_routing: ach.odfi_routing,
        entry_description: ach.entry_description,
        effective_date: created.date_naive(),
        items: ach_items,
    };
    let clock = Instant::now();
    let xml = accrue_payfiles::sepa::write(&batch).expect("SEPA file");
    t.sepa = clock.elapsed();
    let clock = Instant::now();
    let nacha = accrue_payfiles::nacha::write(&file).expect("NACHA file");
    t.nacha = clock.elapsed();
    t.sepa_items = batch.items.len();
    t.nacha_items = file.items.len();
    assert!(!xml.is_empty() && !nacha.text.is_empty());

    // Every partner is paid: its ten entries are above the minimum.
    assert_eq!(items.len(), partners, "one paying item per partner");
    assert_eq!(
        files.iter().map(|f| f.item_count).sum::<i64>(),
        partners as i64,
        "every item in a file"
    );
    let entry_count: i64 = items.iter().map(|i| i.entry_count).sum();
    assert_eq!(entry_count, entries as i64, "every entry paid once");
    if check {
        check_figures(engine, db, &items, &files).await;
    }
    t
}

/// The run's figures add up: the items' gross is the sum of the entries, per currency;
/// withholding only where the W-9 has no TIN (24 %, cut to the cent); the store's invariants hold; nothing
/// is left payable.
async fn check_figures(
    engine: &Engine,
    db: &TestDb,
    items: &[ItemRecord],
    files: &[accrue::store::payouts::FileRecord],
) {
    use sqlx::{Connection, Row};
    let store: &Store = engine.store();
    let mut gross: BTreeMap<String, Decimal> = BTreeMap::new();
    for i in items {
        *gross.entry(i.currency.clone()).or_default() += i.gross;
        assert_eq!(i.net, i.gross - i.withholding - i.fee, "item {}", i.id);
        let k: usize = i.partner_id[1..].parse().expect("partner number");
        let expected = if k % 4 == 3 {
            // Withholding rounds toward zero: never more than the rate.
            (i.gross * dec("0.24"))
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero)
        } else {
            Decimal::ZERO
        };
        assert_eq!(i.withholding, expected, "withholding of {}", i.partner_id);
    }
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    for (currency, sum) in &gross {
        let row = sqlx::query(
            "SELECT CAST(SUM(payout_amount) AS TEXT) AS total FROM ledger_entries
             WHERE kind = 'commission' AND payout_currency = $1",
        )
        .bind(currency)
        .fetch_one(&mut conn)
        .await
        .expect("sum");
        let total: String = row.try_get("total").expect("total");
        assert_eq!(*sum, dec(&total), "{currency}: gross = sum of the entries");
    }
    conn.close().await.expect("close");
    let names: Vec<&str> = files.iter().map(|f| f.format.as_str()).collect();
    assert_eq!(names, ["nacha", "sepa"], "one NACHA and one SEPA file");
    assert_eq!(
        store.check_payout_invariants().await.expect("invariants"),
        Vec::<String>::new()
    );
    assert_eq!(store.payable_count().await.expect("payable"), 0);
}

fn report(what: &str, times: &[Duration]) {
    let mut v = times.to_vec();
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:<34} runs {:>2}  median {:>9.1} ms  max {:>9.1} ms",
        v.len(),
        ms(v[(v.len() - 1) / 2]),
        ms(v[v.len() - 1]),
    );
}

fn report_rate(what: &str, times: &[Duration], items: usize) {
    let mut v = times.to_vec();
    v.sort();
    let median = v[(v.len() - 1) / 2];
    println!(
        "{what:<34} runs {:>2}  median {:>9.1} ms  max {:>9.1} ms  {:>9.0} items/s (median)",
        v.len(),
        median.as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3,
        items as f64 / median.as_secs_f64(),
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (partners, entries, runs) = if full {
        (
            env_usize("ACCRUE_BENCH_PARTNERS", 100_000),
            env_usize("ACCRUE_BENCH_ENTRIES", 1_000_000),
            env_usize("ACCRUE_BENCH_RUNS", 3).max(1),
        )
    } else {
        (100, 1_000, 1)
    };
    assert!(
        partners > 0 && entries >= partners * 5,
        "at least 5 entries per partner, so every balance is above the minimum"
    );
    // `ACCRUE_LOG=info` shows the engine's log lines, among them each run's phases.
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
        let db = TestDb::postgres()
            .await
            .expect("PostgreSQL (set DATABASE_URL)");
        let store = Store::connect(&db.url, 4).await.expect("connect");
        store.migrate().await.expect("migrate");
        let load = Instant::now();
        execute(&db, &load_statements(partners, entries)).await;
        let sealer = Sealer::new(&KEY);
        load_methods(&db, &sealer, partners).await;
        let runtime = Arc::new(Runtime::new(Limits::default(), None).expect("runtime"));
        let engine = Engine::new(store.clone(), runtime).with_secrets(sealer);
        engine
            .set_payout_schedule(PROGRAM, Frequency::Monthly { day: 1 }, settings())
            .await
            .expect("schedule");
        execute(&db, &["VACUUM ANALYZE".into()]).await;
        println!(
            "payout benchmark: PostgreSQL, {partners} partners, {entries} approved entries, loaded in {:.1} s",
            load.elapsed().as_secs_f64()
        );
        let mut all = Vec::with_capacity(runs);
        for n in 0..runs {
            if n > 0 {
                let restore = Instant::now();
                execute(&db, &restore_statements()).await;
                execute(&db, &["VACUUM ANALYZE".into()]).await;
                println!(
                    "  (restored the payable set in {:.1} s)",
                    restore.elapsed().as_secs_f64()
                );
            }
            let t = one_run(&engine, &db, partners, entries, n == 0 || !full).await;
            println!(
                "  run {}: start {:.0} ms, approve {:.0} ms, export {:.0} ms, whole {:.0} ms",
                n + 1,
                t.start.as_secs_f64() * 1e3,
                t.approve.as_secs_f64() * 1e3,
                t.export.as_secs_f64() * 1e3,
                (t.start + t.approve + t.export).as_secs_f64() * 1e3
            );
            all.push(t);
        }
        let pick = |f: fn(&Times) -> Duration| all.iter().map(f).collect::<Vec<_>>();
        if !full {
            // The smoke version runs once more with the foreign keys checking every row
            // (`BatchChecks::Row`, what a role that may not set
            // `session_replication_role` gets), and checks the same figures.
            execute(&db, &restore_statements()).await;
            let row_checked = Engine::new(
                store.clone().with_batch_checks(BatchChecks::Row),
                Arc::new(Runtime::new(Limits::default(), None).expect("runtime")),
            )
            .with_secrets(Sealer::new(&KEY));
            one_run(&row_checked, &db, partners, entries, true).await;
            println!("  the same run with row-checked foreign keys adds up too");
        }
        report("1. start (gather, net, withhold)", &pick(|t| t.start));
        report("2. approve", &pick(|t| t.approve));
        report("3. export (files stored)", &pick(|t| t.export));
        report(
            "whole run (1 + 2 + 3)",
            &pick(|t| t.start + t.approve + t.export),
        );
        println!("inside the export, timed apart:");
        report("  read the paying items", &pick(|t| t.read_items));
        report("  open the destinations", &pick(|t| t.open));
        let (sepa_n, nacha_n) = (all[0].sepa_items, all[0].nacha_items);
        report_rate(
            &format!("  SEPA file ({sepa_n} items)"),
            &pick(|t| t.sepa),
            sepa_n,
        );
        report_rate(
            &format!("  NACHA file ({nacha_n} items)"),
            &pick(|t| t.nacha),
            nacha_n,
        );
        report_rate(
            "  file generation (both)",
            &pick(|t| t.sepa + t.nacha),
            sepa_n + nacha_n,
        );
        store.close().await;
        if std::env::var("ACCRUE_BENCH_KEEP_DB").is_ok_and(|v| v == "1") {
            println!("database kept: {}", db.url);
        } else {
            db.drop_db().await;
        }
    });
}
