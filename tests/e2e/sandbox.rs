//! The sandbox seen from outside: compilation is bounded (a compile bomb is refused with
//! its own problem type, in time and in memory, one compilation at a time), the service
//! serves while stored plug-ins compile after a restart (their programs answer 503 with
//! Retry-After), and the SDK section is checked and reported.

use crate::support::{ADMIN_KEY, Server, conversion, postgres};
use accrue::plugins::built;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const AT: &str = "2026-03-09T12:00:00Z";

fn quote_body() -> Value {
    let mut q = conversion("p", "q1", "100.00", &[("a", "email", AT)]);
    q.as_object_mut().map(|o| o.remove("id"));
    q
}

async fn quote(s: &Server) -> crate::support::Response {
    s.call(
        Method::POST,
        "/v1/quotes",
        Some(ADMIN_KEY),
        Some(quote_body()),
    )
    .await
}

fn metric(text: &Value, name: &str) -> u64 {
    text.as_str()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} in {text}"))
}

/// A component built to choke the compiler is refused at the memory limit by the compile
/// worker (a child process with a data limit), and the service is unharmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_bomb_is_refused_at_the_memory_limit() {
    let db = postgres().await;
    let s = Server::start(
        &db.url,
        &[
            ("ACCRUE_PLUGIN_COMPILE_MEMORY_BYTES", "209715200"),
            ("ACCRUE_PLUGIN_COMPILE_TIMEOUT_MS", "120000"),
        ],
    )
    .await;
    s.program("p", "USD", "linear").await;
    s.partner("a", "p", json!({})).await;
    let r = s.upload(built::COMPILE_BOMB_PATH, "bomb", "p").await;
    r.assert_problem(422, "plugin-compile-limit", "a compile bomb");
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("compile memory"), "{detail}");
    assert_eq!(quote(&s).await.status.as_u16(), 200, "still serving");
    let metrics = s.call(Method::GET, "/metrics", None, None).await;
    assert!(metric(&metrics.body, "accrue_plugin_compile_limit_hits_total") >= 1);
    drop(s);
    db.drop_db().await;
}

/// Compilations past the time limit are stopped, with their own problem type; several at
/// once run one at a time (the configured concurrency), and the service keeps answering
/// other requests meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_compilations_stop_at_the_time_limit_one_at_a_time() {
    let db = postgres().await;
    let s = Server::start(
        &db.url,
        &[
            ("ACCRUE_PLUGIN_COMPILE_TIMEOUT_MS", "400"),
            ("ACCRUE_PLUGIN_COMPILE_CONCURRENCY", "1"),
        ],
    )
    .await;
    s.program("p", "USD", "linear").await;
    s.partner("a", "p", json!({})).await;
    let bytes = std::fs::read(built::SLOW_COMPILE_PATH).expect("fixture");
    let uploads: Vec<_> = (0..3u8)
        .map(|i| {
            // Three different components (a trailing custom section changes the digest).
            let mut b = bytes.clone();
            b.extend_from_slice(&[0, 3, 2, b'x', i]);
            let base = s.base.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{base}/v1/plugins?name=slow{i}&program_id=p"))
                    .bearer_auth(ADMIN_KEY)
                    .header("content-type", "application/wasm")
                    .body(b)
                    .send()
                    .await
                    .expect("upload")
            })
        })
        .collect();
    // While they compile, the service answers.
    for _ in 0..5 {
        assert_eq!(quote(&s).await.status.as_u16(), 200);
        assert!(
            s.call(Method::GET, "/healthz", None, None)
                .await
                .status
                .is_success()
        );
    }
    for u in uploads {
        let r = u.await.expect("task");
        assert_eq!(r.status().as_u16(), 422);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["type"], "urn:accrue:problem:plugin-compile-limit");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("400 ms"),
            "{body}"
        );
    }
    let metrics = s.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(metric(&metrics.body, "accrue_plugin_compile_peak"), 1);
    assert!(metric(&metrics.body, "accrue_plugin_compile_limit_hits_total") >= 3);
    drop(s);
    db.drop_db().await;
}

fn remove_artifacts_of(dir: &Path, digest: &str) {
    let hex = digest.trim_start_matches("sha256:");
    for entry in std::fs::read_dir(dir).expect("artifact dir") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(hex))
        {
            std::fs::remove_file(&path).expect("remove artifact");
        }
    }
}

/// After a restart, stored plug-ins compile in the background: the service is ready at
/// once, a program whose plug-in is still compiling answers 503 with Retry-After, then
/// serves; one this host can no longer compile answers 503 plugin-unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_serves_while_stored_plugins_compile() {
    let db = postgres().await;
    let dir = std::env::temp_dir().join(format!("accrue-e2e-artifacts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_text = dir.display().to_string();
    let generous = [
        ("ACCRUE_ARTIFACT_DIR", dir_text.as_str()),
        ("ACCRUE_PLUGIN_COMPILE_TIMEOUT_MS", "120000"),
    ];
    let s = Server::start(&db.url, &generous).await;
    s.program("p", "USD", "linear").await;
    s.partner("a", "p", json!({})).await;
    let up = s.upload(built::SLOW_COMPILE_PATH, "slow", "p").await;
    assert_eq!(up.status.as_u16(), 201, "{}", up.body);
    let digest = up.body["digest"].as_str().expect("digest").to_owned();
    s.admin(
        Method::PATCH,
        "/v1/programs/p",
        json!({"attribution": {"plugin": digest}}),
    )
    .await;
    assert_eq!(quote(&s).await.status.as_u16(), 200);
    drop(s);

    // Restart without the plug-in's artifact: it must compile again, in the background.
    remove_artifacts_of(&dir, &digest);
    let s = Server::start(&db.url, &generous).await;
    let first = quote(&s).await;
    first.assert_problem(
        503,
        "plugin-not-ready",
        "a plug-in compiling after a restart",
    );
    assert!(first.retry_after.is_some(), "Retry-After is set");
    let shown = s.admin_get(&format!("/v1/plugins/{digest}")).await;
    assert_eq!(shown.body["status"], "compiling", "{}", shown.body);
    let started = Instant::now();
    loop {
        let r = quote(&s).await;
        if r.status.as_u16() == 200 {
            break;
        }
        r.assert_problem(503, "plugin-not-ready", "while compiling");
        assert!(started.elapsed() < Duration::from_secs(180), "never ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shown = s.admin_get(&format!("/v1/plugins/{digest}")).await;
    assert_eq!(shown.body["status"], "ready", "{}", shown.body);
    drop(s);

    // A host whose limits no longer admit it: unavailable, not a hang, and not ready ever.
    remove_artifacts_of(&dir, &digest);
    let s = Server::start(
        &db.url,
        &[
            ("ACCRUE_ARTIFACT_DIR", dir_text.as_str()),
            ("ACCRUE_PLUGIN_COMPILE_TIMEOUT_MS", "100"),
        ],
    )
    .await;
    let started = Instant::now();
    loop {
        let r = quote(&s).await;
        if r.body["type"] == "urn:accrue:problem:plugin-unavailable" {
            r.assert_problem(503, "plugin-unavailable", "a plug-in this host refuses");
            break;
        }
        r.assert_problem(503, "plugin-not-ready", "before the verdict");
        assert!(started.elapsed() < Duration::from_secs(60), "no verdict");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = s.admin_get(&format!("/v1/plugins/{digest}")).await;
    assert_eq!(shown.body["status"], "failed", "{}", shown.body);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
    db.drop_db().await;
}

/// The SDK's version section is reported (present or not) and must be one semantic
/// version: free text is refused, never echoed back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_section_is_checked_and_reported() {
    let db = accrue::testing::TestDb::sqlite();
    let s = Server::start(&db.url, &[]).await;
    s.program("p", "USD", "linear").await;
    let without = s.upload(built::OUTPUT_ALIAS_PATH, "alias", "p").await;
    assert_eq!(without.status.as_u16(), 201, "{}", without.body);
    assert_eq!(without.body["sdk_section_present"], false);
    assert_eq!(without.body["sdk_wit_version"], Value::Null);
    let with = s.upload(built::LINEAR_PATH, "mine", "p").await;
    assert_eq!(with.body["sdk_section_present"], true, "{}", with.body);
    assert_eq!(with.body["sdk_wit_version"], "1.0.0");
    let mut bad = std::fs::read(built::LINEAR_PATH).expect("fixture");
    let name = b"accrue:sdk-wit-version";
    let data = b"1.0.<script>alert(1)</script>";
    bad.push(0);
    bad.push((1 + name.len() + data.len()) as u8);
    bad.push(name.len() as u8);
    bad.extend_from_slice(name);
    bad.extend_from_slice(data);
    let r = s.upload_bytes(bad, "bad", "p").await;
    r.assert_problem(
        422,
        "plugin-bad-sdk-section",
        "free text in the SDK section",
    );
    drop(s);
    db.drop_db().await;
}

/// A plug-in that runs into its limits on every call is suspended for its program after a
/// few in a row (503 plugin-suspended with Retry-After, without running), so it stops
/// burning the evaluation threads; other programs, and the plug-in elsewhere, go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_keeps_hitting_its_limits_is_suspended() {
    let db = accrue::testing::TestDb::sqlite();
    let s = Server::start(&db.url, &[("ACCRUE_PLUGIN_BREAKER_FAILURES", "3")]).await;
    s.program("p", "USD", "linear").await;
    s.partner("a", "p", json!({})).await;
    s.program("hostile", "USD", "linear").await;
    s.partner("h", "hostile", json!({})).await;
    let up = s
        .upload(built::MISBEHAVE_PATH, "misbehave", "hostile")
        .await;
    let digest = up.body["digest"].as_str().expect("digest").to_owned();
    s.admin(
        Method::PATCH,
        "/v1/programs/hostile",
        json!({"attribution": {"plugin": digest, "config": {"mode": "loop"}}}),
    )
    .await;
    let hostile_quote = |n: usize| {
        let mut q = conversion("hostile", &format!("h{n}"), "10.00", &[("h", "email", AT)]);
        q.as_object_mut().map(|o| o.remove("id"));
        q
    };
    for n in 0..3 {
        s.call(
            Method::POST,
            "/v1/quotes",
            Some(ADMIN_KEY),
            Some(hostile_quote(n)),
        )
        .await
        .assert_problem(422, "plugin-failed", "the plug-in runs out of fuel");
    }
    let suspended = s
        .call(
            Method::POST,
            "/v1/quotes",
            Some(ADMIN_KEY),
            Some(hostile_quote(9)),
        )
        .await;
    suspended.assert_problem(503, "plugin-suspended", "suspended after three");
    assert!(suspended.retry_after.is_some());
    let evaluations =
        |m: &crate::support::Response| metric(&m.body, "accrue_plugin_evaluations_total");
    let before = evaluations(&s.call(Method::GET, "/metrics", None, None).await);
    // Each refusal comes after a pause of up to a second and the first cool-down is a
    // second, so a probe may be let through now and then; each failed probe doubles the
    // cool-down. What is promised: most calls are refused without running, and only the
    // probes run.
    let (mut refused, mut probes) = (0, 0u64);
    for n in 10..20 {
        let r = s
            .call(
                Method::POST,
                "/v1/quotes",
                Some(ADMIN_KEY),
                Some(hostile_quote(n)),
            )
            .await;
        if r.status.as_u16() == 503 {
            r.assert_problem(503, "plugin-suspended", "still suspended");
            assert!(r.retry_after.is_some());
            refused += 1;
        } else {
            r.assert_problem(422, "plugin-failed", "a probe after the cool-down");
            probes += 1;
        }
    }
    // Probes come after cool-downs of 1, 2, 4 s... and each refusal takes at least a
    // second: in ten calls, about three probes (four if the machine is slow).
    assert!(
        refused >= 5 && probes <= 4,
        "{refused} refused, {probes} probes"
    );
    let after = evaluations(&s.call(Method::GET, "/metrics", None, None).await);
    assert_eq!(after - before, probes, "only the probes run");
    // The neighbour is served.
    assert_eq!(quote(&s).await.status.as_u16(), 200);
    drop(s);
    db.drop_db().await;
}
