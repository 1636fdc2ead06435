//! Plug-in runtime benchmark (issue 2).
//!
//! For one 5-touchpoint conversion, with the linear and the time-decay models side by side:
//!
//! 1. the algorithm as plain native Rust (the plug-in crates' `AttributionRule` impls),
//! 2. the Wasm plug-in through [`Runtime::attribute_uncached`]: a fresh store and instance
//!    per call, every limit armed (fuel, epoch deadline, memory/table caps, I/O caps),
//! 3. the Wasm plug-in through [`Runtime::attribute`] on a result-cache hit,
//! 4. the rule as a Rhai script (what a user might pick instead of Wasm), twice: the same
//!    rule with exact decimals (Rhai's `decimal` feature), whose weights must equal the
//!    plug-in's to the last digit, and a simplified `f64` version of it,
//! 5. compiling a component ([`Runtime::validate`], which compiles and keeps nothing), and
//!    loading a precompiled artifact ([`Runtime::load_precompiled`]).
//!
//! Criterion measures each case; afterwards a plain `Instant` loop measures them again and
//! prints one compact summary table (medians, evaluations/s/core, Wasm-vs-Rhai ratios).
//!
//! Run: `cargo bench -p accrue --bench plugins`. Set `ACCRUE_BENCH_SUMMARY_ONLY=1` to skip
//! the criterion part and print only the summary; `ACCRUE_BENCH_PROFILE=linear` only loops
//! fresh-instance evaluations (for `perf record`); `ACCRUE_BENCH_COMPONENTS=<dir>` times
//! `<dir>/linear.wasm` and `<dir>/time-decay.wasm` instead of the built components. Without
//! `--bench` (e.g. `cargo test --benches`) or with `--test`, criterion runs each case once and
//! the summary is skipped.

// Timing statistics (medians, rates, ratios) and the Rhai comparison script's results are
// floats. Nothing here is a money path: the plug-ins and the native rules never use floats.
#![allow(clippy::float_arithmetic)]

use accrue::plugins::{Digest, Limits, Runtime, built};
use accrue_plugin_linear::Linear;
use accrue_plugin_sdk::attribution::testing::{conversion, touch};
use accrue_plugin_sdk::{
    AttributionRule, Config, Conversion, PartnerWeight, RuleError, Touchpoint,
};
use accrue_plugin_time_decay::TimeDecay;
use criterion::{BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The plug-in configuration every case uses: the defaults (30-day lookback, 7-day half-life).
const CONFIG: &str = "{}";

/// Linear attribution in Rhai: equal shares per eligible touchpoint, summed per partner in
/// first-touch order. Rhai has no exact decimal type in its default build, so the shares
/// are `f64` here (the Wasm and native rules use exact `Decimal`s and hand out the rounding
/// units so the weights sum to exactly 1; this script does not).
const RHAI_LINEAR: &str = r#"
fn attribute(conversion, touchpoints, config) {
    let kept = eligible(conversion, touchpoints, config);
    let shares = #{};
    let order = [];
    for t in kept {
        let p = t.partner_id;
        if p in shares { shares[p] += 1.0; } else { shares[p] = 1.0; order.push(p); }
    }
    let n = kept.len().to_float();
    let out = [];
    for p in order { out.push([p, shares[p] / n]); }
    out
}
"#;

/// Time-decay attribution in Rhai: each eligible touchpoint scores 2^(-age / half-life),
/// scores summed per partner and normalised. Floats (`f64`) throughout, unlike the Wasm and
/// native rules, which compute 2^(-x) in integer fixed point and normalise in `Decimal`.
const RHAI_TIME_DECAY: &str = r#"
fn attribute(conversion, touchpoints, config) {
    let half_life_days = if "half_life_days" in config { config.half_life_days } else { 7.0 };
    if half_life_days <= 0.0 { throw "half_life_days must be positive"; }
    let half_life_ms = half_life_days * 86400000.0;
    let now = conversion.occurred_at_ms;
    let kept = eligible(conversion, touchpoints, config);
    let scores = #{};
    let order = [];
    let total = 0.0;
    for t in kept {
        let age_ms = (now - t.occurred_at_ms).to_float();
        let score = 2.0 ** (-age_ms / half_life_ms);
        let p = t.partner_id;
        if p in scores { scores[p] += score; } else { scores[p] = score; order.push(p); }
        total += score;
    }
    let out = [];
    if total > 0.0 {
        for p in order { out.push([p, scores[p] / total]); }
    }
    out
}
"#;

/// What every Rhai rule shares, ported line by line from the SDK's `eligible`: the lookback
/// window, touchpoints after the conversion dropped, a stable sort by time.
const RHAI_ELIGIBLE: &str = r#"
fn eligible(conversion, touchpoints, config) {
    let lookback_days = 30;
    if "lookback_days" in config {
        lookback_days = config.lookback_days;
        if type_of(lookback_days) != "i64" { throw "lookback_days must be an integer"; }
    }
    if lookback_days < 0 { throw "lookback_days must not be negative"; }
    let now = conversion.occurred_at_ms;
    let earliest = now - lookback_days * 86400000;
    let kept = [];
    for t in touchpoints {
        if t.occurred_at_ms <= now && t.occurred_at_ms >= earliest { kept.push(t); }
    }
    kept.sort(|a, b| a.occurred_at_ms - b.occurred_at_ms);
    kept
}
"#;

/// What every exact Rhai rule adds, ported line by line from the SDK's `normalize_weights`:
/// scores summed per partner in first-touch order, each weight `score / total` rounded half
/// to even to 18 places on its own (Rhai's `round(x, digits)` is banker's rounding). With
/// Rhai's `decimal` feature these are `rust_decimal` values, as in the plug-ins.
const RHAI_NORMALIZE: &str = r#"
fn normalize(order, scores) {
    let zero = to_decimal(0);
    let merged = [];
    let total = zero;
    for p in order {
        let s = scores[p];
        if s < zero { throw "negative score"; }
        if s != zero { merged.push([p, s]); total += s; }
    }
    if total == zero { return []; }
    let parts = [];
    for m in merged {
        parts.push([m[0], round(m[1] / total, 18)]);
    }
    parts
}
"#;

/// Linear attribution in Rhai with exact decimals: the plug-in's rule, same output.
const RHAI_LINEAR_EXACT: &str = r#"
fn attribute(conversion, touchpoints, config) {
    let one = to_decimal(1);
    let order = [];
    let scores = #{};
    for t in eligible(conversion, touchpoints, config) {
        let p = t.partner_id;
        if p in scores { scores[p] += one; } else { scores[p] = one; order.push(p); }
    }
    normalize(order, scores)
}
"#;

/// Time-decay attribution in Rhai with exact decimals: the plug-in's rule and its 2^(−x)
/// (the same 24-term series in 18-digit fixed point, truncating where the plug-in's integer
/// arithmetic does), same output.
const RHAI_TIME_DECAY_EXACT: &str = r#"
fn exp2_neg(x) {
    let zero = to_decimal(0);
    let n = floor(x);
    if n >= to_decimal(60) { return zero; }
    let whole = to_int(n);
    let y = round_down(round_down(x - n, 18) * parse_decimal("0.693147180559945309"), 18);
    let sum = to_decimal(1);
    let term = to_decimal(1);
    for k in 1..=24 {
        term = round_down(round_down(-term * y, 18) / to_decimal(k), 18);
        if term == zero { break; }
        sum += term;
    }
    round_down(sum / to_decimal(2 ** whole), 18)
}

fn attribute(conversion, touchpoints, config) {
    let half_life_days = to_decimal(7);
    if "half_life_days" in config { half_life_days = parse_decimal(config.half_life_days.to_string()); }
    if half_life_days <= to_decimal(0) { throw "half_life_days must be positive"; }
    let half_life_ms = half_life_days * to_decimal(86400000);
    let now = conversion.occurred_at_ms;
    let order = [];
    let scores = #{};
    for t in eligible(conversion, touchpoints, config) {
        let score = exp2_neg(to_decimal(now - t.occurred_at_ms) / half_life_ms);
        let p = t.partner_id;
        if p in scores { scores[p] += score; } else { scores[p] = score; order.push(p); }
    }
    normalize(order, scores)
}
"#;

/// A native rule, as its plug-in crate implements it.
type NativeRule = fn(&Config, &Conversion, &[Touchpoint]) -> Result<Vec<PartnerWeight>, RuleError>;

/// One attribution model under test, in all its forms.
struct Model {
    name: &'static str,
    native: NativeRule,
    component: Vec<u8>,
    digest: Digest,
    precompiled: Vec<u8>,
    rhai: rhai::AST,
    rhai_exact: rhai::AST,
}

/// Everything the cases share.
struct Bench {
    runtime: Runtime,
    rhai: rhai::Engine,
    conversion: Conversion,
    touchpoints: Vec<Touchpoint>,
    models: Vec<Model>,
}

impl Bench {
    fn new() -> Self {
        let runtime = Runtime::new(Limits::default(), None).expect("runtime");
        let mut rhai = rhai::Engine::new();
        // Give the script engine a budget too, as the Wasm sandbox has fuel.
        rhai.set_max_operations(Limits::default().fuel);
        // Rhai's release-build nesting limits, also in debug builds (`cargo test --benches`).
        rhai.set_max_expr_depths(64, 32);
        let conversion = conversion();
        // Three partners, two of them with two touchpoints, all inside the 30-day window.
        let touchpoints = vec![
            touch("p1", "email", 12),
            touch("p2", "social", 6),
            touch("p1", "search", 3),
            touch("p3", "display", 1),
            touch("p2", "email", 0),
        ];
        let specs: [(&str, NativeRule, &str, &str, &str); 2] = [
            (
                "linear",
                <Linear as AttributionRule>::attribute,
                built::LINEAR_PATH,
                RHAI_LINEAR,
                RHAI_LINEAR_EXACT,
            ),
            (
                "time-decay",
                <TimeDecay as AttributionRule>::attribute,
                built::TIME_DECAY_PATH,
                RHAI_TIME_DECAY,
                RHAI_TIME_DECAY_EXACT,
            ),
        ];
        let models = specs
            .into_iter()
            .map(|(name, native, path, script, exact)| {
                // `ACCRUE_BENCH_COMPONENTS=<dir>` times `<dir>/<model>.wasm` instead of the
                // built component, to compare builds of one plug-in with the same binary.
                let path = std::env::var_os("ACCRUE_BENCH_COMPONENTS")
                    .map(|dir| std::path::Path::new(&dir).join(format!("{name}.wasm")))
                    .unwrap_or_else(|| path.into());
                let component = std::fs::read(&path).expect("read built component");
                let digest = runtime.register(&component, name).expect("register").digest;
                let precompiled = runtime.precompile(&component).expect("precompile");
                let rhai_exact = rhai
                    .compile(format!("{RHAI_ELIGIBLE}{RHAI_NORMALIZE}{exact}"))
                    .expect("exact Rhai script compiles");
                let rhai = rhai
                    .compile(format!("{RHAI_ELIGIBLE}{script}"))
                    .expect("Rhai script compiles");
                Model {
                    name,
                    native,
                    component,
                    digest,
                    precompiled,
                    rhai,
                    rhai_exact,
                }
            })
            .collect();
        Self {
            runtime,
            rhai,
            conversion,
            touchpoints,
            models,
        }
    }

    fn native(&self, m: &Model) -> Vec<PartnerWeight> {
        let config = Config::parse(CONFIG).expect("config");
        (m.native)(&config, &self.conversion, &self.touchpoints).expect("native rule")
    }

    fn wasm_fresh(&self, m: &Model) -> Vec<PartnerWeight> {
        self.runtime
            .attribute_uncached(&m.digest, CONFIG, &self.conversion, &self.touchpoints)
            .expect("wasm rule")
    }

    fn wasm_cached(&self, m: &Model) -> std::sync::Arc<Vec<PartnerWeight>> {
        self.runtime
            .attribute(&m.digest, CONFIG, &self.conversion, &self.touchpoints)
            .expect("wasm rule")
    }

    /// The inputs as Rhai values, built on every call (the Wasm path likewise lowers them
    /// into the guest on every call).
    fn rhai_inputs(&self) -> (rhai::Map, rhai::Array) {
        let c = &self.conversion;
        let mut conv = rhai::Map::new();
        conv.insert("id".into(), c.id.clone().into());
        conv.insert("amount".into(), c.amount.amount.to_string().into());
        conv.insert("currency".into(), c.amount.currency.clone().into());
        conv.insert("occurred_at_ms".into(), c.occurred_at_ms.into());
        conv.insert("country".into(), opt(c.country.as_deref()));
        conv.insert("new_customer".into(), c.new_customer.into());
        let tps: rhai::Array = self
            .touchpoints
            .iter()
            .map(|t| {
                let mut m = rhai::Map::new();
                m.insert("partner_id".into(), t.partner_id.clone().into());
                m.insert("channel".into(), t.channel.clone().into());
                m.insert("occurred_at_ms".into(), t.occurred_at_ms.into());
                m.insert("campaign".into(), opt(t.campaign.as_deref()));
                m.into()
            })
            .collect();
        (conv, tps)
    }

    /// Call a script's `attribute` with freshly built inputs and `config`; `[partner, weight]`
    /// pairs come back.
    fn call_rhai(&self, script: &rhai::AST, config: rhai::Map) -> rhai::Array {
        let (conv, tps) = self.rhai_inputs();
        self.rhai
            .call_fn(
                &mut rhai::Scope::new(),
                script,
                "attribute",
                (conv, tps, config),
            )
            .expect("Rhai rule")
    }

    /// The `f64` Rhai rule (no configuration parsing, no exact normalisation).
    fn rhai(&self, m: &Model) -> Vec<(String, f64)> {
        self.call_rhai(&m.rhai, rhai::Map::new())
            .into_iter()
            .map(|pair| {
                let pair = pair.into_array().expect("[partner, weight]");
                let partner = pair[0].clone().into_string().expect("partner id");
                let weight = pair[1].as_float().expect("weight");
                (partner, weight)
            })
            .collect()
    }

    /// The exact Rhai rule: the configuration JSON parsed on every call (as the plug-in's
    /// `Config::parse` does), decimals throughout, the plug-in's output.
    fn rhai_exact(&self, m: &Model) -> Vec<PartnerWeight> {
        let config = self.rhai.parse_json(CONFIG, true).expect("config JSON");
        self.call_rhai(&m.rhai_exact, config)
            .into_iter()
            .map(|pair| {
                let pair = pair.into_array().expect("[partner, weight]");
                PartnerWeight {
                    partner_id: pair[0].clone().into_string().expect("partner id"),
                    weight: pair[1].as_decimal().expect("weight").normalize(),
                }
            })
            .collect()
    }

    /// Every form of every model gives the same answer (the `f64` Rhai rule to float
    /// precision).
    fn check(&self) {
        for m in &self.models {
            let native = self.native(m);
            // Several times: each call gets a recycled pool slot that must be pristine again.
            for _ in 0..3 {
                assert_eq!(native, self.wasm_fresh(m), "{}: wasm = native", m.name);
            }
            assert_eq!(native, *self.wasm_cached(m), "{}: cached = native", m.name);
            // The exact script is the same rule: the same weights, to the last digit.
            assert_eq!(
                native,
                self.rhai_exact(m),
                "{}: exact rhai = native",
                m.name
            );
            let rhai = self.rhai(m);
            assert_eq!(native.len(), rhai.len(), "{}: rhai partners", m.name);
            for (n, (partner, weight)) in native.iter().zip(&rhai) {
                assert_eq!(&n.partner_id, partner, "{}: rhai partner order", m.name);
                // Compare through the decimal's text: no Decimal→float conversion.
                let exact: f64 = n.weight.to_string().parse().expect("weight as text");
                assert!((exact - weight).abs() < 1e-9, "{}: rhai weight", m.name);
            }
        }
    }
}

fn opt(s: Option<&str>) -> rhai::Dynamic {
    s.map_or(rhai::Dynamic::UNIT, |s| s.to_owned().into())
}

fn criterion_benches(c: &mut Criterion, b: &Bench) {
    let mut group = c.benchmark_group("attribute-5-touchpoints");
    for m in &b.models {
        group.bench_function(BenchmarkId::new("native-rust", m.name), |t| {
            t.iter(|| black_box(b.native(m)))
        });
        group.bench_function(BenchmarkId::new("wasm-fresh-instance", m.name), |t| {
            t.iter(|| black_box(b.wasm_fresh(m)))
        });
        group.bench_function(BenchmarkId::new("wasm-result-cache-hit", m.name), |t| {
            t.iter(|| black_box(b.wasm_cached(m)))
        });
        group.bench_function(BenchmarkId::new("rhai", m.name), |t| {
            t.iter(|| black_box(b.rhai(m)))
        });
        group.bench_function(BenchmarkId::new("rhai-exact", m.name), |t| {
            t.iter(|| black_box(b.rhai_exact(m)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("component");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for m in &b.models {
        group.bench_function(BenchmarkId::new("compile", m.name), |t| {
            t.iter(|| black_box(b.runtime.validate(&m.component).expect("compiles")))
        });
        group.bench_function(BenchmarkId::new("load-precompiled", m.name), |t| {
            t.iter(|| {
                b.runtime
                    .load_precompiled(&m.precompiled)
                    .expect("loads precompiled")
            })
        });
    }
    group.finish();
}

/// Median time per call: `batches` batches of `per_batch` calls, after one warm-up batch.
fn median(batches: usize, per_batch: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..per_batch {
        f();
    }
    let mut times: Vec<Duration> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            start.elapsed() / u32::try_from(per_batch).expect("batch size fits u32")
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// One row of the summary: a case and its median per model.
struct Row {
    case: &'static str,
    medians: Vec<Duration>,
}

fn fmt_duration(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// 20,000 calls per evaluation case (200 batches of 100), fewer for compilation.
fn summary(b: &Bench) {
    const BATCHES: usize = 200;
    const PER_BATCH: usize = 100;
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |case, f: &dyn Fn(&Model) -> Duration| {
        rows.push(Row {
            case,
            medians: b.models.iter().map(f).collect(),
        });
    };
    row("native Rust (no sandbox)", &|m| {
        median(BATCHES, PER_BATCH, || drop(black_box(b.native(m))))
    });
    row("Wasm, fresh instance per call", &|m| {
        median(BATCHES, PER_BATCH, || drop(black_box(b.wasm_fresh(m))))
    });
    row("Wasm, result-cache hit", &|m| {
        median(BATCHES, PER_BATCH, || drop(black_box(b.wasm_cached(m))))
    });
    row("Rhai script, exact (same rule)", &|m| {
        median(BATCHES, PER_BATCH, || drop(black_box(b.rhai_exact(m))))
    });
    row("Rhai script, f64 (simplified)", &|m| {
        median(BATCHES, PER_BATCH, || drop(black_box(b.rhai(m))))
    });
    row("compile component (validate)", &|m| {
        median(20, 1, || {
            drop(black_box(
                b.runtime.validate(&m.component).expect("compiles"),
            ))
        })
    });
    row("load precompiled artifact", &|m| {
        median(200, 1, || {
            b.runtime
                .load_precompiled(&m.precompiled)
                .expect("loads precompiled")
        })
    });
    let fresh = &rows[1].medians;
    let rhai_exact = &rows[3].medians;
    let rhai_f64 = &rows[4].medians;

    let names: Vec<&str> = b.models.iter().map(|m| m.name).collect();
    println!();
    println!(
        "Plug-in runtime summary: one conversion, 5 touchpoints, 3 partners, config \"{CONFIG}\""
    );
    println!("(median per call; evaluations: 200 batches x 100 calls; compile: 20; load: 200)");
    println!();
    println!("| {:<34} | {:>14} | {:>14} |", "case", names[0], names[1]);
    println!("|{:-<36}|{:->16}|{:->16}|", "", ":", ":");
    for r in &rows {
        println!(
            "| {:<34} | {:>14} | {:>14} |",
            r.case,
            fmt_duration(r.medians[0]),
            fmt_duration(r.medians[1])
        );
    }
    let per_sec = |d: &Duration| format!("{:.0}", 1.0 / d.as_secs_f64());
    println!(
        "| {:<34} | {:>14} | {:>14} |",
        "fresh-instance evaluations/s/core",
        per_sec(&fresh[0]),
        per_sec(&fresh[1])
    );
    let ratio = |rhai: &[Duration], i: usize| {
        format!("{:.1}x", rhai[i].as_secs_f64() / fresh[i].as_secs_f64())
    };
    for (case, rhai) in [
        ("Rhai exact time / Wasm fresh time", rhai_exact),
        ("Rhai f64 time / Wasm fresh time", rhai_f64),
    ] {
        println!(
            "| {:<34} | {:>14} | {:>14} |",
            case,
            ratio(rhai, 0),
            ratio(rhai, 1)
        );
    }
    println!();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    for (i, name) in names.iter().enumerate() {
        println!(
            "{name}: fresh instance <= 20 µs: {}; Wasm >= 3x faster than the same rule in Rhai \
             (exact): {}; against the simplified f64 script: {}",
            verdict(fresh[i] <= Duration::from_micros(20)),
            verdict(rhai_exact[i] >= fresh[i] * 3),
            verdict(rhai_f64[i] >= fresh[i] * 3),
        );
    }
    let m = b.runtime.metrics();
    println!(
        "runtime counters: {} sandboxed evaluations, {} failures, {} result-cache hits",
        m.evaluations,
        m.failures.iter().map(|(_, n)| n).sum::<u64>(),
        m.result_hits
    );
}

fn main() {
    let bench = Bench::new();
    bench.check();
    // A profiling aid: `ACCRUE_BENCH_PROFILE=linear` (or `time-decay`) only runs fresh-instance
    // evaluations of that model, 100,000 of them, for `perf record`.
    if let Some(name) = std::env::var_os("ACCRUE_BENCH_PROFILE") {
        let m = bench
            .models
            .iter()
            .find(|m| name == m.name)
            .expect("ACCRUE_BENCH_PROFILE names a model");
        let start = Instant::now();
        for _ in 0..100_000 {
            drop(black_box(bench.wasm_fresh(m)));
        }
        println!(
            "{}: {} per fresh-instance evaluation (mean of 100,000)",
            m.name,
            fmt_duration(start.elapsed() / 100_000)
        );
        return;
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`), or with `--test`
    // or `--list`, criterion only runs (or lists) each case once, and the summary is skipped.
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let bench_mode = has("--bench") && !has("--test") && !has("--list");
    if std::env::var_os("ACCRUE_BENCH_SUMMARY_ONLY").is_none() || !bench_mode {
        let mut c = Criterion::default().configure_from_args();
        criterion_benches(&mut c, &bench);
        c.final_summary();
    }
    if bench_mode {
        summary(&bench);
    }
}
