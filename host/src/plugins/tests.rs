//! The runtime against real compiled components: the default modules, and fixtures that
//! misbehave on purpose (`tests/fixtures/`), one per limit.

use super::built;
use super::*;
use accrue_plugin_sdk::attribution::testing::{NOW_MS, conversion, touch};
use accrue_plugin_sdk::decimal::dec;
use accrue_plugin_sdk::{
    Bonus, PeriodStats, PeriodTotals, RateAdjustment, RateInput, RuleError, Touchpoint,
};
use rust_decimal::Decimal;

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn runtime() -> Runtime {
    Runtime::new(Limits::default(), None).expect("runtime")
}

fn register(rt: &Runtime, path: &str) -> Digest {
    rt.register(&read(path), path.rsplit('/').next().unwrap_or(path))
        .expect("valid component")
        .digest
}

fn tps() -> Vec<Touchpoint> {
    vec![
        touch("a", "email", 10),
        touch("b", "social", 5),
        touch("c", "search", 3),
        touch("b", "email", 1),
    ]
}

fn weights(
    rt: &Runtime,
    digest: &Digest,
    config: &str,
    tps: &[Touchpoint],
) -> Vec<(String, Decimal)> {
    rt.attribute(digest, config, &conversion(), tps)
        .expect("evaluation")
        .iter()
        .map(|w| (w.partner_id.clone(), w.weight))
        .collect()
}

fn failure(rt: &Runtime, digest: &Digest, config: &str) -> EvalError {
    rt.attribute_uncached(digest, config, &conversion(), &tps())
        .expect_err("must fail")
}

/// After any failure the runtime must answer the next call normally.
fn still_serves(rt: &Runtime) {
    let linear = register(rt, built::LINEAR_PATH);
    let w = rt
        .attribute_uncached(&linear, "{}", &conversion(), &tps())
        .expect("healthy call");
    assert_eq!(w.iter().map(|w| w.weight).sum::<Decimal>(), Decimal::ONE);
}

#[test]
fn built_components_import_nothing_but_the_host() {
    let all = [
        built::FIRST_TOUCH_PATH,
        built::LAST_TOUCH_PATH,
        built::LINEAR_PATH,
        built::POSITION_BASED_PATH,
        built::TIME_DECAY_PATH,
        built::TIER_BONUS_PATH,
        built::GEO_RATES_PATH,
        built::MISBEHAVE_PATH,
        built::RAW_OUTPUT_PATH,
        built::LAST_NON_DIRECT_PATH,
    ];
    for path in all.into_iter().chain([
        built::OUTPUT_ALIAS_PATH,
        built::COMPILE_BOMB_PATH,
        built::SLOW_COMPILE_PATH,
    ]) {
        let sdk_built = all.contains(&path);
        let bytes = read(path);
        // Read the component's own import section, independently of the runtime's check.
        let mut imports = Vec::new();
        let mut depth = 0usize;
        for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
            match payload.expect("parses") {
                wasmparser::Payload::ModuleSection { .. }
                | wasmparser::Payload::ComponentSection { .. } => depth += 1,
                wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
                wasmparser::Payload::ComponentImportSection(section) if depth == 0 => {
                    for import in section {
                        imports.push(import.expect("import").name.name.to_owned());
                    }
                }
                _ => {}
            }
        }
        assert!(
            !sdk_built || !imports.is_empty(),
            "{path} should import the host"
        );
        for name in &imports {
            assert!(
                name.starts_with("accrue:rules/host@") || name.starts_with("accrue:rules/types@"),
                "{path} imports {name}"
            );
            assert!(!name.starts_with("wasi:"), "{path} imports WASI: {name}");
        }
        if sdk_built {
            let info = runtime().validate(&bytes).expect("valid");
            assert_eq!(info.sdk_wit_version.as_deref(), Some("1.0.0"), "{path}");
        }
    }
}

#[test]
fn default_modules_register_with_their_worlds() {
    let rt = runtime();
    let mut seen = Vec::new();
    for p in builtin_plugins() {
        let info = rt
            .register(p.bytes, p.name)
            .expect("default module is valid");
        seen.push((p.name, info.world));
    }
    assert!(seen.contains(&("linear", World::Attribution)));
    assert!(seen.contains(&("tier-bonus", World::Bonus)));
    assert!(seen.contains(&("geo-rates", World::GeoRate)));
    assert_eq!(seen.len(), 7);
}

#[test]
fn attribution_models_through_the_host() {
    let rt = runtime();
    let first = register(&rt, built::FIRST_TOUCH_PATH);
    let last = register(&rt, built::LAST_TOUCH_PATH);
    let linear = register(&rt, built::LINEAR_PATH);
    let position = register(&rt, built::POSITION_BASED_PATH);
    let decay = register(&rt, built::TIME_DECAY_PATH);
    let tps = tps();
    assert_eq!(
        weights(&rt, &first, "{}", &tps),
        vec![("a".into(), Decimal::ONE)]
    );
    assert_eq!(
        weights(&rt, &last, "{}", &tps),
        vec![("b".into(), Decimal::ONE)]
    );
    assert_eq!(
        weights(&rt, &linear, "{}", &tps),
        vec![
            ("a".into(), dec("0.25")),
            ("b".into(), dec("0.5")),
            ("c".into(), dec("0.25"))
        ]
    );
    assert_eq!(
        weights(&rt, &position, "{}", &tps),
        vec![
            ("a".into(), dec("0.4")),
            ("b".into(), dec("0.5")),
            ("c".into(), dec("0.1"))
        ]
    );
    let decayed = weights(
        &rt,
        &decay,
        r#"{"half_life_days": 1}"#,
        &[touch("a", "e", 2), touch("b", "e", 0)],
    );
    assert_eq!(
        decayed,
        vec![("a".into(), dec("0.2")), ("b".into(), dec("0.8"))]
    );
    // Lookback from config, and nothing eligible → empty, not an error.
    assert!(weights(&rt, &linear, r#"{"lookback_days": 0}"#, &tps).is_empty());
    assert!(weights(&rt, &linear, "{}", &[]).is_empty());
}

#[test]
fn bonus_and_geo_rate_through_the_host() {
    let rt = runtime();
    let bonus = register(&rt, built::TIER_BONUS_PATH);
    let geo = register(&rt, built::GEO_RATES_PATH);
    let stats = PeriodStats {
        partner_id: "p".into(),
        tier: "professional".into(),
        period_start_ms: NOW_MS - 30 * 86_400_000,
        period_end_ms: NOW_MS,
        currency: "USD".into(),
        current: PeriodTotals {
            conversions: 12,
            revenue: dec("1500.00"),
            commissions: dec("225.00"),
        },
        previous: None,
        attributes: Vec::new(),
    };
    let d = rt
        .evaluate_bonus(&bonus, r#"{"threshold": "1000"}"#, &stats)
        .expect("bonus");
    assert_eq!(d.bonus, Bonus::Rate(dec("0.05")));
    let d = rt
        .evaluate_bonus(&bonus, r#"{"threshold": "2000"}"#, &stats)
        .expect("bonus");
    assert_eq!(d.bonus, Bonus::None);
    let input = RateInput {
        conversion_country: Some("IN".into()),
        conversion_region: None,
        partner_tier: "starter".into(),
        partner_country: Some("US".into()),
        base_rate: dec("0.05"),
    };
    let d = rt
        .adjust_rate(&geo, r#"{"multipliers": {"IN": "0.5"}}"#, &input)
        .expect("geo");
    assert_eq!(d.adjustment, RateAdjustment::Multiplier(dec("0.5")));
    // Called as the wrong hook: a clear error, not a crash.
    let e = rt
        .adjust_rate(&bonus, "{}", &input)
        .expect_err("wrong world");
    assert_eq!(e.failure.kind(), "wrong-world");
    assert_eq!(e.digest, bonus);
}

#[test]
fn evaluations_are_deterministic_and_cached() {
    let rt = runtime();
    let decay = register(&rt, built::TIME_DECAY_PATH);
    let first = rt
        .attribute_uncached(&decay, "{}", &conversion(), &tps())
        .expect("ok");
    for _ in 0..50 {
        assert_eq!(
            rt.attribute_uncached(&decay, "{}", &conversion(), &tps())
                .expect("ok"),
            first
        );
    }
    let before = rt.metrics();
    let a = rt
        .attribute(&decay, "{}", &conversion(), &tps())
        .expect("ok");
    let b = rt
        .attribute(&decay, r#"{}"#, &conversion(), &tps())
        .expect("ok");
    let c = rt
        .attribute(&decay, r#"{"half_life_days": 2}"#, &conversion(), &tps())
        .expect("ok");
    let after = rt.metrics();
    assert_eq!(*a, first);
    assert_eq!(a, b);
    assert_ne!(*c, first);
    assert_eq!(after.result_misses - before.result_misses, 2);
    assert_eq!(after.result_hits - before.result_hits, 1);
}

fn expect_limit(rt: &Runtime, digest: &Digest, config: &str, limit: LimitKind) -> EvalError {
    let e = failure(rt, digest, config);
    match &e.failure {
        Failure::Limit { limit: got, .. } => assert_eq!(*got, limit, "{e}"),
        other => panic!("expected the {limit:?} limit, got {other:?} ({e})"),
    }
    assert_eq!(&e.digest, digest);
    assert!(
        e.to_string().contains(&digest.to_string()),
        "error names the digest: {e}"
    );
    still_serves(rt);
    e
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let rt = runtime();
    let bad = register(&rt, built::MISBEHAVE_PATH);
    let e = expect_limit(&rt, &bad, r#"{"mode": "loop"}"#, LimitKind::Fuel);
    assert!(e.to_string().contains("fuel limit exceeded"), "{e}");
}

#[test]
fn infinite_loop_hits_the_deadline_when_fuel_is_plentiful() {
    let limits = Limits {
        fuel: u64::MAX / 2,
        deadline_ms: 30,
        ..Limits::default()
    };
    let rt = Runtime::new(limits, None).expect("runtime");
    let bad = register(&rt, built::MISBEHAVE_PATH);
    expect_limit(&rt, &bad, r#"{"mode": "loop"}"#, LimitKind::Deadline);
}

#[test]
fn memory_bomb_hits_the_memory_cap() {
    let rt = runtime();
    let bad = register(&rt, built::MISBEHAVE_PATH);
    expect_limit(&rt, &bad, r#"{"mode": "memory"}"#, LimitKind::Memory);
}

/// The SDK's allocator serves an ordinary call from its static arena, so the host never has
/// to grow (and later shrink) the slot's memory; a call too big for the arena still works,
/// by growing memory, and a memory bomb still meets the cap.
#[test]
fn ordinary_calls_stay_in_the_initial_memory_and_big_ones_grow() {
    let rt = runtime();
    for path in [
        built::LINEAR_PATH,
        built::TIME_DECAY_PATH,
        built::POSITION_BASED_PATH,
    ] {
        let digest = register(&rt, path);
        rt.attribute_uncached(&digest, "{}", &conversion(), &tps())
            .expect("evaluation");
    }
    assert_eq!(rt.metrics().memory_grows, 0, "ordinary calls grew memory");

    // 100 touchpoints with 1 KB campaigns: past the 64 KiB arena once lifted and converted.
    let many: Vec<Touchpoint> = (0..100)
        .map(|i| Touchpoint {
            campaign: Some("c".repeat(1_000)),
            ..touch(&format!("partner-{i:03}"), "email", i % 20)
        })
        .collect();
    let linear = register(&rt, built::LINEAR_PATH);
    let w = rt
        .attribute_uncached(&linear, "{}", &conversion(), &many)
        .expect("big evaluation");
    assert_eq!(w.len(), 100);
    assert_eq!(w.iter().map(|w| w.weight).sum::<Decimal>(), Decimal::ONE);
    assert_eq!(rt.metrics().memory_grows, 1, "a big call grows memory");

    let bad = register(&rt, built::MISBEHAVE_PATH);
    expect_limit(&rt, &bad, r#"{"mode": "memory"}"#, LimitKind::Memory);
    assert_eq!(rt.metrics().memory_grows, 2);
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let rt = runtime();
    let bad = register(&rt, built::MISBEHAVE_PATH);
    expect_limit(&rt, &bad, r#"{"mode": "recursion"}"#, LimitKind::Stack);
}

#[test]
fn huge_output_hits_the_output_cap() {
    let rt = runtime();
    let bad = register(&rt, built::MISBEHAVE_PATH);
    expect_limit(&rt, &bad, r#"{"mode": "huge-output"}"#, LimitKind::Output);
}

#[test]
fn log_flood_hits_the_log_cap() {
    let rt = runtime();
    let bad = register(&rt, built::MISBEHAVE_PATH);
    expect_limit(&rt, &bad, r#"{"mode": "log-flood"}"#, LimitKind::Log);
}

#[test]
fn huge_input_is_refused_before_the_call() {
    let rt = runtime();
    let linear = register(&rt, built::LINEAR_PATH);
    let many: Vec<Touchpoint> = (0..20_000)
        .map(|i| touch(&format!("partner-{i}"), "email", 1))
        .collect();
    let e = rt
        .attribute_uncached(&linear, "{}", &conversion(), &many)
        .expect_err("too big");
    assert!(
        matches!(
            e.failure,
            Failure::Limit {
                limit: LimitKind::Input,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(rt.metrics().evaluations, 0, "nothing ran");
}

#[test]
fn panic_is_a_trap_that_carries_the_panic_message() {
    let rt = runtime();
    let bad = register(&rt, built::MISBEHAVE_PATH);
    let e = failure(&rt, &bad, r#"{"mode": "panic"}"#);
    match &e.failure {
        Failure::Trap { last_log, .. } => {
            let log = last_log.as_deref().unwrap_or_default();
            assert!(log.contains("deliberate panic for testing"), "{e}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    still_serves(&rt);
}

#[test]
fn a_declining_plugin_returns_its_rule_error() {
    let rt = runtime();
    let bad = register(&rt, built::MISBEHAVE_PATH);
    let e = failure(&rt, &bad, r#"{"mode": "decline"}"#);
    assert_eq!(
        e.failure,
        Failure::Declined(RuleError::InvalidInput("this fixture declines".into()))
    );
}

#[test]
fn results_that_break_the_contract_are_refused() {
    let rt = runtime();
    let raw = register(&rt, built::RAW_OUTPUT_PATH);
    for (mode, needle) in [
        ("negative", "outside 0..=1"),
        ("not-one", "not exactly 1"),
        ("unknown-partner", "not in the touchpoints"),
        ("bad-decimal", "scale above 28"),
        ("duplicate", "more than once"),
    ] {
        let e = failure(&rt, &raw, mode);
        match &e.failure {
            Failure::Contract(m) => assert!(m.contains(needle), "{mode}: {m}"),
            other => panic!("{mode}: expected a contract breach, got {other:?}"),
        }
        assert!(e.to_string().contains(&raw.to_string()));
        still_serves(&rt);
    }
    let fine = rt
        .attribute_uncached(&raw, "well-behaved", &conversion(), &tps())
        .expect("ok");
    assert_eq!(fine.len(), 1);
    let m = rt.metrics();
    assert!(
        m.failures.contains(&("contract".into(), 5)),
        "{:?}",
        m.failures
    );
}

#[test]
fn unknown_digest_is_not_found() {
    let rt = runtime();
    let e = rt
        .attribute(&Digest::of(b"nothing"), "{}", &conversion(), &tps())
        .expect_err("unknown");
    assert_eq!(e.failure, Failure::NotFound);
}

#[test]
fn validation_rejects_each_bad_component_with_its_own_error() {
    let rt = runtime();
    let wat = |text: &str| wat::parse_str(text).expect("wat");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"definitely not wasm".to_vec(),
            "plugin-not-wasm",
        ),
        (
            "core module",
            wat("(module (func (export \"f\")))"),
            "plugin-core-module",
        ),
        (
            "wasi import",
            wat("(component (import \"wasi:random/random@0.2.0\" (instance)))"),
            "plugin-forbidden-import",
        ),
        (
            "exports nothing",
            wat("(component)"),
            "plugin-unknown-world",
        ),
        (
            "truncated",
            read(built::LINEAR_PATH)[..200].to_vec(),
            "plugin-invalid",
        ),
    ];
    for (what, bytes, kind) in cases {
        let e = rt.validate(&bytes).expect_err(what);
        assert_eq!(e.kind(), kind, "{what}: {e}");
    }
    let small = Runtime::new(
        Limits {
            component_bytes: 1024,
            ..Limits::default()
        },
        None,
    )
    .expect("rt");
    let e = small
        .validate(&read(built::LINEAR_PATH))
        .expect_err("too big");
    assert_eq!(e.kind(), "plugin-too-large");
}

#[test]
fn unsupported_sdk_version_is_rejected_before_instantiation() {
    let mut bytes = read(built::LINEAR_PATH);
    // Append a top-level custom section claiming a future SDK: id 0, size, name, data.
    let name = b"accrue:sdk-wit-version";
    let data = b"2.0.0";
    bytes.push(0);
    bytes.push((1 + name.len() + data.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(data);
    let e = runtime().validate(&bytes).expect_err("future SDK");
    assert_eq!(e.kind(), "plugin-unsupported-version");
    assert!(e.to_string().contains("2.0.0"), "{e}");
}

#[test]
fn precompiled_artifacts_are_reused_across_runtimes() {
    let dir = std::env::temp_dir().join(format!("accrue-artifacts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = read(built::LINEAR_PATH);
    let first = Runtime::new(Limits::default(), Some(dir.clone())).expect("rt");
    let digest = first.register(&bytes, "linear").expect("ok").digest;
    let files: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
    assert_eq!(files.len(), 1, "one artifact written");
    let second = Runtime::new(Limits::default(), Some(dir.clone())).expect("rt");
    assert_eq!(
        second.register(&bytes, "linear").expect("ok").digest,
        digest
    );
    second
        .attribute_uncached(&digest, "{}", &conversion(), &tps())
        .expect("runs from the artifact");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plug-in that calls `log` with empty messages in a loop: each call counts toward the
/// log budget (not only its message's bytes), so the evaluation stops at the log limit,
/// and only a burst of lines reaches the service's log.
#[test]
fn empty_log_messages_are_not_free() {
    let rt = runtime();
    let bad = register(&rt, built::MISBEHAVE_PATH);
    let e = expect_limit(&rt, &bad, r#"{"mode": "log-spin"}"#, LimitKind::Log);
    assert!(e.to_string().contains("besides its message"), "{e}");
    let limits = Limits::default();
    let calls = limits.log_bytes_per_call / limits.log_call_bytes;
    let admitted = limits.log_lines_burst as u64;
    // The calls of one evaluation come faster than the refill: about a burst gets through.
    let dropped = rt.metrics().log_lines_dropped;
    assert!(
        dropped + admitted + 5 >= calls as u64 && dropped <= calls as u64,
        "{dropped} of {calls} log lines dropped"
    );
}

/// With the log budget out of the way, spinning on a host call still stops on fuel (every
/// host call costs fuel), long before a generous wall-clock deadline: fuel is the binding
/// limit and the deadline a backstop.
#[test]
fn spinning_on_host_calls_runs_out_of_fuel_not_time() {
    let limits = Limits {
        log_bytes_per_call: usize::MAX,
        deadline_ms: 120_000,
        ..Limits::default()
    };
    let rt = Runtime::new(limits, None).expect("runtime");
    let bad = register(&rt, built::MISBEHAVE_PATH);
    let e = expect_limit(&rt, &bad, r#"{"mode": "log-spin"}"#, LimitKind::Fuel);
    assert!(e.to_string().contains("each host call costs"), "{e}");
}

/// An answer that names one 7 MiB string eighteen times is refused while it is measured,
/// before the host copies it: the evaluation allocates a small fraction of the 126 MB.
#[test]
fn output_is_measured_before_it_is_copied() {
    let rt = runtime();
    let alias = register(&rt, built::OUTPUT_ALIAS_PATH);
    let before = crate::counting_alloc::allocated_here();
    let e = failure(&rt, &alias, "{}");
    let allocated = crate::counting_alloc::allocated_here() - before;
    match &e.failure {
        Failure::Limit {
            limit: LimitKind::Output,
            ..
        } => {}
        other => panic!("expected the output limit, got {other:?} ({e})"),
    }
    assert!(
        allocated < 4 << 20,
        "the host allocated {allocated} bytes for a refused answer"
    );
    still_serves(&rt);
}

/// NaN bits and relaxed SIMD are the same on every machine: a plug-in that branches on
/// them would otherwise credit different partners on replay elsewhere.
#[test]
fn nan_bits_and_relaxed_simd_are_deterministic() {
    let rt = runtime();
    let probe = register(&rt, built::MISBEHAVE_PATH);
    let said = |config: &str| match failure(&rt, &probe, config).failure {
        Failure::Declined(RuleError::InvalidInput(m)) => m,
        other => panic!("{config}: expected the probe's answer, got {other:?}"),
    };
    // The canonical NaN (positive, quiet): x86's own division gives ffc00000.
    assert_eq!(said(r#"{"mode": "nan-probe"}"#), "nan=7fc00000");
    // An out-of-range lane index gives 0, as `i8x16.swizzle` does: x86's pshufb gives the
    // table's lane 0 (42) for index 16.
    assert_eq!(
        said(r#"{"mode": "swizzle-probe", "index": 16}"#),
        "swizzle=0"
    );
    assert_eq!(
        said(r#"{"mode": "swizzle-probe", "index": 0}"#),
        "swizzle=42"
    );
}

fn with_custom_section(mut bytes: Vec<u8>, name: &[u8], data: &[u8]) -> Vec<u8> {
    bytes.push(0);
    bytes.push((1 + name.len() + data.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn the_sdk_section_is_a_semantic_version_or_absent() {
    let rt = runtime();
    let bytes = read(built::OUTPUT_ALIAS_PATH);
    // Built without the SDK: accepted, and known to have no section.
    let info = rt.validate(&bytes).expect("valid without a section");
    assert_eq!(info.sdk_wit_version, None);
    let digest = rt.register(&bytes, "alias").expect("ok").digest;
    assert_eq!(rt.sdk_section(&digest), Some(None));
    for text in [&b"1.0.<script>alert(1)</script>"[..], b"1.0", b"latest"] {
        let bad = with_custom_section(bytes.clone(), b"accrue:sdk-wit-version", text);
        let e = rt.validate(&bad).expect_err("free text");
        assert_eq!(e.kind(), "plugin-bad-sdk-section", "{e}");
    }
    let good = with_custom_section(bytes, b"accrue:sdk-wit-version", b"1.0.2");
    assert_eq!(
        rt.validate(&good).expect("ok").sdk_wit_version.as_deref(),
        Some("1.0.2")
    );
}

/// A component built to choke the compiler is stopped at the compile time limit with its
/// own error (in process only time is bounded; the service compiles in a child process,
/// where memory is too: see the end-to-end tests).
#[test]
fn a_compile_bomb_is_stopped_at_the_time_limit() {
    let rt = Runtime::new(
        Limits {
            compile_timeout_ms: 300,
            ..Limits::default()
        },
        None,
    )
    .expect("runtime");
    let e = rt
        .validate(&read(built::SLOW_COMPILE_PATH))
        .expect_err("too slow to compile");
    assert_eq!(e.kind(), "plugin-compile-limit", "{e}");
    assert!(e.to_string().contains("300 ms"), "{e}");
    assert!(rt.metrics().compile_limit_hits >= 1);
}

/// Registering in the background returns at once; the component answers "not ready" until
/// it is compiled, then evaluates; its artifact makes the next runtime ready at once.
#[test]
fn background_compilation_answers_not_ready_until_done() {
    let dir = std::env::temp_dir().join(format!("accrue-bg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = read(built::SLOW_COMPILE_PATH);
    let rt = Runtime::new(Limits::default(), Some(dir.clone())).expect("rt");
    assert_eq!(
        rt.register_background(&bytes, "slow").expect("accepted"),
        None
    );
    let digest = Digest::of(&bytes);
    assert_eq!(rt.status(&digest), ComponentStatus::Compiling);
    let e = failure(&rt, &digest, "{}");
    assert_eq!(e.failure, Failure::NotReady, "{e}");
    let started = std::time::Instant::now();
    while rt.status(&digest) == ComponentStatus::Compiling {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "still compiling"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(rt.status(&digest), ComponentStatus::Ready);
    let w = rt
        .attribute_uncached(&digest, "{}", &conversion(), &tps())
        .expect("runs once compiled");
    assert!(w.is_empty());
    let again = Runtime::new(Limits::default(), Some(dir.clone())).expect("rt");
    assert!(
        again
            .register_background(&bytes, "slow")
            .expect("ok")
            .is_some(),
        "ready at once from its artifact"
    );
    assert_eq!(again.metrics().compilations, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
