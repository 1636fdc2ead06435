//! The edge: what is refused before any engine code runs, always as a problem document
//! naming the field: control characters (U+0000 above all, which PostgreSQL cannot
//! store) in every kind of text, decimals outside the published grammar, out-of-range
//! numbers, malformed paths and query strings, overlong URIs; a bad item of a batch fails
//! alone; cursors are opaque.

use crate::support::{ADMIN_KEY, Server, conversion, postgres};
use reqwest::Method;
use serde_json::{Value, json};

const T: &str = "2026-03-09T12:00:00Z";

async fn seeded(url: &str) -> Server {
    let s = Server::start(url, &[]).await;
    s.program("p", "USD", "linear").await;
    s.partner("a", "p", json!({})).await;
    s.partner("b", "p", json!({})).await;
    s
}

fn ok_conversion(id: &str) -> Value {
    conversion("p", id, "10.00", &[("a", "email", T)])
}

/// Every place text reaches the service, each with a NUL: a 422 naming the field, on both
/// stores, and nothing stored.
async fn control_characters_are_refused_everywhere(s: &Server) {
    let nul = "x\u{0}y";
    let conv = |f: &dyn Fn(&mut Value)| {
        let mut b = ok_conversion("nul-case");
        f(&mut b);
        b
    };
    let body_cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "POST",
            "/v1/conversions",
            conv(&|b| b["id"] = json!(nul)),
            "id",
        ),
        (
            "POST",
            "/v1/conversions",
            conv(&|b| b["program_id"] = json!(nul)),
            "program_id",
        ),
        (
            "POST",
            "/v1/conversions",
            conv(&|b| b["country"] = json!(nul)),
            "country",
        ),
        (
            "POST",
            "/v1/conversions",
            conv(&|b| b["region"] = json!(nul)),
            "region",
        ),
        (
            "POST",
            "/v1/conversions",
            conv(&|b| b["customer_id"] = json!(nul)),
            "customer_id",
        ),
        (
            "POST",
            "/v1/conversions",
            conv(&|b| b["touchpoints"][0]["channel"] = json!(nul)),
            "touchpoints[0].channel",
        ),
        (
            "POST",
            "/v1/conversions",
            conv(&|b| b["touchpoints"][0]["partner_id"] = json!(nul)),
            "touchpoints[0].partner_id",
        ),
        (
            "POST",
            "/v1/conversions",
            conv(&|b| b["touchpoints"][0]["campaign"] = json!(nul)),
            "touchpoints[0].campaign",
        ),
        (
            "POST",
            "/v1/conversions",
            conv(&|b| b["attributes"] = json!({"coupon": nul})),
            "attributes.coupon",
        ),
        (
            "POST",
            "/v1/programs",
            json!({"id": "q", "name": nul, "currency": "USD", "attribution": {"plugin": "linear"}}),
            "name",
        ),
        (
            "POST",
            "/v1/partners",
            json!({"id": "c", "program_id": "p", "name": nul}),
            "name",
        ),
        (
            "POST",
            "/v1/partners",
            json!({"id": "c", "program_id": "p", "country": nul}),
            "country",
        ),
        (
            "POST",
            "/v1/disputes",
            json!({"program_id": "p", "conversion_id": "c1", "reason": nul}),
            "reason",
        ),
        (
            "POST",
            "/v1/api-keys",
            json!({"scope": "admin", "label": nul}),
            "label",
        ),
    ];
    for (method, path, body, field) in body_cases {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let r = s.call(method, path, Some(ADMIN_KEY), Some(body)).await;
        r.assert_problem(422, "invalid-input", &format!("NUL in {field} of {path}"));
        assert_eq!(r.body["field"], field, "{}", r.body);
    }
    for (path, field) in [
        ("/v1/partners/a%00b", "id"),
        ("/v1/programs/p%00q", "id"),
        ("/v1/conversions/c%001/replay?program_id=p", "id"),
        ("/v1/commissions?partner_id=a%00", "partner_id"),
        ("/v1/commissions?conversion_id=c%001", "conversion_id"),
        ("/v1/disputes?program_id=p%00", "program_id"),
    ] {
        let r = s.admin_get(path).await;
        r.assert_problem(422, "invalid-input", &format!("NUL in {path}"));
        assert_eq!(r.body["field"], field, "{path}: {}", r.body);
    }
    let r = s
        .call_with(
            Method::POST,
            "/v1/conversions",
            Some(ADMIN_KEY),
            Some(conv(&|b| {
                b.as_object_mut().map(|o| o.remove("id"));
            })),
            &[("Idempotency-Key", "tab\tkey")],
        )
        .await;
    r.assert_problem(
        422,
        "invalid-input",
        "a control character in Idempotency-Key",
    );
    // Nothing of any of it was stored.
    let list = s.admin_get("/v1/commissions?program_id=p").await;
    assert_eq!(list.body["items"], json!([]), "{}", list.body);
}

/// One bad item of a batch (here a NUL) fails alone; the good ones are stored, at once and
/// on every retry.
async fn a_bad_item_of_a_batch_fails_alone(s: &Server) {
    let mut bad = ok_conversion("b-bad");
    bad["touchpoints"][0]["channel"] = json!("e\u{0}mail");
    let batch = json!({"conversions": [ok_conversion("b-1"), bad, ok_conversion("b-2")]});
    for attempt in 0..2 {
        let r = s
            .call(
                Method::POST,
                "/v1/conversions/batch",
                Some(ADMIN_KEY),
                Some(batch.clone()),
            )
            .await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        let results = r.body["results"].as_array().expect("results");
        assert_eq!(results[1]["status"], "error");
        assert_eq!(
            results[1]["error"]["type"],
            "urn:accrue:problem:invalid-input"
        );
        assert_eq!(results[1]["error"]["field"], "touchpoints[0].channel");
        let expected = if attempt == 0 { "created" } else { "replayed" };
        assert_eq!(results[0]["status"], expected, "{}", r.body);
        assert_eq!(results[2]["status"], expected, "{}", r.body);
    }
}

/// Decimals follow one grammar, the one the document publishes, and numbers are bounded.
async fn numbers_follow_the_published_grammar(s: &Server) {
    for amount in ["1e3", "+10.00", ".5", "10.", "0x10", "1,5", " 1", "007"] {
        let mut b = ok_conversion("g");
        b["amount"] = json!(amount);
        let r = s
            .call(Method::POST, "/v1/conversions", Some(ADMIN_KEY), Some(b))
            .await;
        r.assert_problem(422, "invalid-input", &format!("amount {amount:?}"));
        assert_eq!(r.body["field"], "amount");
    }
    for (rate, kind) in [
        ("1e-2", "invalid-input"),
        (".05", "invalid-input"),
        ("1.5", "bad-rate"),
    ] {
        let r = s
            .call(
                Method::PATCH,
                "/v1/programs/p",
                Some(ADMIN_KEY),
                Some(json!({"max_bonus_share": rate})),
            )
            .await;
        r.assert_problem(422, kind, &format!("rate {rate:?}"));
    }
    for days in [json!(4_294_967_295_u64), json!(3651), json!(-1), json!(1.5)] {
        let r = s
            .call(
                Method::PATCH,
                "/v1/programs/p",
                Some(ADMIN_KEY),
                Some(json!({"hold_days": days})),
            )
            .await;
        r.assert_problem(422, "invalid-input", &format!("hold_days {days}"));
        assert_eq!(r.body["field"], "hold_days");
    }
    let program = s.admin_get("/v1/programs/p").await;
    assert_eq!(program.body["hold_days"], 30, "unchanged");
    // A whole number may be written with a zero fraction, as JSON Schema allows.
    let changed = s
        .admin(Method::PATCH, "/v1/programs/p", json!({"hold_days": 14.0}))
        .await;
    assert_eq!(changed["hold_days"], 14);
    s.admin(Method::PATCH, "/v1/programs/p", json!({"hold_days": 30}))
        .await;
}

/// Every list takes the same page-size rule; cursors are opaque and belong to one listing.
async fn lists_share_one_rule_and_cursors_are_opaque(s: &Server) {
    for path in [
        "/v1/partners?limit=-5",
        "/v1/partners?limit=0",
        "/v1/partners?limit=1001",
        "/v1/commissions?limit=-5",
        "/v1/commissions?limit=abc",
    ] {
        let r = s.admin_get(path).await;
        r.assert_problem(422, "invalid-input", path);
        assert_eq!(r.body["field"], "limit", "{path}");
    }
    for i in 0..3 {
        s.admin(
            Method::POST,
            "/v1/conversions",
            ok_conversion(&format!("cur-{i}")),
        )
        .await;
    }
    let first = s.admin_get("/v1/commissions?program_id=p&limit=1").await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let id = first.body["items"][0]["id"].as_i64().expect("id");
    assert!(
        cursor.parse::<i64>().is_err() && cursor.len() >= 54,
        "the cursor {cursor} reveals the entry id {id}"
    );
    let second = s
        .admin_get(&format!(
            "/v1/commissions?program_id=p&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(second.status.as_u16(), 200, "{}", second.body);
    assert_ne!(second.body["items"][0]["id"], first.body["items"][0]["id"]);
    // Another listing, a raw id, a forged one: refused.
    let other = s
        .admin_get(&format!(
            "/v1/commissions?partner_id=b&limit=1&cursor={cursor}"
        ))
        .await;
    other.assert_problem(422, "invalid-input", "a cursor of another listing");
    let raw = s
        .admin_get(&format!("/v1/commissions?program_id=p&cursor={id}"))
        .await;
    raw.assert_problem(422, "invalid-input", "a raw entry id as cursor");
    // One character of the sealed bytes changed (to one that differs from it).
    let middle = cursor.len() / 2;
    let swap = if &cursor[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    let forged = format!("{}{swap}{}", &cursor[..middle], &cursor[middle + 1..]);
    let forged = s
        .admin_get(&format!(
            "/v1/commissions?program_id=p&limit=1&cursor={forged}"
        ))
        .await;
    forged.assert_problem(422, "invalid-input", "a forged cursor");
}

/// Everything axum would refuse before a handler runs is a problem document too.
async fn framework_refusals_are_problem_documents(s: &Server) {
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", s.base);
    let long_query = format!("/v1/commissions?{}", "x".repeat(10_000));
    let json_post = |body: Vec<u8>| {
        client
            .post(url("/v1/conversions"))
            .header("content-type", "application/json")
            .body(body)
    };
    let cases = vec![
        (client.get(url("/v1/partners/%FF%FE")), 400, "invalid-path"),
        (client.get(url(&long_query)), 414, "uri-too-long"),
        (
            client.get(url("/v1/commissions?status=nope")),
            422,
            "invalid-input",
        ),
        (
            client.get(url("/v1/commissions?unknown=1")),
            422,
            "invalid-input",
        ),
        (
            client.delete(url("/v1/programs")),
            405,
            "method-not-allowed",
        ),
        (json_post(b"[\"p\", \"id\"]".to_vec()), 400, "invalid-body"),
        (json_post(vec![b'{'; 9 << 20]), 413, "body-too-large"),
    ];
    for (request, status, kind) in cases {
        let response = request.bearer_auth(ADMIN_KEY).send().await.expect("send");
        assert_eq!(response.status().as_u16(), status, "{kind}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "application/problem+json", "{kind}");
        let body: Value = response.json().await.expect("a problem document");
        assert_eq!(body["type"], format!("urn:accrue:problem:{kind}"));
        assert_eq!(body["status"], status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_refuses_before_the_engine_on_postgresql() {
    let db = postgres().await;
    let s = seeded(&db.url).await;
    control_characters_are_refused_everywhere(&s).await;
    a_bad_item_of_a_batch_fails_alone(&s).await;
    numbers_follow_the_published_grammar(&s).await;
    lists_share_one_rule_and_cursors_are_opaque(&s).await;
    framework_refusals_are_problem_documents(&s).await;
    drop(s);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_refuses_before_the_engine_on_sqlite() {
    let db = accrue::testing::TestDb::sqlite();
    let s = seeded(&db.url).await;
    control_characters_are_refused_everywhere(&s).await;
    a_bad_item_of_a_batch_fails_alone(&s).await;
    drop(s);
    db.drop_db().await;
}
