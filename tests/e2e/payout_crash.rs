//! Payouts under concurrency and crashes, on PostgreSQL, with the real service:
//! - two service processes whose payout loops race the same schedule create exactly one
//!   run, with the right figures;
//! - a payout cycle driven over HTTP (conversions, refunds, approval, run, approvals,
//!   export or cancellation, bank outcomes, returns) while a killer sends SIGKILL to the
//!   service at random points, at least 20 times: each time the service is restarted and
//!   the cycle resumed where it stopped, idempotently, and the database is checked
//!   directly: no entry paid twice, none lost, paid items' figures equal to the entries
//!   they pay.
//!
//! The seed is printed; `ACCRUE_CRASH_SEED=<n>` replays a sequence of decisions (the
//! instants the kills land at depend on timing, so a replay is close, not identical).

use crate::payouts::{credit, payout_world, schedule};
use crate::support::{ADMIN_KEY, SECRETS_KEY, Server, conversion, postgres};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::postgres::PgPool;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Today's ISO weekday (1 = Monday) in UTC: 1970-01-01 was a Thursday.
fn iso_weekday(ms: i64) -> u32 {
    (((ms.div_euclid(DAY_MS) + 3) % 7) + 1) as u32
}

/// xorshift64*: enough to pick delays and outcomes, and replayable from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that close seeds start far apart and 0 is usable.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A number from a seed and a text (FNV-1a): the same item gets the same outcome in every
/// life of the service, so a resumed cycle asks for what the killed one asked.
fn hash(seed: u64, text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    Rng::new(h).next()
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn item<'a>(items: &'a [Value], partner: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["partner_id"] == partner)
        .unwrap_or_else(|| panic!("no item for {partner}: {items:?}"))
}

/// Wait (at most `secs`) until `program_id`'s runs are not empty; returns them.
async fn wait_for_runs(server: &Server, secs: u64) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let runs = server.admin_get("/v1/payout-runs?program_id=p").await;
        assert_eq!(runs.status, 200, "{}", runs.body);
        let list = runs.body["items"].as_array().cloned().unwrap_or_default();
        if !list.is_empty() {
            return list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "no scheduled run after {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_services_racing_one_schedule_create_one_run() {
    let db = postgres().await;
    // Set up with a service whose loops do not come round again during the test.
    let setup = Server::start(&db.url, &[("ACCRUE_SECRETS_KEY", SECRETS_KEY)]).await;
    payout_world(&setup).await;
    credit(&setup, "o1", "100.00", &["eu", "us", "pp", "nf"]).await;
    credit(&setup, "o2", "200.00", &["us"]).await;
    // A scheduled run pays what was approved before its pay day began (its cut-off is the
    // pay day at 00:00 UTC): these entries are approved "yesterday", through the store,
    // as the approval job of a day ago would have.
    let now = now_ms();
    let midnight = now - now.rem_euclid(DAY_MS);
    let store = accrue::store::Store::connect(&db.url, 2)
        .await
        .expect("store");
    assert_eq!(
        store
            .approve_due(midnight - 3_600_000)
            .await
            .expect("approve"),
        5
    );
    // Pay day: today.
    setup
        .admin(
            Method::PUT,
            "/v1/programs/p/payout-schedule",
            schedule(iso_weekday(now), "1000000.00"),
        )
        .await;
    let mut setup = setup;
    assert!(setup.terminate().await.success());
    drop(setup);

    let env = [
        ("ACCRUE_SECRETS_KEY", SECRETS_KEY),
        ("ACCRUE_APPROVE_EVERY_S", "1"),
        ("ACCRUE_PAYOUT_EVERY_S", "1"),
    ];
    // Both start at once: their loops' first ticks (at start) race, then every second.
    let (one, two) = tokio::join!(Server::start(&db.url, &env), Server::start(&db.url, &env));
    let first = wait_for_runs(&one, 30).await;
    // Both loops tick a few more times.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for server in [&one, &two] {
        let runs = server.admin_get("/v1/payout-runs?program_id=p").await;
        let runs = runs.body["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(runs.len(), 1, "exactly one run: {runs:?}");
        assert_eq!(runs[0]["id"], first[0]["id"]);
        assert_eq!(runs[0]["trigger"], "schedule");
        assert_eq!(runs[0]["created_by"], "scheduler");
        assert_eq!(runs[0]["status"], "draft");
    }
    let run_id = first[0]["id"].as_str().expect("run id").to_owned();
    let items = two
        .admin_get(&format!("/v1/payout-runs/{run_id}/items"))
        .await;
    let items = items.body["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 4, "{items:?}");
    let figures = |p: &str| {
        let i = item(&items, p);
        (
            i["currency"].as_str().unwrap_or_default().to_owned(),
            i["gross"].as_str().unwrap_or_default().to_owned(),
            i["withholding"].as_str().unwrap_or_default().to_owned(),
            i["fee"].as_str().unwrap_or_default().to_owned(),
            i["net"].as_str().unwrap_or_default().to_owned(),
            i["status"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let f = |c: &str, g: &str, w: &str, fee: &str, n: &str, s: &str| {
        (
            c.to_owned(),
            g.to_owned(),
            w.to_owned(),
            fee.to_owned(),
            n.to_owned(),
            s.to_owned(),
        )
    };
    assert_eq!(
        figures("eu"),
        f("EUR", "13.50", "0.00", "0.00", "13.50", "pending")
    );
    assert_eq!(
        figures("us"),
        f("USD", "45.00", "10.80", "1.00", "33.20", "pending")
    );
    assert_eq!(
        figures("pp"),
        f("USD", "15.00", "0.00", "1.00", "14.00", "pending")
    );
    assert_eq!(
        figures("nf"),
        f("USD", "15.00", "0.00", "0.00", "0.00", "held")
    );
    assert_eq!(
        store.check_payout_invariants().await.expect("check"),
        Vec::<String>::new()
    );
    assert_eq!(
        store.check_invariants().await.expect("check"),
        Vec::<String>::new()
    );
    drop(one);
    drop(two);
    store.close().await;
    db.drop_db().await;
}

/// The phases of one payout cycle, in order; a kill is counted in the phase the driver
/// was in when the signal was sent.
const INGEST: usize = 0;
const APPROVAL: usize = 1;
const CREATE: usize = 2;
const APPROVE: usize = 3;
const EXPORT: usize = 4;
const OUTCOMES: usize = 5;
const RETURNS: usize = 6;
const CLOSE: usize = 7;
const DONE: usize = 8;
const PHASES: [&str; 9] = [
    "ingest (conversions, refunds)",
    "approval wait",
    "run creation",
    "run approval",
    "export or cancel",
    "outcomes (paid, failed, sent)",
    "returns",
    "closing check",
    "after the cycle",
];

/// The service died under a request: the killer's doing (checked by the caller).
#[derive(Debug)]
struct Dead;

/// Where the driver is, for the killer to aim at.
#[derive(Debug, Default)]
struct Progress {
    phase: AtomicUsize,
    /// The request count when the phase began.
    phase_start: AtomicUsize,
    /// Requests sent so far in this life.
    requests: AtomicUsize,
    /// Whether one is waiting for its answer.
    in_flight: AtomicBool,
}

/// One life of the service, and the driver's progress in it.
struct Svc<'a> {
    server: &'a Server,
    progress: Arc<Progress>,
}

/// Iterations and the smallest number of kills that must land inside a cycle.
const ITERATIONS: usize = 20;
const MIN_KILLS: usize = 25;

/// Extra partners beside `payout_world`'s four: 20 in all.
const EXTRA: usize = 16;

/// What a resumed cycle needs to know.
struct Cycle {
    iter: usize,
    /// The phase to do next (those before it answered).
    next: usize,
    run_id: Option<String>,
    /// This iteration cancels its run instead of exporting it.
    cancel: bool,
}

/// What the driver does with a paying item, from a hash of its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Paid,
    Failed,
    SentThenPaid,
    PaidThenReturned,
}

/// Counters of what the retries met.
#[derive(Debug, Default)]
struct Replays {
    runs_found: usize,
    approvals_409: usize,
    exports_409: usize,
    cancels_409: usize,
    outcomes_unchanged: usize,
}

struct World {
    url: String,
    pool: PgPool,
    seed: u64,
    admins: [String; 2],
    partners: Vec<String>,
    replays: Replays,
}

impl World {
    fn fate(&self, item_id: &str) -> Fate {
        match hash(self.seed, item_id) % 100 {
            0..55 => Fate::Paid,
            55..70 => Fate::Failed,
            70..85 => Fate::SentThenPaid,
            _ => Fate::PaidThenReturned,
        }
    }
}

/// A request that may meet a dead service.
async fn req(
    s: &Svc<'_>,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Result<crate::support::Response, Dead> {
    s.progress.requests.fetch_add(1, Ordering::SeqCst);
    s.progress.in_flight.store(true, Ordering::SeqCst);
    let r = s
        .server
        .try_call_with(method, path, Some(key), body, headers)
        .await
        .map_err(|_| Dead);
    s.progress.in_flight.store(false, Ordering::SeqCst);
    r
}

fn ok(r: &crate::support::Response, what: &str) {
    assert!(r.status.is_success(), "{what}: {} {}", r.status, r.body);
}

async fn run_view(s: &Svc<'_>, run_id: &str) -> Result<Value, Dead> {
    let r = req(
        s,
        Method::GET,
        &format!("/v1/payout-runs/{run_id}"),
        ADMIN_KEY,
        None,
        &[],
    )
    .await?;
    ok(&r, "GET run");
    Ok(r.body)
}

async fn run_items(s: &Svc<'_>, run_id: &str) -> Result<Vec<Value>, Dead> {
    let r = req(
        s,
        Method::GET,
        &format!("/v1/payout-runs/{run_id}/items?limit=1000"),
        ADMIN_KEY,
        None,
        &[],
    )
    .await?;
    ok(&r, "GET items");
    Ok(r.body["items"].as_array().cloned().unwrap_or_default())
}

/// Post this iteration's conversions (one per partner, amounts from the seed) and, after
/// the first, refund one of the previous iteration's: a reversal, netted by the next run
/// (a negative balance when what it reverses was paid). Replays answer 200.
async fn ingest(s: &Svc<'_>, c: &Cycle, w: &World) -> Result<(), Dead> {
    for (n, p) in w.partners.iter().enumerate() {
        let id = format!("c{}-{p}", c.iter);
        let cents = 2_000 + hash(w.seed, &id) % 38_000;
        let body = conversion(
            "p",
            &id,
            &format!("{}.{:02}", cents / 100, cents % 100),
            &[(p, "email", "2026-03-09T00:00:00Z")],
        );
        let r = req(
            s,
            Method::POST,
            "/v1/conversions",
            ADMIN_KEY,
            Some(body),
            &[],
        )
        .await?;
        ok(&r, &format!("conversion {id} ({n})"));
    }
    if c.iter > 0 {
        let p = &w.partners[c.iter % w.partners.len()];
        let r = req(
            s,
            Method::POST,
            &format!("/v1/conversions/c{}-{p}/refunds", c.iter - 1),
            ADMIN_KEY,
            Some(json!({"program_id": "p", "id": format!("r{}", c.iter)})),
            &[],
        )
        .await?;
        ok(&r, "refund");
    }
    Ok(())
}

/// Wait until the approval loop has approved everything (the hold is 0 days): the due
/// queue is empty. Asks the service each time, so that a kill ends the wait.
async fn approval(s: &Svc<'_>, w: &World) -> Result<(), Dead> {
    let started = Instant::now();
    loop {
        s.progress.requests.fetch_add(1, Ordering::SeqCst);
        let r = s
            .server
            .try_call_with(Method::GET, "/readyz", None, None, &[])
            .await
            .map_err(|_| Dead)?;
        assert!(r.status.is_success(), "readyz: {}", r.status);
        let waiting: i64 = sqlx::query("SELECT COUNT(*) AS n FROM approval_queue")
            .fetch_one(&w.pool)
            .await
            .expect("queue")
            .get("n");
        if waiting == 0 {
            return Ok(());
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{waiting} entries still wait for approval"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Create the iteration's run with its fixed key: a retry after a kill finds the run the
/// killed service may have committed (200) instead of making a second one.
async fn create(s: &Svc<'_>, c: &Cycle, w: &mut World) -> Result<String, Dead> {
    let key = format!("crash-{}", c.iter);
    let r = req(
        s,
        Method::POST,
        "/v1/payout-runs",
        ADMIN_KEY,
        Some(json!({"program_id": "p"})),
        &[("Idempotency-Key", &key)],
    )
    .await?;
    match r.status.as_u16() {
        201 => {}
        200 => w.replays.runs_found += 1,
        other => panic!("create run: {other} {}", r.body),
    }
    assert_eq!(r.body["trigger"], "api");
    Ok(r.body["id"].as_str().expect("run id").to_owned())
}

/// Approve with as many admins as the run needs: an approval the killed service recorded
/// answers 409 on the retry.
async fn approve(s: &Svc<'_>, run_id: &str, w: &mut World) -> Result<(), Dead> {
    let run = run_view(s, run_id).await?;
    let required = run["approvals_required"].as_i64().expect("approvals") as usize;
    assert!((1..=2).contains(&required), "{run}");
    for key in &w.admins[..required] {
        let r = req(
            s,
            Method::POST,
            &format!("/v1/payout-runs/{run_id}/approve"),
            key,
            None,
            &[],
        )
        .await?;
        match r.status.as_u16() {
            200 => {}
            409 => {
                r.assert_problem(409, "conflict", "approval again");
                w.replays.approvals_409 += 1;
            }
            other => panic!("approve: {other} {}", r.body),
        }
    }
    let run = run_view(s, run_id).await?;
    assert_eq!(run["status"], "approved", "{run}");
    assert_eq!(
        run["approved_by"].as_array().map(Vec::len),
        Some(required),
        "{run}"
    );
    Ok(())
}

async fn export(s: &Svc<'_>, run_id: &str, w: &mut World) -> Result<(), Dead> {
    let r = req(
        s,
        Method::POST,
        &format!("/v1/payout-runs/{run_id}/export"),
        ADMIN_KEY,
        None,
        &[],
    )
    .await?;
    match r.status.as_u16() {
        200 | 201 => {}
        409 => {
            r.assert_problem(409, "conflict", "export again");
            w.replays.exports_409 += 1;
        }
        other => panic!("export: {other} {}", r.body),
    }
    let run = run_view(s, run_id).await?;
    assert_eq!(run["status"], "exported", "{run}");
    let files = req(
        s,
        Method::GET,
        &format!("/v1/payout-runs/{run_id}/files"),
        ADMIN_KEY,
        None,
        &[],
    )
    .await?;
    ok(&files, "files");
    assert!(
        !files.body["items"]
            .as_array()
            .map(Vec::is_empty)
            .unwrap_or(true),
        "an exported run has its files: {}",
        files.body
    );
    Ok(())
}

async fn cancel(s: &Svc<'_>, run_id: &str, w: &mut World) -> Result<(), Dead> {
    let r = req(
        s,
        Method::POST,
        &format!("/v1/payout-runs/{run_id}/cancel"),
        ADMIN_KEY,
        Some(json!({"note": "crash test: cancelled"})),
        &[],
    )
    .await?;
    match r.status.as_u16() {
        200 => {}
        409 => {
            r.assert_problem(409, "conflict", "cancel again");
            w.replays.cancels_409 += 1;
        }
        other => panic!("cancel: {other} {}", r.body),
    }
    let run = run_view(s, run_id).await?;
    assert_eq!(run["status"], "cancelled", "{run}");
    Ok(())
}

/// One outcome by hand; the item must now have it (applied now or before the kill).
async fn outcome(
    s: &Svc<'_>,
    run_id: &str,
    item_id: &str,
    outcome: &str,
    w: &mut World,
) -> Result<(), Dead> {
    let r = req(
        s,
        Method::POST,
        &format!("/v1/payout-runs/{run_id}/items/{item_id}/outcome"),
        ADMIN_KEY,
        Some(json!({"outcome": outcome, "reason": "crash test"})),
        &[],
    )
    .await?;
    ok(&r, &format!("{outcome} {item_id}"));
    if r.body["unchanged"] == json!([item_id]) {
        w.replays.outcomes_unchanged += 1;
    } else {
        assert_eq!(r.body["applied"], json!([item_id]), "{}", r.body);
    }
    Ok(())
}

/// Bank feedback naming `ids`: each got its outcome now or had it already.
async fn feedback(
    s: &Svc<'_>,
    run_id: &str,
    format: &str,
    content: String,
    ids: &[String],
    w: &mut World,
) -> Result<(), Dead> {
    let r = req(
        s,
        Method::POST,
        &format!("/v1/payout-runs/{run_id}/feedback"),
        ADMIN_KEY,
        Some(json!({"format": format, "content": content})),
        &[],
    )
    .await?;
    ok(&r, format);
    assert_eq!(r.body["rejected"], json!([]), "{}", r.body);
    let mut seen: Vec<String> = ["applied", "unchanged"]
        .iter()
        .flat_map(|k| r.body[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    seen.sort();
    let mut want = ids.to_vec();
    want.sort();
    assert_eq!(seen, want, "{}", r.body);
    w.replays.outcomes_unchanged += r.body["unchanged"].as_array().map_or(0, Vec::len);
    Ok(())
}

/// The paying items of a run with their fates.
async fn paying(s: &Svc<'_>, run_id: &str, w: &World) -> Result<Vec<(Value, Fate)>, Dead> {
    Ok(run_items(s, run_id)
        .await?
        .into_iter()
        .filter(|i| i["status"] != "held")
        .map(|i| {
            let fate = w.fate(i["id"].as_str().unwrap_or_default());
            (i, fate)
        })
        .collect())
}

/// Paid (EUR ones by a `pain.002`, the rest by hand), failed, or sent then paid.
async fn outcomes(s: &Svc<'_>, run_id: &str, w: &mut World) -> Result<(), Dead> {
    let items = paying(s, run_id, w).await?;
    let mut sepa_paid = Vec::new();
    for (i, fate) in &items {
        let id = i["id"].as_str().expect("item id");
        match fate {
            Fate::Paid | Fate::PaidThenReturned if i["method"] == "sepa" => {
                sepa_paid.push(id.to_owned());
            }
            Fate::Paid | Fate::PaidThenReturned => outcome(s, run_id, id, "paid", w).await?,
            Fate::Failed => outcome(s, run_id, id, "failed", w).await?,
            Fate::SentThenPaid => {
                outcome(s, run_id, id, "sent", w).await?;
                outcome(s, run_id, id, "paid", w).await?;
            }
        }
    }
    if !sepa_paid.is_empty() {
        let tx: String = sepa_paid
            .iter()
            .map(|id| {
                format!(
                    "<TxInfAndSts><OrgnlEndToEndId>{id}</OrgnlEndToEndId><TxSts>ACSC</TxSts></TxInfAndSts>"
                )
            })
            .collect();
        let pain002 = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
 <CstmrPmtStsRpt>
  <GrpHdr><MsgId>STS-{run_id}</MsgId><CreDtTm>2026-11-30T10:00:00</CreDtTm></GrpHdr>
  <OrgnlGrpInfAndSts><OrgnlMsgId>{run_id}-S</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>
  <OrgnlPmtInfAndSts><OrgnlPmtInfId>X</OrgnlPmtInfId>{tx}</OrgnlPmtInfAndSts>
 </CstmrPmtStsRpt>
</Document>"#
        );
        feedback(s, run_id, "pain.002", pain002, &sepa_paid, w).await?;
    }
    Ok(())
}

/// Returns of paid items: ACH ones in a NACHA return list, the rest by hand.
async fn returns(s: &Svc<'_>, run_id: &str, w: &mut World) -> Result<(), Dead> {
    let items = paying(s, run_id, w).await?;
    let mut ach = Vec::new();
    for (i, fate) in &items {
        if *fate != Fate::PaidThenReturned {
            continue;
        }
        let id = i["id"].as_str().expect("item id");
        if i["method"] == "ach" {
            ach.push(id.to_owned());
        } else {
            outcome(s, run_id, id, "returned", w).await?;
        }
    }
    if !ach.is_empty() {
        let list: String = ach.iter().map(|id| format!("R01,{id}\n")).collect();
        let content = format!("return_code,individual_id\n{list}");
        feedback(s, run_id, "nacha-returns", content, &ach, w).await?;
    }
    Ok(())
}

/// The run is closed and each item has the outcome its fate gave it.
async fn close(s: &Svc<'_>, c: &Cycle, run_id: &str, w: &World) -> Result<(), Dead> {
    let run = run_view(s, run_id).await?;
    let items = paying(s, run_id, w).await?;
    if c.cancel {
        assert_eq!(run["status"], "cancelled", "{run}");
        for (i, _) in &items {
            assert_eq!(i["status"], "failed", "{i}");
        }
        return Ok(());
    }
    assert_eq!(run["status"], "completed", "{run}");
    for (i, fate) in &items {
        let want = match fate {
            Fate::Paid | Fate::SentThenPaid => "paid",
            Fate::Failed => "failed",
            Fate::PaidThenReturned => "returned",
        };
        assert_eq!(i["status"], want, "{i}");
    }
    Ok(())
}

/// Drive the cycle from where it stopped to its end, or until the service dies.
async fn drive(s: &Svc<'_>, c: &mut Cycle, w: &mut World) -> Result<(), Dead> {
    while c.next < DONE {
        s.progress
            .phase_start
            .store(s.progress.requests.load(Ordering::SeqCst), Ordering::SeqCst);
        s.progress.phase.store(c.next, Ordering::SeqCst);
        let run_id = c.run_id.clone().unwrap_or_default();
        match c.next {
            INGEST => ingest(s, c, w).await?,
            APPROVAL => approval(s, w).await?,
            CREATE => c.run_id = Some(create(s, c, w).await?),
            APPROVE => approve(s, &run_id, w).await?,
            EXPORT if c.cancel => cancel(s, &run_id, w).await?,
            EXPORT => export(s, &run_id, w).await?,
            OUTCOMES if !c.cancel => outcomes(s, &run_id, w).await?,
            RETURNS if !c.cancel => returns(s, &run_id, w).await?,
            CLOSE => close(s, c, &run_id, w).await?,
            _ => {}
        }
        c.next += 1;
    }
    s.progress.phase.store(DONE, Ordering::SeqCst);
    Ok(())
}

/// Send SIGKILL to `pid` once the driver has reached phase `target` and sent `skip` more
/// requests in it (or gone past it), `jitter_us` after that request went out: most kills
/// land while a request is being answered, some just before or after. Returns the phase
/// the driver was in and whether a request was in flight.
fn killer(
    pid: u32,
    progress: Arc<Progress>,
    target: usize,
    skip: usize,
    jitter_us: u64,
) -> tokio::task::JoinHandle<(usize, bool)> {
    tokio::spawn(async move {
        while progress.phase.load(Ordering::SeqCst) < target {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let from = progress.phase_start.load(Ordering::SeqCst);
        while progress.requests.load(Ordering::SeqCst) <= from + skip
            && progress.phase.load(Ordering::SeqCst) == target
        {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        tokio::time::sleep(Duration::from_micros(jitter_us)).await;
        let at = progress.phase.load(Ordering::SeqCst);
        let in_flight = progress.in_flight.load(Ordering::SeqCst);
        // SAFETY: kill(2) takes plain integers. The process is our unreaped child (the
        // `Server` that reaps it outlives this task), so the pid names no other process.
        let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -9 {pid}");
        (at, in_flight)
    })
}

/// What the database says, checked directly after every kill and every cycle:
/// - the store's own invariant checks are empty;
/// - no entry has more `paid` events than `returned` ones plus one;
/// - every approved entry of a paid-out kind is exactly one of: paid (and not returned),
///   in the payable set, or in an item with no outcome yet (none lost, none twice);
/// - an entry not approved is in neither the payable set nor an item;
/// - paid items' gross sums to the entries they pay, and to the entries whose events say
///   they are paid.
async fn check_database(
    w: &World,
    store: &accrue::store::Store,
    when: &str,
) -> BTreeMap<&'static str, usize> {
    assert_eq!(
        store.check_payout_invariants().await.expect("check"),
        Vec::<String>::new(),
        "payout invariants {when}"
    );
    assert_eq!(
        store.check_invariants().await.expect("check"),
        Vec::<String>::new(),
        "ledger invariants {when}"
    );
    let rows = sqlx::query(
        "SELECT e.id,
            (SELECT COUNT(*) FROM entry_events x WHERE x.entry_id = e.id AND x.event = 'paid') AS paid,
            (SELECT COUNT(*) FROM entry_events x WHERE x.entry_id = e.id AND x.event = 'returned') AS returned,
            EXISTS (SELECT 1 FROM entry_events x WHERE x.entry_id = e.id AND x.event = 'approved') AS approved,
            EXISTS (SELECT 1 FROM payable_entries p WHERE p.entry_id = e.id) AS payable,
            (SELECT COUNT(*) FROM payout_item_entries pie WHERE pie.entry_id = e.id
                AND NOT EXISTS (SELECT 1 FROM payout_item_events v WHERE v.item_id = pie.item_id
                                AND v.event IN ('paid', 'failed', 'returned'))) AS unsettled,
            (SELECT COUNT(*) FROM payout_item_entries pie WHERE pie.entry_id = e.id) AS claimed
         FROM ledger_entries e WHERE e.kind IN ('commission', 'bonus', 'reversal', 'adjustment')",
    )
    .fetch_all(&w.pool)
    .await
    .expect("entries");
    let mut classes: BTreeMap<&'static str, usize> = BTreeMap::new();
    for r in &rows {
        let id: i64 = r.get("id");
        let paid: i64 = r.get("paid");
        let returned: i64 = r.get("returned");
        let approved: bool = r.get("approved");
        let payable: bool = r.get("payable");
        let unsettled: i64 = r.get("unsettled");
        let claimed: i64 = r.get("claimed");
        assert!(
            paid <= returned + 1,
            "entry {id} paid {paid} times, returned {returned} {when}"
        );
        if !approved {
            assert!(
                !payable && claimed == 0 && paid == 0,
                "entry {id} is not approved, yet payable {payable}, in {claimed} items, paid {paid} {when}"
            );
            *classes.entry("pending").or_default() += 1;
            continue;
        }
        let paid_now = paid > returned;
        let places = usize::from(paid_now) + usize::from(payable) + unsettled as usize;
        assert_eq!(
            places, 1,
            "entry {id} must be in exactly one place {when}: paid {paid}, returned {returned}, payable {payable}, in {unsettled} unsettled items"
        );
        *classes
            .entry(if paid_now {
                "paid"
            } else if payable {
                "payable"
            } else {
                "in an unsettled item"
            })
            .or_default() += 1;
    }
    let sums = sqlx::query(
        "WITH paid_items AS (
             SELECT i.id, i.gross FROM payout_items i WHERE i.hold_reason IS NULL
               AND EXISTS (SELECT 1 FROM payout_item_events v WHERE v.item_id = i.id AND v.event = 'paid')
               AND NOT EXISTS (SELECT 1 FROM payout_item_events v WHERE v.item_id = i.id AND v.event = 'returned'))
         SELECT
            (SELECT COALESCE(SUM(gross), 0)::text FROM paid_items) AS items_gross,
            (SELECT COALESCE(SUM(e.payout_amount), 0)::text FROM paid_items pi
                JOIN payout_item_entries pie ON pie.item_id = pi.id
                JOIN ledger_entries e ON e.id = pie.entry_id) AS their_entries,
            (SELECT COUNT(*) FROM paid_items pi JOIN payout_item_entries pie ON pie.item_id = pi.id) AS their_count,
            (SELECT COALESCE(SUM(e.payout_amount), 0)::text FROM ledger_entries e
                WHERE e.kind IN ('commission', 'bonus', 'reversal', 'adjustment')
                AND (SELECT COUNT(*) FROM entry_events x WHERE x.entry_id = e.id AND x.event = 'paid')
                  > (SELECT COUNT(*) FROM entry_events x WHERE x.entry_id = e.id AND x.event = 'returned')) AS paid_entries,
            (SELECT COUNT(*) FROM ledger_entries e
                WHERE e.kind IN ('commission', 'bonus', 'reversal', 'adjustment')
                AND (SELECT COUNT(*) FROM entry_events x WHERE x.entry_id = e.id AND x.event = 'paid')
                  > (SELECT COUNT(*) FROM entry_events x WHERE x.entry_id = e.id AND x.event = 'returned')) AS paid_count",
    )
    .fetch_one(&w.pool)
    .await
    .expect("sums");
    let items_gross = dec(sums.get("items_gross"));
    let their_entries = dec(sums.get("their_entries"));
    let paid_entries = dec(sums.get("paid_entries"));
    assert_eq!(
        items_gross, their_entries,
        "paid items' gross and the entries they pay {when}"
    );
    assert_eq!(
        their_entries, paid_entries,
        "the entries of paid items and the entries paid {when}"
    );
    assert_eq!(
        sums.get::<i64, _>("their_count"),
        sums.get::<i64, _>("paid_count"),
        "as many entries in paid items as entries paid {when}"
    );
    classes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payout_crash_kill_9_never_pays_twice_or_loses_an_entry() {
    let started = Instant::now();
    let seed = std::env::var("ACCRUE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now_ms() as u64);
    eprintln!("payout_crash: seed {seed} (ACCRUE_CRASH_SEED={seed} to replay the decisions)");
    let mut rng = Rng::new(seed);
    let db = postgres().await;
    let env = [
        ("ACCRUE_SECRETS_KEY", SECRETS_KEY),
        ("ACCRUE_APPROVE_EVERY_S", "1"),
    ];
    let setup = Server::start(&db.url, &env).await;
    payout_world(&setup).await;
    let mut partners: Vec<String> = ["eu", "us", "pp", "nf"].map(str::to_owned).to_vec();
    for k in 0..EXTRA {
        let id = format!("k{k:02}");
        let (currency, method, tax) = match k % 4 {
            0 => (
                "EUR",
                json!({"type": "sepa", "holder_name": format!("Partner {id}"), "party_kind": "individual",
                       "iban": "DE89 3704 0044 0532 0130 00"}),
                json!({"form": "w8ben", "legal_name": format!("Partner {id}"), "country": "DE"}),
            ),
            1 => (
                "USD",
                json!({"type": "ach", "holder_name": format!("Partner {id}"), "party_kind": "company",
                       "routing_number": "021000021", "account_number": format!("4{k:07}"),
                       "account_type": "checking"}),
                json!({"form": "w9", "legal_name": format!("Partner {id}"), "country": "US", "tin": "12-3456789"}),
            ),
            2 => (
                "USD",
                json!({"type": "paypal", "holder_name": format!("Partner {id}"), "party_kind": "individual",
                       "email": format!("{id}@partners.example")}),
                json!({"form": "w9", "legal_name": format!("Partner {id}"), "country": "US"}),
            ),
            _ => (
                "USD",
                json!({"type": "ach", "holder_name": format!("Partner {id}"), "party_kind": "individual",
                       "routing_number": "011000015", "account_number": format!("7{k:07}"),
                       "account_type": "savings"}),
                json!({"form": "w9", "legal_name": format!("Partner {id}"), "country": "US"}),
            ),
        };
        setup
            .partner(
                &id,
                "p",
                json!({"tier": "professional", "payout_currency": currency}),
            )
            .await;
        setup
            .admin(
                Method::PUT,
                &format!("/v1/partners/{id}/payout-method"),
                method,
            )
            .await;
        setup
            .admin(Method::PUT, &format!("/v1/partners/{id}/tax-profile"), tax)
            .await;
        partners.push(id);
    }
    // No scheduled run: the pay day is three days off (runs come from the API only), and
    // runs above 300 USD need a second admin.
    setup
        .admin(
            Method::PUT,
            "/v1/programs/p/payout-schedule",
            schedule((iso_weekday(now_ms()) + 2) % 7 + 1, "300.00"),
        )
        .await;
    let second = setup
        .admin(
            Method::POST,
            "/v1/api-keys",
            json!({"scope": "admin", "label": "second approver"}),
        )
        .await;
    let second = second["key"].as_str().expect("key").to_owned();
    drop(setup);

    let store = accrue::store::Store::connect(&db.url, 2)
        .await
        .expect("store");
    let pool = PgPool::connect(&db.url).await.expect("pool");
    let mut w = World {
        url: db.url.clone(),
        pool,
        seed,
        admins: [ADMIN_KEY.to_owned(), second],
        partners,
        replays: Replays::default(),
    };
    let mut kills: BTreeMap<(usize, bool), usize> = BTreeMap::new();
    let mut landed = 0;
    let mut lives = 0;
    let mut boot = Duration::ZERO;
    let mut iter = 0;
    while iter < ITERATIONS || landed < MIN_KILLS {
        assert!(iter < ITERATIONS * 2, "too few kills landed: {kills:?}");
        let mut c = Cycle {
            iter,
            next: INGEST,
            run_id: None,
            cancel: iter % 5 == 3,
        };
        let mut life_in_cycle = 0;
        loop {
            let booting = Instant::now();
            let server = Server::start(&w.url, &env).await;
            boot += booting.elapsed();
            lives += 1;
            life_in_cycle += 1;
            let progress = Arc::new(Progress::default());
            progress.phase.store(c.next, Ordering::SeqCst);
            // The first life of a cycle is killed; a later one half the time (at most
            // three kills a cycle, so that it ends). The target phase is drawn from those
            // left that write (the closing check only reads; a cancelled run has no
            // outcomes).
            let kill = life_in_cycle == 1 || (life_in_cycle <= 3 && rng.below(2) == 0);
            let last = if c.cancel { EXPORT } else { RETURNS };
            let target = if c.next > last {
                c.next
            } else {
                c.next + rng.below((last + 1 - c.next) as u64) as usize
            };
            // Which of the phase's first requests (a run's creation is one request).
            let skip = rng.below(match target {
                CREATE => 1,
                APPROVE | EXPORT | RETURNS => 2,
                _ => 4,
            }) as usize;
            // Within 4 ms of a request half the time (inside it, for the short ones), up
            // to 40 ms otherwise (the commit of a longer one, an export).
            let span = match (target, rng.below(2)) {
                // A run's creation is one long transaction: reach its commit too.
                (CREATE, _) => 300_000,
                (_, 0) => 4_000,
                _ => 40_000,
            };
            let jitter_us = rng.below(span);
            let k = kill.then(|| killer(server.pid(), progress.clone(), target, skip, jitter_us));
            let svc = Svc {
                server: &server,
                progress,
            };
            match drive(&svc, &mut c, &mut w).await {
                Ok(()) => {
                    if let Some(k) = k {
                        k.abort();
                        if let Ok((at, _)) = k.await {
                            // It fired as the cycle ended: the next cycle starts anew.
                            *kills.entry((at, false)).or_default() += 1;
                        }
                    }
                    drop(server);
                    break;
                }
                Err(Dead) => {
                    let k = k.expect("the service died with no kill sent");
                    let (at, in_flight) = tokio::time::timeout(Duration::from_secs(5), k)
                        .await
                        .expect("the service died before the kill was sent")
                        .expect("killer");
                    *kills.entry((at, in_flight)).or_default() += 1;
                    landed += 1;
                    drop(server);
                    check_database(&w, &store, &format!("after a kill in {}", PHASES[at])).await;
                }
            }
        }
        let classes = check_database(&w, &store, &format!("after cycle {iter}")).await;
        if iter + 1 >= ITERATIONS {
            eprintln!("payout_crash: entries after cycle {iter}: {classes:?}");
        }
        iter += 1;
    }
    let total: usize = kills.values().sum();
    eprintln!(
        "payout_crash: {iter} cycles, {lives} service lives (starting them took {:.1} s), {total} kills ({landed} inside a cycle) in {:.1} s; replays: {:?}",
        boot.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        w.replays
    );
    for ((phase, in_flight), n) in &kills {
        let how = if *in_flight {
            "while a request was in flight"
        } else {
            "between requests"
        };
        eprintln!("payout_crash:   {n:>3} kills in {}, {how}", PHASES[*phase]);
    }
    assert!(landed >= MIN_KILLS, "{kills:?}");
    // Every cycle ended: nothing waits in an unsettled item, and what is payable now is
    // exactly what the payable set holds.
    let open: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM payout_items i WHERE i.hold_reason IS NULL
         AND NOT EXISTS (SELECT 1 FROM payout_item_events v WHERE v.item_id = i.id
                         AND v.event IN ('paid', 'failed', 'returned'))",
    )
    .fetch_one(&w.pool)
    .await
    .expect("open")
    .get("n");
    assert_eq!(open, 0, "unsettled items after every cycle ended");
    // One run per cycle, however many times its creation was asked for.
    let runs: i64 =
        sqlx::query("SELECT COUNT(DISTINCT run_key) AS keys, COUNT(*) AS n FROM payout_runs")
            .fetch_one(&w.pool)
            .await
            .expect("runs")
            .get("n");
    assert_eq!(runs, iter as i64, "one run per cycle");
    w.pool.close().await;
    store.close().await;
    db.drop_db().await;
}

/// Draft and approve a run of program `p` through `server` after crediting `eu`, `us`
/// and `pp` once more; returns its id.
async fn approved_run(server: &Server, tag: &str) -> String {
    credit(server, tag, "100.00", &["eu", "us", "pp"]).await;
    let store_wait = Instant::now();
    // The approval loop runs each second: wait for it to have approved the new entries.
    loop {
        let c = server
            .admin_get("/v1/commissions?program_id=p&limit=1000")
            .await;
        let all = c.body["items"].as_array().cloned().unwrap_or_default();
        if all.iter().all(|e| e["status"] != "pending") {
            break;
        }
        assert!(store_wait.elapsed() < Duration::from_secs(20), "approval");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = server
        .admin(Method::POST, "/v1/payout-runs", json!({"program_id": "p"}))
        .await;
    let id = run["id"].as_str().expect("run id").to_owned();
    server
        .admin(
            Method::POST,
            &format!("/v1/payout-runs/{id}/approve"),
            json!(null),
        )
        .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_services_racing_one_run_never_pay_an_entry_twice() {
    let db = postgres().await;
    let env = [
        ("ACCRUE_SECRETS_KEY", SECRETS_KEY),
        ("ACCRUE_APPROVE_EVERY_S", "1"),
    ];
    let one = Server::start(&db.url, &env).await;
    let two = Server::start(&db.url, &env).await;
    payout_world(&one).await;
    let store = accrue::store::Store::connect(&db.url, 2)
        .await
        .expect("store");
    // A cancellation and an export of one run at once, through two services: one wins.
    // (Both used to: the files went to the bank while the cancellation made the entries
    // payable again, for the next run to pay a second time.)
    for n in 0..6 {
        let id = approved_run(&one, &format!("x{n}")).await;
        let (cancel, export) = (
            format!("/v1/payout-runs/{id}/cancel"),
            format!("/v1/payout-runs/{id}/export"),
        );
        let (c, e) = tokio::join!(
            one.call(
                Method::POST,
                &cancel,
                Some(ADMIN_KEY),
                Some(json!({"note": "race"}))
            ),
            two.call(Method::POST, &export, Some(ADMIN_KEY), None)
        );
        let run = one.admin_get(&format!("/v1/payout-runs/{id}")).await.body;
        let files = one
            .admin_get(&format!("/v1/payout-runs/{id}/files"))
            .await
            .body;
        let files = files["items"].as_array().map_or(0, Vec::len);
        match (c.status.as_u16(), e.status.as_u16()) {
            (200, 409) => {
                assert_eq!(run["status"], "cancelled", "{run}");
                assert_eq!(files, 0, "a cancelled run has no files");
            }
            (409, 200) => {
                assert_eq!(run["status"], "exported", "{run}");
                assert_eq!(files, 3);
                // Settle it: the bank rejects everything.
                let items = one.admin_get(&format!("/v1/payout-runs/{id}/items")).await;
                for i in items.body["items"].as_array().expect("items") {
                    assert_eq!(i["status"], "pending", "{i}");
                    let r = one
                        .call(
                            Method::POST,
                            &format!(
                                "/v1/payout-runs/{id}/items/{}/outcome",
                                i["id"].as_str().unwrap_or_default()
                            ),
                            Some(ADMIN_KEY),
                            Some(json!({"outcome": "failed"})),
                        )
                        .await;
                    assert_eq!(r.status, 200, "{}", r.body);
                }
            }
            other => panic!("cancel and export both answered {other:?}: {run}"),
        }
        assert_eq!(
            store.check_payout_invariants().await.expect("check"),
            Vec::<String>::new()
        );
    }
    // `paid` and `failed` for one item at once, through two services: one wins, the
    // other is refused. (Both used to be recorded: the item's entries were paid and
    // payable again.)
    for n in 0..3 {
        let id = approved_run(&one, &format!("y{n}")).await;
        one.admin(
            Method::POST,
            &format!("/v1/payout-runs/{id}/export"),
            json!(null),
        )
        .await;
        let items = one.admin_get(&format!("/v1/payout-runs/{id}/items")).await;
        for i in items.body["items"].as_array().expect("items") {
            let path = format!(
                "/v1/payout-runs/{id}/items/{}/outcome",
                i["id"].as_str().unwrap_or_default()
            );
            let (paid, failed) = tokio::join!(
                one.call(
                    Method::POST,
                    &path,
                    Some(ADMIN_KEY),
                    Some(json!({"outcome": "paid"}))
                ),
                two.call(
                    Method::POST,
                    &path,
                    Some(ADMIN_KEY),
                    Some(json!({"outcome": "failed"}))
                )
            );
            let mut statuses = [paid.status.as_u16(), failed.status.as_u16()];
            statuses.sort();
            assert_eq!(statuses, [200, 409], "{} {}", paid.body, failed.body);
            let loser = if paid.status == 409 { &paid } else { &failed };
            loser.assert_problem(409, "conflict", "the outcome that lost");
        }
        let items = one.admin_get(&format!("/v1/payout-runs/{id}/items")).await;
        for i in items.body["items"].as_array().expect("items") {
            assert_eq!(
                i["events"].as_array().map(Vec::len),
                Some(1),
                "one outcome: {i}"
            );
        }
        assert_eq!(
            store.check_payout_invariants().await.expect("check"),
            Vec::<String>::new()
        );
    }
    assert_eq!(
        store.check_invariants().await.expect("check"),
        Vec::<String>::new()
    );
    drop(one);
    drop(two);
    store.close().await;
    db.drop_db().await;
}
