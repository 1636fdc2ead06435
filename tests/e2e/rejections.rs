//! Every rejection: its status and its problem `type`, and that nothing was written.

use crate::support::{ADMIN_KEY, Server, conversion, postgres};
use reqwest::Method;
use serde_json::json;

const T: &str = "2026-03-09T12:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rejection_has_its_status_and_type() {
    let db = postgres().await;
    let s = Server::start(&db.url, &[("ACCRUE_PLUGIN_MAX_BYTES", "1000000")]).await;
    s.program("p", "USD", "linear").await;
    s.program("other", "USD", "linear").await;
    s.partner("a", "p", json!({})).await;
    s.partner("eur", "p", json!({"payout_currency": "EUR"}))
        .await;
    s.partner("outsider", "other", json!({})).await;
    s.admin(
        Method::POST,
        "/v1/conversions",
        conversion("p", "taken", "10.00", &[("a", "email", T)]),
    )
    .await;
    let ok = conversion("p", "new", "10.00", &[("a", "email", T)]);
    let with = |field: &str, value: serde_json::Value| {
        let mut body = ok.clone();
        body[field] = value;
        body
    };

    let json_cases: Vec<(&str, serde_json::Value, u16, &str)> = vec![
        (
            "amount as a JSON number",
            with("amount", json!(10.5)),
            400,
            "invalid-body",
        ),
        (
            "unknown field",
            with("amout", json!("1.00")),
            400,
            "invalid-body",
        ),
        (
            "wrong type",
            with("new_customer", json!("yes")),
            400,
            "invalid-body",
        ),
        (
            "unknown currency",
            with("currency", json!("ABC")),
            422,
            "unknown-currency",
        ),
        (
            "bad date",
            with("occurred_at", json!("yesterday")),
            422,
            "invalid-input",
        ),
        (
            "negative amount",
            with("amount", json!("-5.00")),
            422,
            "negative-amount",
        ),
        (
            "more decimals than the currency",
            with("amount", json!("5.001")),
            422,
            "too-precise",
        ),
        (
            "unknown program",
            with("program_id", json!("nope")),
            422,
            "unknown-program",
        ),
        (
            "unknown partner",
            conversion("p", "new", "10.00", &[("ghost", "email", T)]),
            422,
            "unknown-partner",
        ),
        (
            "partner outside the program",
            conversion("p", "new", "10.00", &[("outsider", "email", T)]),
            422,
            "partner-outside-program",
        ),
        (
            "missing FX rate",
            conversion("p", "new", "10.00", &[("eur", "email", T)]),
            422,
            "missing-fx-rate",
        ),
        (
            "same key, other payload",
            conversion("p", "taken", "11.00", &[("a", "email", T)]),
            409,
            "idempotency-conflict",
        ),
        (
            "no id",
            {
                let mut b = ok.clone();
                b.as_object_mut().map(|o| o.remove("id"));
                b
            },
            422,
            "invalid-input",
        ),
    ];
    for (what, body, status, kind) in json_cases {
        s.call(Method::POST, "/v1/conversions", Some(ADMIN_KEY), Some(body))
            .await
            .assert_problem(status, kind, what);
    }
    let r = s
        .call(
            Method::POST,
            "/v1/conversions",
            Some(ADMIN_KEY),
            Some(with("amount", json!(10.5))),
        )
        .await;
    assert_eq!(
        r.body["field"], "amount",
        "validation errors name the field"
    );

    s.raw(
        Method::POST,
        "/v1/conversions",
        Some(ADMIN_KEY),
        "application/json",
        b"{\"program_id\": ".to_vec(),
    )
    .await
    .assert_problem(400, "malformed-json", "truncated JSON");
    s.raw(
        Method::POST,
        "/v1/conversions",
        Some(ADMIN_KEY),
        "text/plain",
        b"{}".to_vec(),
    )
    .await
    .assert_problem(415, "unsupported-media-type", "not JSON");
    s.raw(
        Method::POST,
        "/v1/conversions",
        Some(ADMIN_KEY),
        "application/json",
        vec![b' '; 9 << 20],
    )
    .await
    .assert_problem(413, "body-too-large", "oversized body");
    let header_mismatch = s
        .call_with(
            Method::POST,
            "/v1/conversions",
            Some(ADMIN_KEY),
            Some(ok.clone()),
            &[("idempotency-key", "other")],
        )
        .await;
    header_mismatch.assert_problem(422, "invalid-input", "header and body ids differ");
    let big: Vec<_> = (0..1001)
        .map(|i| conversion("p", &format!("b{i}"), "1.00", &[]))
        .collect();
    s.call(
        Method::POST,
        "/v1/conversions/batch",
        Some(ADMIN_KEY),
        Some(json!({"conversions": big})),
    )
    .await
    .assert_problem(422, "invalid-input", "batch over 1,000");
    s.call(
        Method::POST,
        "/v1/conversions/taken/refunds",
        Some(ADMIN_KEY),
        Some(json!({"program_id": "p", "amount": "10.01"})),
    )
    .await
    .assert_problem(409, "conflict", "refund above the amount");
    s.call(
        Method::POST,
        "/v1/conversions/ghost/refunds",
        Some(ADMIN_KEY),
        Some(json!({"program_id": "p"})),
    )
    .await
    .assert_problem(404, "not-found", "refund of an unknown conversion");
    s.call(
        Method::PUT,
        "/v1/fx-rates",
        Some(ADMIN_KEY),
        Some(json!({"base": "USD", "quote": "USD", "rate": "1", "effective_from": T})),
    )
    .await
    .assert_problem(422, "invalid-input", "FX to itself");
    s.call(
        Method::PUT,
        "/v1/fx-rates",
        Some(ADMIN_KEY),
        Some(json!({"base": "USD", "quote": "EUR", "rate": "0", "effective_from": T})),
    )
    .await
    .assert_problem(422, "invalid-input", "zero FX rate");
    s.call(Method::POST, "/v1/programs", Some(ADMIN_KEY), Some(json!({"id": "p", "name": "again", "currency": "USD", "attribution": {"plugin": "linear"}}))).await.assert_problem(409, "conflict", "duplicate program");
    s.call(Method::POST, "/v1/programs", Some(ADMIN_KEY), Some(json!({"id": "q", "name": "q", "currency": "USD", "attribution": {"plugin": "tier-bonus"}}))).await.assert_problem(422, "invalid-input", "a bonus plug-in bound as attribution");
    s.call(Method::POST, "/v1/programs", Some(ADMIN_KEY), Some(json!({"id": "q", "name": "q", "currency": "USD", "attribution": {"plugin": "linear"}, "tiers": {"starter": {"base": "1.5", "bonus": "0"}}}))).await.assert_problem(422, "bad-rate", "a rate above 1");
    s.admin_get("/v1/nothing-here")
        .await
        .assert_problem(404, "no-such-route", "unknown route");
    s.call(Method::DELETE, "/v1/programs", Some(ADMIN_KEY), None)
        .await
        .assert_problem(405, "method-not-allowed", "wrong method");

    // Plug-in uploads: each validation failure has its own type.
    let wasm = |text: &str| wat::parse_str(text).expect("wat");
    let mut future_sdk = std::fs::read(accrue::plugins::built::LINEAR_PATH).expect("component");
    let (name, data) = (b"accrue:sdk-wit-version", b"2.0.0");
    future_sdk.extend([0u8, (1 + name.len() + data.len()) as u8, name.len() as u8]);
    future_sdk.extend_from_slice(name);
    future_sdk.extend_from_slice(data);
    let uploads: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "garbage",
            b"not wasm at all".to_vec(),
            422,
            "plugin-not-wasm",
        ),
        ("a core module", wasm("(module)"), 422, "plugin-core-module"),
        (
            "a WASI import",
            wasm("(component (import \"wasi:cli/environment@0.2.0\" (instance)))"),
            422,
            "plugin-forbidden-import",
        ),
        (
            "no known hook",
            wasm("(component)"),
            422,
            "plugin-unknown-world",
        ),
        (
            "a future SDK",
            future_sdk,
            422,
            "plugin-unsupported-version",
        ),
        ("too large", vec![0u8; 1_000_001], 413, "plugin-too-large"),
    ];
    for (what, bytes, status, kind) in uploads {
        s.raw(
            Method::POST,
            "/v1/plugins",
            Some(ADMIN_KEY),
            "application/wasm",
            bytes,
        )
        .await
        .assert_problem(status, kind, what);
    }
    s.raw(
        Method::POST,
        "/v1/plugins",
        Some(ADMIN_KEY),
        "application/octet-stream",
        b"x".to_vec(),
    )
    .await
    .assert_problem(415, "unsupported-media-type", "wrong upload type");

    // Nothing was half-written by any of it.
    let stored = s.admin_get("/v1/commissions?program_id=p").await;
    assert_eq!(stored.body["items"].as_array().map(Vec::len), Some(1));
    let plugins = s.admin_get("/v1/plugins").await;
    assert_eq!(
        plugins.body["items"].as_array().map(Vec::len),
        Some(7),
        "only the built-in modules"
    );
    drop(s);
    db.drop_db().await;
}
