//! Ledger and tenant integrity over HTTP (issue 10, items 2, 3 and 7): a partner disputes
//! only its own entries; plug-in registrations are per program; every POST that changes
//! money answers a retry with its first answer.

use crate::support::{ADMIN_KEY, Response, Server, conversion, postgres};
use reqwest::Method;
use serde_json::{Value, json};

const T: &str = "2026-03-09T00:00:00Z";

/// A new key of `scope` for `partner_id` or `program_id`; its secret.
async fn key(s: &Server, body: Value) -> String {
    s.admin(Method::POST, "/v1/api-keys", body).await["key"]
        .as_str()
        .expect("secret")
        .to_owned()
}

/// Every entry of program `p`, as the admin sees them (ids, amounts, statuses).
async fn ledger(s: &Server) -> Value {
    let r = s.admin_get("/v1/commissions?program_id=p&limit=500").await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    r.body["items"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_dispute_only_their_own_entries() {
    let db = postgres().await;
    let s = Server::start(&db.url, &[]).await;
    s.program("p", "USD", "linear").await;
    s.partner("a1", "p", json!({})).await;
    s.partner("a2", "p", json!({})).await;
    s.admin(
        Method::POST,
        "/v1/conversions",
        conversion(
            "p",
            "o1",
            "100.00",
            &[("a1", "email", T), ("a2", "email", T)],
        ),
    )
    .await;
    s.admin(
        Method::POST,
        "/v1/conversions",
        conversion("p", "o2", "100.00", &[("a2", "email", T)]),
    )
    .await;
    let a1 = key(&s, json!({"scope": "partner", "partner_id": "a1"})).await;
    let a2 = key(&s, json!({"scope": "partner", "partner_id": "a2"})).await;
    let before = ledger(&s).await;
    let a2_entry = before
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["partner_id"] == "a2" && e["conversion_id"] == "o1")
        .expect("a2's entry")["id"]
        .clone();
    let dispute = |body: Value| s.call(Method::POST, "/v1/disputes", Some(&a1), Some(body));

    // Another partner's entry on a shared conversion answers like one that does not exist.
    let theirs = dispute(
        json!({"program_id": "p", "conversion_id": "o1", "entry_id": a2_entry, "reason": "x"}),
    )
    .await;
    theirs.assert_problem(404, "not-found", "a2's entry");
    let missing = dispute(
        json!({"program_id": "p", "conversion_id": "o1", "entry_id": 999_999, "reason": "x"}),
    )
    .await;
    missing.assert_problem(404, "not-found", "no such entry");
    assert_eq!(
        theirs.body["detail"]
            .as_str()
            .map(|d| d.replace(&a2_entry.to_string(), "N")),
        missing.body["detail"]
            .as_str()
            .map(|d| d.replace("999999", "N")),
        "nothing tells the two apart"
    );
    dispute(json!({"program_id": "p", "conversion_id": "o2", "reason": "x"}))
        .await
        .assert_problem(404, "not-found", "a conversion of a2's only");
    assert_eq!(ledger(&s).await, before, "nothing frozen");

    // Without entry_id: a1's own entries on the conversion, not a2's.
    let own = dispute(json!({"program_id": "p", "conversion_id": "o1", "reason": "mine?"})).await;
    assert_eq!(own.status.as_u16(), 201, "{}", own.body);
    assert_eq!(own.body["partner_id"], "a1");
    let frozen = |who: &'static str| {
        let s = &s;
        async move {
            s.admin_get(&format!("/v1/partners/{who}/balance"))
                .await
                .body["balances"][0]["frozen"]
                .clone()
        }
    };
    assert_eq!(frozen("a1").await, "2.50");
    assert_eq!(frozen("a2").await, "0.00", "a2's entries are untouched");

    // Reading disputes is scoped the same way.
    let listed = s.call(Method::GET, "/v1/disputes", Some(&a1), None).await;
    assert_eq!(listed.status.as_u16(), 200, "{}", listed.body);
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    let listed = s.call(Method::GET, "/v1/disputes", Some(&a2), None).await;
    assert_eq!(
        listed.body["items"],
        json!([]),
        "a2 sees nothing of a1's dispute"
    );
    drop(s);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_registered_per_program() {
    let db = postgres().await;
    let s = Server::start(&db.url, &[]).await;
    s.program("p1", "USD", "linear").await;
    s.program("p2", "USD", "linear").await;
    let author1 = key(&s, json!({"scope": "plugin_author", "program_id": "p1"})).await;
    let author2 = key(&s, json!({"scope": "plugin_author", "program_id": "p2"})).await;
    let bytes = std::fs::read(accrue::plugins::built::LAST_NON_DIRECT_PATH).expect("component");
    let upload = |author: &str, name: &str| {
        let path = format!("/v1/plugins?name={name}&version=1.0.0");
        let author = author.to_owned();
        let (s, bytes) = (&s, bytes.clone());
        async move {
            s.raw(
                Method::POST,
                &path,
                Some(&author),
                "application/wasm",
                bytes,
            )
            .await
        }
    };
    let first = upload(&author1, "alpha").await;
    assert_eq!(first.status.as_u16(), 201, "{}", first.body);
    let second = upload(&author2, "beta").await;
    assert_eq!(second.status.as_u16(), 201, "{}", second.body);
    assert_eq!(first.body["digest"], second.body["digest"], "one code");
    assert_eq!(
        second.body["name"], "beta",
        "B gets its own record, not A's"
    );
    assert_eq!(second.body["program_id"], "p2");
    let digest = first.body["digest"].as_str().expect("digest").to_owned();

    for (author, program, own, other) in [
        (&author1, "p1", "alpha", "beta"),
        (&author2, "p2", "beta", "alpha"),
    ] {
        let shown = s
            .call(
                Method::GET,
                &format!("/v1/plugins/{digest}"),
                Some(author),
                None,
            )
            .await;
        assert_eq!(shown.status.as_u16(), 200, "{}", shown.body);
        assert_eq!(shown.body["name"], own);
        let listed = s.call(Method::GET, "/v1/plugins", Some(author), None).await;
        let names: Vec<&Value> = listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|p| p["digest"] == digest.as_str())
            .map(|p| &p["name"])
            .collect();
        assert_eq!(names, [own], "{program} sees its own name only");
        assert!(!listed.body.to_string().contains(other), "{}", listed.body);
        let bound = s
            .call(
                Method::PATCH,
                &format!("/v1/programs/{program}"),
                Some(author),
                Some(json!({"attribution": {"plugin": digest}})),
            )
            .await;
        assert_eq!(
            bound.status.as_u16(),
            200,
            "{program} binds: {}",
            bound.body
        );
    }
    let all = s.admin_get("/v1/plugins").await;
    let mut owners: Vec<(String, String)> = all.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|p| p["digest"] == digest.as_str())
        .map(|p| (p["program_id"].to_string(), p["name"].to_string()))
        .collect();
    owners.sort();
    assert_eq!(
        owners,
        [
            ("\"p1\"".to_owned(), "\"alpha\"".to_owned()),
            ("\"p2\"".to_owned(), "\"beta\"".to_owned())
        ],
        "an admin sees both, each with its program"
    );
    drop(s);
    db.drop_db().await;
}

/// A POST with the admin key and an `Idempotency-Key`.
async fn keyed(s: &Server, path: &str, key: &str, body: Value) -> Response {
    s.call_with(
        Method::POST,
        path,
        Some(ADMIN_KEY),
        Some(body),
        &[("idempotency-key", key)],
    )
    .await
}

/// Send the same keyed POST twice: the same status and body, nothing applied twice; then
/// the key with `other` is 409 `idempotency-conflict`. Returns the first answer.
async fn replays(s: &Server, path: &str, body: Value, other: Value) -> Value {
    let first = keyed(s, path, "k-1", body.clone()).await;
    assert!(
        first.status.is_success(),
        "{path}: {} {}",
        first.status,
        first.body
    );
    let after = ledger(s).await;
    let again = keyed(s, path, "k-1", body).await;
    assert_eq!(again.status, first.status, "{path}: {}", again.body);
    assert_eq!(again.body, first.body, "{path}: the first answer");
    assert_eq!(ledger(s).await, after, "{path}: nothing applied twice");
    keyed(s, path, "k-1", other)
        .await
        .assert_problem(409, "idempotency-conflict", path);
    assert_eq!(
        ledger(s).await,
        after,
        "{path}: the conflict applied nothing"
    );
    first.body
}

async fn money_posts_are_idempotent(s: Server) {
    s.program("p", "USD", "linear").await;
    s.admin(
        Method::PATCH,
        "/v1/programs/p",
        json!({"bonus": {"plugin": "tier-bonus", "config": {"threshold": "10"}}}),
    )
    .await;
    s.partner("a", "p", json!({})).await;
    s.partner("b", "p", json!({})).await;
    s.admin(
        Method::POST,
        "/v1/conversions",
        conversion("p", "o1", "100.00", &[("a", "email", T), ("b", "email", T)]),
    )
    .await;
    replays(
        &s,
        "/v1/conversions/o1/refunds",
        json!({"program_id": "p", "amount": "10.00"}),
        json!({"program_id": "p", "amount": "20.00"}),
    )
    .await;
    let dispute = replays(
        &s,
        "/v1/disputes",
        json!({"program_id": "p", "conversion_id": "o1", "reason": "fraud?"}),
        json!({"program_id": "p", "conversion_id": "o1", "reason": "other"}),
    )
    .await;
    let id = dispute["id"].as_str().expect("id");
    replays(
        &s,
        &format!("/v1/disputes/{id}/resolve"),
        json!({"outcome": "rejected", "note": "fine"}),
        json!({"outcome": "upheld", "note": "fine"}),
    )
    .await;
    let adjustment = |reason: &str| {
        json!({
            "program_id": "p", "from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z",
            "tiers": {"starter": {"base": "0.08", "bonus": "0.02"}}, "reason": reason,
        })
    };
    let report = replays(
        &s,
        "/v1/adjustments",
        adjustment("fix"),
        adjustment("other"),
    )
    .await;
    assert_eq!(
        report["changes"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    let closed = replays(
        &s,
        "/v1/programs/p/periods/close",
        json!({"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}),
        json!({"from": "2026-03-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        closed["bonuses"][0]["new"], true,
        "the first answer: {closed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_posts_are_idempotent_on_postgres() {
    let db = postgres().await;
    money_posts_are_idempotent(Server::start(&db.url, &[]).await).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_posts_are_idempotent_on_sqlite() {
    let db = accrue::testing::TestDb::sqlite();
    money_posts_are_idempotent(Server::start(&db.url, &[]).await).await;
}
