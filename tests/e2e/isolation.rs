//! Tenant isolation: partner keys see only their own data; plug-in author keys manage only
//! their own program's plug-ins; missing, wrong and revoked keys are refused.

use crate::support::{ADMIN_KEY, Server, conversion, postgres};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_stay_inside_their_scope() {
    let db = postgres().await;
    let s = Server::start(&db.url, &[]).await;
    for program in ["p1", "p2"] {
        s.program(program, "USD", "linear").await;
    }
    s.partner("alice", "p1", json!({})).await;
    s.partner("bob", "p1", json!({})).await;
    s.admin(
        Method::POST,
        "/v1/conversions",
        conversion(
            "p1",
            "o1",
            "100.00",
            &[("alice", "email", "2026-03-09T00:00:00Z")],
        ),
    )
    .await;
    s.admin(
        Method::POST,
        "/v1/conversions",
        conversion(
            "p1",
            "o2",
            "100.00",
            &[("bob", "email", "2026-03-09T00:00:00Z")],
        ),
    )
    .await;
    let key = |body| async {
        s.admin(Method::POST, "/v1/api-keys", body).await["key"]
            .as_str()
            .expect("secret")
            .to_owned()
    };
    let alice = key(json!({"scope": "partner", "partner_id": "alice"})).await;
    let author1 = key(json!({"scope": "plugin_author", "program_id": "p1"})).await;
    let author2 = key(json!({"scope": "plugin_author", "program_id": "p2"})).await;

    // A partner reads its own commissions and balance, nothing of anyone else's.
    let own = s
        .call(Method::GET, "/v1/commissions", Some(&alice), None)
        .await;
    assert_eq!(own.status.as_u16(), 200);
    let partners: Vec<&str> = own.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["partner_id"].as_str())
        .collect();
    assert_eq!(partners, ["alice"]);
    s.call(
        Method::GET,
        "/v1/commissions?partner_id=bob",
        Some(&alice),
        None,
    )
    .await
    .assert_problem(403, "forbidden", "other partner's commissions");
    s.call(Method::GET, "/v1/partners/bob/balance", Some(&alice), None)
        .await
        .assert_problem(404, "not-found", "other partner's balance");
    s.call(Method::GET, "/v1/partners/bob", Some(&alice), None)
        .await
        .assert_problem(404, "not-found", "other partner");
    assert_eq!(
        s.call(
            Method::GET,
            "/v1/partners/alice/balance",
            Some(&alice),
            None
        )
        .await
        .status
        .as_u16(),
        200
    );
    s.call(
        Method::POST,
        "/v1/conversions",
        Some(&alice),
        Some(conversion("p1", "x", "1.00", &[])),
    )
    .await
    .assert_problem(403, "forbidden", "partner posting");
    s.call(
        Method::POST,
        "/v1/api-keys",
        Some(&alice),
        Some(json!({"scope": "admin"})),
    )
    .await
    .assert_problem(403, "forbidden", "partner minting keys");

    // A plug-in author manages its own program's plug-ins only.
    let component = std::fs::read(accrue::plugins::built::LAST_NON_DIRECT_PATH).expect("component");
    let up = s
        .raw(
            Method::POST,
            "/v1/plugins?name=mine",
            Some(&author2),
            "application/wasm",
            component.clone(),
        )
        .await;
    assert_eq!(up.status.as_u16(), 201, "{}", up.body);
    let digest2 = up.body["digest"].as_str().expect("digest").to_owned();
    s.call(
        Method::GET,
        &format!("/v1/plugins/{digest2}"),
        Some(&author1),
        None,
    )
    .await
    .assert_problem(404, "not-found", "other program's plug-in");
    let listed = s
        .call(Method::GET, "/v1/plugins", Some(&author1), None)
        .await;
    assert!(
        listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|p| p["digest"] != digest2.as_str())
    );
    s.raw(
        Method::POST,
        "/v1/plugins?program_id=p2",
        Some(&author1),
        "application/wasm",
        component,
    )
    .await
    .assert_problem(403, "forbidden", "upload for another program");
    s.call(
        Method::PATCH,
        "/v1/programs/p2",
        Some(&author1),
        Some(json!({"attribution": {"plugin": "linear"}})),
    )
    .await
    .assert_problem(403, "forbidden", "bind another program");
    s.call(
        Method::PATCH,
        "/v1/programs/p1",
        Some(&author1),
        Some(json!({"attribution": {"plugin": digest2}})),
    )
    .await
    .assert_problem(422, "invalid-input", "bind another program's plug-in");
    s.call(
        Method::PATCH,
        "/v1/programs/p1",
        Some(&author1),
        Some(json!({"name": "renamed"})),
    )
    .await
    .assert_problem(403, "forbidden", "author changing more than bindings");
    let ok = s
        .call(
            Method::PATCH,
            "/v1/programs/p1",
            Some(&author1),
            Some(json!({"attribution": {"plugin": "first-touch"}})),
        )
        .await;
    assert_eq!(ok.status.as_u16(), 200, "{}", ok.body);
    s.call(Method::GET, "/v1/commissions", Some(&author1), None)
        .await
        .assert_problem(403, "forbidden", "author reading commissions");

    // Missing, malformed, unknown and revoked keys.
    s.call(Method::GET, "/v1/programs", None, None)
        .await
        .assert_problem(401, "unauthorized", "no key");
    s.call_with(
        Method::GET,
        "/v1/programs",
        None,
        None,
        &[("authorization", "Basic abc")],
    )
    .await
    .assert_problem(401, "unauthorized", "not bearer");
    s.call(Method::GET, "/v1/programs", Some("acc_wrong"), None)
        .await
        .assert_problem(401, "unauthorized", "unknown key");
    let listed = s.admin_get("/v1/api-keys").await;
    let alice_id = listed.body["items"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["partner_id"] == "alice")
        .expect("alice's key")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/v1/api-keys/{alice_id}"),
            Some(ADMIN_KEY),
            None
        )
        .await
        .status
        .as_u16(),
        204
    );
    s.call(Method::GET, "/v1/commissions", Some(&alice), None)
        .await
        .assert_problem(401, "unauthorized", "revoked key");
    drop(s);
    db.drop_db().await;
}
