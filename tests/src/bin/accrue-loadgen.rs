//! `accrue-loadgen`: a load generator for a running Accrue service (issue 4).
//!
//! It creates its own program (bound to the built-in `linear` plug-in) and partners under
//! a unique run id, then posts conversions, each with three touchpoints to three partners:
//!
//! * `--mode single`: `POST /v1/conversions` open-loop at a fixed `--rate` for
//!   `--duration-s` seconds. Request *i* is due at `start + i / rate`; its latency runs
//!   from that scheduled instant (not from when it was actually sent), so a stalled server
//!   cannot hide its stall by slowing the generator down (no coordinated omission). At most
//!   `--concurrency` requests are in flight. Reports p50/p90/p99/p99.9/max latency, the
//!   achieved rate, errors and status codes.
//! * `--mode batch`: `--batches` requests of `--batch-size` conversions to
//!   `POST /v1/conversions/batch`, from `--concurrency` closed-loop workers. Reports
//!   conversions/second and per-request latency.
//!
//! * `--mode neighbour`: the noisy-neighbour bench. Program B (linear) is quoted open-loop
//!   at `--rate` for `--duration-s`, first alone, then while `--hostile-clients` closed-loop
//!   clients quote program A, bound to the `misbehave` fixture in `--hostile-mode` (`loop`
//!   burns its whole fuel budget on every call; `log-spin` spins on the host's `log`).
//!   Reports B's latency in both phases and the ratio of the p99s.
//! * `--mode pgbench`: the latency baseline. Runs single mode at `--rate`, then `pgbench`
//!   at the same rate for the same time against `--pg-url`, one transaction inserting the
//!   rows one conversion writes (11 by default: a conversion, its idempotency record, three
//!   touchpoints, three attributions, three entries), and prints both latency profiles.
//!
//! Only loopback targets are accepted. Every loop is bounded by a count and by time.
//!
//! ```text
//! accrue-loadgen --url http://127.0.0.1:8080 --key "$ACCRUE_ADMIN_KEY" --mode single --rate 500 --duration-s 20
//! accrue-loadgen --url http://127.0.0.1:8080 --mode batch --batch-size 500 --batches 20 --concurrency 2
//! accrue-loadgen --url http://127.0.0.1:8080 --mode neighbour --rate 200 --duration-s 10
//! accrue-loadgen --url http://127.0.0.1:8080 --mode pgbench --pg-url postgres://postgres@127.0.0.1/bench
//! ```

// Floats are only used for the latency and rate figures printed at the end.
#![allow(clippy::float_arithmetic)]

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use reqwest::{Client, StatusCode, Url};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, Semaphore};

/// Post conversions to a running Accrue service and report latency and throughput.
#[derive(Debug, Parser)]
#[command(name = "accrue-loadgen", version, about)]
struct Args {
    /// The service (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin API key.
    #[arg(long, env = "ACCRUE_ADMIN_KEY", hide_env_values = true)]
    key: String,
    /// `single`: one conversion per request at a fixed rate; `batch`: batch requests.
    #[arg(long, value_enum, default_value_t = Mode::Single)]
    mode: Mode,
    /// Single mode: requests per second (open loop).
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Single mode: how long to send, seconds (after the warm-up).
    #[arg(long, default_value_t = 20)]
    duration_s: u64,
    /// Single mode: warm-up at the same rate before measuring, seconds (not reported).
    #[arg(long, default_value_t = 2)]
    warmup_s: u64,
    /// Batch mode: conversions per request (at most 1000).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Batch mode: how many batch requests.
    #[arg(long, default_value_t = 20)]
    batches: usize,
    /// Most requests in flight (single mode); concurrent workers (batch mode).
    /// Default: 256 for single, 2 for batch.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Partners to create and spread touchpoints over.
    #[arg(long, default_value_t = 12)]
    partners: usize,
    /// Give up on one request after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout_s: u64,
    /// Stop the whole run after this many seconds whatever is left.
    #[arg(long, default_value_t = 600)]
    max_time_s: u64,
    /// Neighbour mode: closed-loop clients quoting the hostile program.
    #[arg(long, default_value_t = 8)]
    hostile_clients: usize,
    /// Neighbour mode: how the hostile plug-in misbehaves (`loop`, `log-spin`, ...).
    #[arg(long, default_value = "loop")]
    hostile_mode: String,
    /// Pgbench mode: the PostgreSQL database pgbench runs in (loopback only).
    #[arg(long)]
    pg_url: Option<String>,
    /// Pgbench mode: rows inserted per pgbench transaction.
    #[arg(long, default_value_t = 11)]
    pg_rows: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Single,
    Batch,
    Neighbour,
    Pgbench,
}

const CHANNELS: [&str; 3] = ["email", "social", "search"];
const DAY_MS: i64 = 86_400_000;

/// RFC 3339 (UTC, milliseconds) for `ms` since the epoch; the days-to-civil-date step is
/// Howard Hinnant's algorithm (proleptic Gregorian calendar).
fn rfc3339(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(DAY_MS), ms.rem_euclid(DAY_MS));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

struct Run {
    client: Client,
    /// When the run started (ms): conversions occur then, plus their number in ms (live
    /// traffic: their commissions are on hold, so the service's approval job has nothing
    /// to do), and their touchpoints 1 to 3 days earlier.
    start_ms: i64,
    base: Url,
    auth: String,
    run_id: String,
    program: String,
    partners: usize,
}

impl Run {
    fn endpoint(&self, path: &str) -> anyhow::Result<Url> {
        self.base.join(path).context("endpoint URL")
    }

    fn conversion(&self, tag: &str, n: usize) -> Value {
        let at = self.start_ms + i64::try_from(n).unwrap_or(0);
        let touchpoints: Vec<Value> = (0..3)
            .map(|k| {
                json!({
                    "partner_id": format!("{}-p{:03}", self.run_id, (n + k) % self.partners),
                    "channel": CHANNELS[k],
                    "occurred_at": rfc3339(at - (3 - k as i64) * DAY_MS),
                })
            })
            .collect();
        json!({
            "program_id": self.program,
            "id": format!("{}-{tag}-{n:08}", self.run_id),
            "amount": format!("{}.{:02}", 100 + n % 900, n % 100),
            "currency": "USD",
            "occurred_at": rfc3339(at),
            "customer_id": format!("cust-{}", n % 10_000),
            "country": "US",
            "touchpoints": touchpoints,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(StatusCode, Value)> {
        let response = self
            .client
            .post(self.endpoint(path)?)
            .header("Authorization", &self.auth)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// The run's program and partners.
    async fn setup(&self) -> anyhow::Result<()> {
        let (status, body) = self
            .post(
                "/v1/programs",
                &json!({
                    "id": self.program,
                    "name": format!("load test {}", self.run_id),
                    "currency": "USD",
                    "attribution": {"plugin": "linear"},
                }),
            )
            .await
            .context("create the program (is the service running?)")?;
        if status != StatusCode::CREATED {
            bail!("creating the program answered {status}: {body}");
        }
        for k in 0..self.partners {
            let (status, body) = self
                .post(
                    "/v1/partners",
                    &json!({
                        "id": format!("{}-p{k:03}", self.run_id),
                        "program_id": self.program,
                        "tier": "professional",
                    }),
                )
                .await?;
            if status != StatusCode::CREATED {
                bail!("creating partner {k} answered {status}: {body}");
            }
        }
        Ok(())
    }
}

/// Refuse anything but loopback: this tool is for load tests on one's own machine.
fn loopback_url(text: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text).with_context(|| format!("--url {text:?}"))?;
    if url.scheme() != "http" {
        bail!("--url must be http:// (got {text:?})");
    }
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    if !loopback {
        bail!("--url must point at this machine (127.0.0.1, ::1 or localhost), got {text:?}");
    }
    Ok(url)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank: the smallest value with at least p of the samples at or below it.
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_latencies(label: &str, latencies: &mut [Duration]) {
    latencies.sort();
    println!(
        "{label}: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms  (n = {})",
        ms(percentile(latencies, 0.50)),
        ms(percentile(latencies, 0.90)),
        ms(percentile(latencies, 0.99)),
        ms(percentile(latencies, 0.999)),
        ms(latencies.last().copied().unwrap_or_default()),
        latencies.len(),
    );
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    last_done: Option<Instant>,
}

async fn single(run: Arc<Run>, args: &Args) -> anyhow::Result<Vec<Duration>> {
    if args.rate == 0 {
        bail!("--rate must be at least 1");
    }
    let concurrency = args.concurrency.unwrap_or(256).max(1);
    let interval = Duration::from_secs(1) / args.rate;
    let warmup = (args.rate as u64 * args.warmup_s) as usize;
    let measured = (args.rate as u64 * args.duration_s) as usize;
    let deadline = Instant::now() + Duration::from_secs(args.max_time_s);
    println!(
        "single: {} conversions/s for {} s ({} requests, after {} warm-up requests), at most {concurrency} in flight",
        args.rate, args.duration_s, measured, warmup
    );
    let in_flight = Arc::new(Semaphore::new(concurrency));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut tasks = Vec::with_capacity(warmup + measured);
    let start = Instant::now();
    let measure_from = start + interval * warmup as u32;
    for i in 0..warmup + measured {
        let due = start + interval * i as u32;
        if due > deadline {
            println!("stopping early: --max-time-s reached");
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        // Waiting for a slot still counts against this request: its clock started at `due`.
        let permit = in_flight.clone().acquire_owned().await?;
        let run = run.clone();
        let tally = tally.clone();
        let record = i >= warmup;
        tasks.push(tokio::spawn(async move {
            let body = run.conversion("s", i);
            let outcome = run.post("/v1/conversions", &body).await;
            let done = Instant::now();
            drop(permit);
            if !record {
                return;
            }
            let mut t = tally.lock().await;
            t.latencies.push(done.saturating_duration_since(due));
            t.last_done = Some(t.last_done.map_or(done, |d| d.max(done)));
            match outcome {
                Ok((status, _)) => *t.statuses.entry(status.as_u16()).or_default() += 1,
                Err(_) => t.transport_errors += 1,
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let mut t = tally.lock().await;
    let elapsed = t.last_done.map_or(Duration::ZERO, |d| {
        d.saturating_duration_since(measure_from)
    });
    let completed = t.latencies.len();
    let ok = t.statuses.get(&201).copied().unwrap_or(0);
    println!(
        "achieved: {completed} requests in {:.2} s = {:.1} requests/s (target {})",
        elapsed.as_secs_f64(),
        completed as f64 / elapsed.as_secs_f64().max(1e-9),
        args.rate
    );
    println!(
        "status codes: {:?}; transport errors: {}; errors (not 201): {}",
        t.statuses,
        t.transport_errors,
        completed as u64 - ok
    );
    print_latencies("latency from scheduled send", &mut t.latencies);
    Ok(std::mem::take(&mut t.latencies))
}

async fn batch(run: Arc<Run>, args: &Args) -> anyhow::Result<()> {
    if args.batch_size == 0 || args.batch_size > 1000 {
        bail!("--batch-size must be 1 to 1000");
    }
    let workers = args.concurrency.unwrap_or(2).max(1);
    let deadline = Instant::now() + Duration::from_secs(args.max_time_s);
    println!(
        "batch: {} requests of {} conversions, {workers} concurrent workers",
        args.batches, args.batch_size
    );
    // Build every body first so that JSON building is not timed.
    let bodies: Arc<Vec<Value>> = Arc::new(
        (0..args.batches)
            .map(|b| {
                let conversions: Vec<Value> = (0..args.batch_size)
                    .map(|i| run.conversion("b", b * args.batch_size + i))
                    .collect();
                json!({ "conversions": conversions })
            })
            .collect(),
    );
    // One small untimed batch to warm up connections and the service.
    let warm: Vec<Value> = (0..10).map(|i| run.conversion("w", i)).collect();
    run.post("/v1/conversions/batch", &json!({ "conversions": warm }))
        .await?;
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new((Tally::default(), 0u64, 0u64)));
    let start = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (run, bodies, next, tally) =
                (run.clone(), bodies.clone(), next.clone(), tally.clone());
            tokio::spawn(async move {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= bodies.len() || Instant::now() > deadline {
                        break;
                    }
                    let sent = Instant::now();
                    let outcome = run.post("/v1/conversions/batch", &bodies[b]).await;
                    let done = Instant::now();
                    let mut guard = tally.lock().await;
                    let (t, created, item_errors) = &mut *guard;
                    t.latencies.push(done - sent);
                    t.last_done = Some(t.last_done.map_or(done, |d| d.max(done)));
                    match outcome {
                        Ok((status, body)) => {
                            *t.statuses.entry(status.as_u16()).or_default() += 1;
                            *created += body["created"].as_u64().unwrap_or(0);
                            *item_errors += body["results"].as_array().map_or(0, |r| {
                                r.iter().filter(|x| x["status"] == "error").count() as u64
                            });
                        }
                        Err(_) => t.transport_errors += 1,
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.await?;
    }
    let mut guard = tally.lock().await;
    let (t, created, item_errors) = &mut *guard;
    let elapsed = t
        .last_done
        .map_or(Duration::ZERO, |d| d.saturating_duration_since(start));
    println!(
        "created {created} conversions in {:.2} s = {:.0} conversions/s",
        elapsed.as_secs_f64(),
        *created as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    println!(
        "status codes: {:?}; transport errors: {}; item errors: {item_errors}",
        t.statuses, t.transport_errors
    );
    print_latencies("batch request latency", &mut t.latencies);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = loopback_url(&args.url)?;
    let stamp = now_ms();
    let run_id = format!("lg{stamp:x}{:x}", std::process::id());
    let client = Client::builder()
        .timeout(Duration::from_secs(args.timeout_s))
        .tcp_nodelay(true)
        .build()?;
    let run = Arc::new(Run {
        client,
        start_ms: now_ms(),
        base,
        auth: format!("Bearer {}", args.key),
        program: format!("{run_id}-prog"),
        run_id,
        partners: args.partners.max(3),
    });
    println!("run {} against {}", run.run_id, run.base);
    run.setup().await?;
    match args.mode {
        Mode::Single => single(run, &args).await.map(drop),
        Mode::Batch => batch(run, &args).await,
        Mode::Neighbour => neighbour(run, &args).await,
        Mode::Pgbench => pgbench(run, &args).await,
    }
}

/// B's quotes at a fixed rate for the run's duration (open loop, latency from the
/// scheduled instant); returns their latencies and statuses.
async fn quote_at_rate(
    run: Arc<Run>,
    program: String,
    rate: u32,
    duration_s: u64,
    tag: &str,
) -> anyhow::Result<(Vec<Duration>, BTreeMap<u16, u64>)> {
    let interval = Duration::from_secs(1) / rate.max(1);
    let count = (u64::from(rate) * duration_s) as usize;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut tasks = Vec::with_capacity(count);
    let start = Instant::now();
    for i in 0..count {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (run, tally, program, tag) =
            (run.clone(), tally.clone(), program.clone(), tag.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut body = run.conversion(&tag, i);
            body["program_id"] = Value::String(program);
            let outcome = run.post("/v1/quotes", &body).await;
            let done = Instant::now();
            let mut t = tally.lock().await;
            t.latencies.push(done.saturating_duration_since(due));
            match outcome {
                Ok((status, _)) => *t.statuses.entry(status.as_u16()).or_default() += 1,
                Err(_) => t.transport_errors += 1,
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let mut t = tally.lock().await;
    Ok((
        std::mem::take(&mut t.latencies),
        std::mem::take(&mut t.statuses),
    ))
}

/// The noisy-neighbour bench (see the module docs).
async fn neighbour(run: Arc<Run>, args: &Args) -> anyhow::Result<()> {
    let hostile = format!("{}-hostile", run.run_id);
    let component = std::fs::read(accrue::plugins::built::MISBEHAVE_PATH)
        .context("the misbehave fixture (build the workspace first)")?;
    // The hostile program exists before its plug-in (an upload names its program).
    let (status, body) = run
        .post(
            "/v1/programs",
            &json!({"id": hostile, "name": "hostile", "currency": "USD",
                    "attribution": {"plugin": "linear"}}),
        )
        .await?;
    if status != StatusCode::CREATED {
        bail!("creating the hostile program answered {status}: {body}");
    }
    let upload = run
        .client
        .post(run.endpoint(&format!(
            "/v1/plugins?name=misbehave&version=1.0.0&program_id={hostile}"
        ))?)
        .header("Authorization", &run.auth)
        .header("Content-Type", "application/wasm")
        .body(component)
        .send()
        .await?;
    let uploaded: Value = upload.json().await?;
    let digest = uploaded["digest"]
        .as_str()
        .context("upload answered a digest")?;
    let patch = run
        .client
        .patch(run.endpoint(&format!("/v1/programs/{hostile}"))?)
        .header("Authorization", &run.auth)
        .json(&json!({"attribution": {"plugin": digest, "config": {"mode": args.hostile_mode}}}))
        .send()
        .await?;
    if !patch.status().is_success() {
        bail!("binding the hostile plug-in answered {}", patch.status());
    }
    for k in 0..run.partners {
        let id = format!("{}-p{k:03}", run.run_id);
        // Partner ids are global: the hostile program's touchpoints name its own.
        run.post(
            "/v1/partners",
            &json!({"id": format!("{id}-h"), "program_id": hostile}),
        )
        .await?;
    }
    println!(
        "neighbour: B quoted at {}/s for {} s, alone, then beside {} clients quoting A ({})",
        args.rate, args.duration_s, args.hostile_clients, args.hostile_mode
    );
    // Warm up B.
    quote_at_rate(run.clone(), run.program.clone(), args.rate, 1, "warm").await?;
    let (mut idle, idle_status) = quote_at_rate(
        run.clone(),
        run.program.clone(),
        args.rate,
        args.duration_s,
        "idle",
    )
    .await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hostile_done = Arc::new(AtomicUsize::new(0));
    let hostile_status = Arc::new(Mutex::new(BTreeMap::<u16, u64>::new()));
    let clients: Vec<_> = (0..args.hostile_clients)
        .map(|c| {
            let (run, stop, done, statuses, hostile) = (
                run.clone(),
                stop.clone(),
                hostile_done.clone(),
                hostile_status.clone(),
                hostile.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let mut body = run.conversion(&format!("h{c}"), n);
                    body["program_id"] = Value::String(hostile.clone());
                    for tp in body["touchpoints"].as_array_mut().into_iter().flatten() {
                        let id = format!("{}-h", tp["partner_id"].as_str().unwrap_or_default());
                        tp["partner_id"] = Value::String(id);
                    }
                    if let Ok((status, _)) = run.post("/v1/quotes", &body).await {
                        *statuses.lock().await.entry(status.as_u16()).or_default() += 1;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    // Let the hostile load build up before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mut busy, busy_status) = quote_at_rate(
        run.clone(),
        run.program.clone(),
        args.rate,
        args.duration_s,
        "busy",
    )
    .await?;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await?;
    }
    print_latencies("B alone        ", &mut idle);
    print_latencies("B beside A     ", &mut busy);
    let p99_idle = percentile(&idle, 0.99);
    let p99_busy = percentile(&busy, 0.99);
    println!(
        "B p99 ratio (beside A / alone): {:.2}  ({:.2} ms vs {:.2} ms)",
        ms(p99_busy) / ms(p99_idle).max(1e-9),
        ms(p99_busy),
        ms(p99_idle)
    );
    println!("B statuses alone: {idle_status:?}; beside A: {busy_status:?}");
    println!(
        "A: {} quotes answered, statuses {:?}",
        hostile_done.load(Ordering::Relaxed),
        hostile_status.lock().await
    );
    Ok(())
}

/// The latency baseline (see the module docs): the service at `--rate`, then pgbench at
/// the same rate inserting as many rows per transaction, in the same run.
async fn pgbench(run: Arc<Run>, args: &Args) -> anyhow::Result<()> {
    let pg_url = args
        .pg_url
        .clone()
        .context("--pg-url: a PostgreSQL database for pgbench's table")?;
    let mut service = single(run, args).await?;
    let dir = std::env::temp_dir().join(format!("accrue-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("insert.sql");
    let mut sql = String::from("BEGIN;\n");
    for r in 0..args.pg_rows {
        sql.push_str(&format!(
            "INSERT INTO loadgen_rows (k, seq, payload, amount) VALUES ('r' || :client_id || '-' || (random() * 1000000000)::bigint, {r}, 'a conversion-sized row of text', 12.34);\n"
        ));
    }
    sql.push_str("COMMIT;\n");
    std::fs::write(&script, sql)?;
    let psql = std::process::Command::new("psql")
        .args([&pg_url, "-q", "-c",
            "DROP TABLE IF EXISTS loadgen_rows; CREATE TABLE loadgen_rows (id BIGSERIAL PRIMARY KEY, k TEXT NOT NULL, seq INT NOT NULL, payload TEXT NOT NULL, amount NUMERIC NOT NULL)"])
        .status()?;
    if !psql.success() {
        bail!("psql could not create the pgbench table");
    }
    let prefix = dir.join("log");
    let status = std::process::Command::new("pgbench")
        .args([
            "-n",
            "-c",
            "16",
            "-j",
            "1",
            "-R",
            &args.rate.to_string(),
            "-T",
        ])
        .arg(args.duration_s.to_string())
        .arg("-f")
        .arg(&script)
        .arg("-l")
        .arg(format!("--log-prefix={}", prefix.display()))
        .arg(&pg_url)
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("pgbench failed");
    }
    // Each log line: client, transaction, latency µs, script, epoch s, µs, schedule lag µs.
    let mut baseline = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("log"))
        {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let latency: u64 = f.get(2).and_then(|v| v.parse().ok()).unwrap_or(0);
            let lag: u64 = f.get(6).and_then(|v| v.parse().ok()).unwrap_or(0);
            // From the scheduled start, like the service's figures.
            baseline.push(Duration::from_micros(latency + lag));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    print_latencies("service (POST /v1/conversions)", &mut service);
    print_latencies(
        &format!("pgbench ({} rows/txn)        ", args.pg_rows),
        &mut baseline,
    );
    println!(
        "p99: service {:.2} ms, pgbench {:.2} ms, ratio {:.2}",
        ms(percentile(&service, 0.99)),
        ms(percentile(&baseline, 0.99)),
        ms(percentile(&service, 0.99)) / ms(percentile(&baseline, 0.99)).max(1e-9)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_773_144_000_123), "2026-03-10T12:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }
}
