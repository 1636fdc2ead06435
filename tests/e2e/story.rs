//! The whole story: programs with each default attribution model, partners, conversions
//! checked to the cent, a refund, balances, a partner's custom plug-in uploaded, bound and
//! used; and the same basic path on the embedded SQLite store.

use crate::support::{ADMIN_KEY, Server, amounts, conversion, postgres};
use reqwest::Method;
use serde_json::json;

const A: &str = "2026-02-28T12:00:00Z"; // 10 days before the conversion
const B1: &str = "2026-03-05T12:00:00Z"; // 5 days before
const C: &str = "2026-03-07T12:00:00Z"; // 3 days before
const B2: &str = "2026-03-09T12:00:00Z"; // 1 day before

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_story_on_postgres() {
    let db = postgres().await;
    let s = Server::start(&db.url, &[]).await;

    // Each default attribution model, to the cent (129.90; starter 5 %, professional 15 %,
    // enterprise 25 %; half-even at the cent; shares split by largest remainder).
    let expected = [
        ("first-touch", json!({}), vec![("a", "6.50")]),
        ("last-touch", json!({}), vec![("b", "19.48")]),
        (
            "linear",
            json!({}),
            vec![("a", "1.62"), ("b", "9.74"), ("c", "8.12")],
        ),
        (
            "position-based",
            json!({}),
            vec![("a", "2.60"), ("b", "9.74"), ("c", "3.25")],
        ),
        (
            "time-decay",
            json!({"half_life_days": 7}),
            vec![("a", "0.92"), ("b", "11.23"), ("c", "9.18")],
        ),
    ];
    for (model, config, want) in expected {
        s.admin(Method::POST, "/v1/programs", json!({
            "id": model, "name": model, "currency": "USD", "attribution": {"plugin": model, "config": config}, "hold_days": 14,
        }))
        .await;
        for (p, tier) in [("a", "starter"), ("b", "professional"), ("c", "enterprise")] {
            s.admin(
                Method::POST,
                "/v1/partners",
                json!({"id": format!("{model}-{p}"), "program_id": model, "tier": tier}),
            )
            .await;
        }
        let (pa, pb, pc) = (
            format!("{model}-a"),
            format!("{model}-b"),
            format!("{model}-c"),
        );
        let body = conversion(
            model,
            "order-1",
            "129.90",
            &[
                (&pa, "email", A),
                (&pb, "social", B1),
                (&pc, "search", C),
                (&pb, "email", B2),
            ],
        );
        let r = s
            .call(
                Method::POST,
                "/v1/conversions",
                Some(ADMIN_KEY),
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status.as_u16(), 201, "{model}: {}", r.body);
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(p, a)| (format!("{model}-{p}"), (*a).to_owned()))
            .collect();
        assert_eq!(amounts(&r.body), want, "{model}");
        // The same key and payload again: the same body, 200.
        let again = s
            .call(Method::POST, "/v1/conversions", Some(ADMIN_KEY), Some(body))
            .await;
        assert_eq!(again.status.as_u16(), 200);
        assert_eq!(again.body, r.body);
    }

    // A refund: half, then the rest; the balance goes back to exactly zero.
    let refund = s
        .call(
            Method::POST,
            "/v1/conversions/order-1/refunds",
            Some(ADMIN_KEY),
            Some(json!({"program_id": "linear", "amount": "64.95"})),
        )
        .await;
    assert_eq!(refund.status.as_u16(), 201, "{}", refund.body);
    assert_eq!(refund.body["refunded_total"], "64.95");
    let balance = s.admin_get("/v1/partners/linear-b/balance").await;
    assert_eq!(
        balance.body["balances"][0]["total"], "4.87",
        "{}",
        balance.body
    );
    s.admin(
        Method::POST,
        "/v1/conversions/order-1/refunds",
        json!({"program_id": "linear"}),
    )
    .await;
    let balance = s.admin_get("/v1/partners/linear-b/balance").await;
    assert_eq!(
        balance.body["balances"][0]["total"], "0.00",
        "{}",
        balance.body
    );

    // Commissions are listed with a cursor.
    let page = s
        .admin_get("/v1/commissions?program_id=linear&limit=2")
        .await;
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(2));
    let cursor = page.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = s
        .admin_get(&format!(
            "/v1/commissions?program_id=linear&cursor={cursor}"
        ))
        .await;
    let total = 2 + rest.body["items"].as_array().map_or(0, Vec::len);
    assert_eq!(
        total,
        3 + 3 + 3,
        "3 commissions, 3 partial and 3 final reversals"
    );

    // A quote computes without storing.
    let quote = s
        .admin(
            Method::POST,
            "/v1/quotes",
            conversion("linear", "q-1", "100.00", &[("linear-c", "email", C)]),
        )
        .await;
    assert_eq!(
        amounts(&quote),
        vec![("linear-c".to_owned(), "25.00".to_owned())]
    );
    let none = s.admin_get("/v1/commissions?conversion_id=q-1").await;
    assert_eq!(none.body["items"], json!([]));

    // A white-label partner's own plug-in: uploaded by its plug-in author key, bound, used.
    let author = s
        .admin(
            Method::POST,
            "/v1/api-keys",
            json!({"scope": "plugin_author", "program_id": "last-touch", "label": "partner dev"}),
        )
        .await;
    let author_key = author["key"].as_str().expect("secret");
    let component =
        std::fs::read(accrue::plugins::built::LAST_NON_DIRECT_PATH).expect("example component");
    let up = s
        .raw(
            Method::POST,
            "/v1/plugins?name=last-non-direct&version=1.0.0",
            Some(author_key),
            "application/wasm",
            component.clone(),
        )
        .await;
    assert_eq!(up.status.as_u16(), 201, "{}", up.body);
    assert_eq!(up.body["world"], "attribution");
    assert_eq!(up.body["program_id"], "last-touch");
    let digest = up.body["digest"].as_str().expect("digest").to_owned();
    let again = s
        .raw(
            Method::POST,
            "/v1/plugins?name=last-non-direct&version=1.0.0",
            Some(author_key),
            "application/wasm",
            component,
        )
        .await;
    assert_eq!(again.status.as_u16(), 200, "same bytes, same digest");
    let bind = s
        .call(
            Method::PATCH,
            "/v1/programs/last-touch",
            Some(author_key),
            Some(json!({"attribution": {"plugin": digest}})),
        )
        .await;
    assert_eq!(bind.status.as_u16(), 200, "{}", bind.body);
    let pa = "last-touch-a";
    let pb = "last-touch-b";
    let r = s
        .admin(
            Method::POST,
            "/v1/conversions",
            conversion(
                "last-touch",
                "order-2",
                "100.00",
                &[(pa, "email", C), (pb, "direct", B2)],
            ),
        )
        .await;
    // Last touch would credit b (direct); the custom model skips direct and credits a.
    assert_eq!(amounts(&r), vec![(pa.to_owned(), "5.00".to_owned())]);
    let entries = s.admin_get("/v1/commissions?conversion_id=order-2").await;
    assert_eq!(
        entries.body["items"][0]["provenance"]["attribution_digest"],
        digest.as_str()
    );

    // Period close: the tier-bonus plug-in pays first-touch-a 2 % (starter) of 129.90, once.
    s.admin(
        Method::PATCH,
        "/v1/programs/first-touch",
        json!({"bonus": {"plugin": "tier-bonus", "config": {"threshold": "100"}}}),
    )
    .await;
    let period = json!({"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"});
    let closed = s
        .admin(
            Method::POST,
            "/v1/programs/first-touch/periods/close",
            period.clone(),
        )
        .await;
    assert_eq!(closed["bonuses"][0]["partner_id"], "first-touch-a");
    assert_eq!(closed["bonuses"][0]["amount"], "2.60", "{closed}");
    assert_eq!(closed["bonuses"][0]["new"], true);
    let again = s
        .admin(
            Method::POST,
            "/v1/programs/first-touch/periods/close",
            period,
        )
        .await;
    assert_eq!(again["bonuses"][0]["new"], false);
    let balance = s.admin_get("/v1/partners/first-touch-a/balance").await;
    assert_eq!(
        balance.body["balances"][0]["total"], "9.10",
        "6.50 commission + 2.60 bonus: {}",
        balance.body
    );

    // Any commission replays bit for bit from its provenance.
    let replay = s
        .admin_get("/v1/conversions/order-1/replay?program_id=time-decay")
        .await;
    assert_eq!(replay.body["matches"], true, "{}", replay.body);

    // Operations endpoints.
    let metrics = s
        .raw(Method::GET, "/metrics", None, "text/plain", Vec::new())
        .await;
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains(
            "accrue_http_requests_total{method=\"POST\",route=\"/v1/conversions\",status=\"201\"}"
        ),
        "{text}"
    );
    assert!(text.contains("accrue_plugin_evaluations_total"));
    assert!(text.contains("accrue_conversions_created_total"));
    let doc = s.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.body["openapi"], "3.1.0");
    drop(s);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_on_the_embedded_sqlite_store() {
    let db = accrue::testing::TestDb::sqlite();
    let s = Server::start(&db.url, &[]).await;
    s.program("shop", "EUR", "linear").await;
    s.partner(
        "p1",
        "shop",
        json!({"tier": "enterprise", "payout_currency": "GBP"}),
    )
    .await;
    s.admin(Method::PUT, "/v1/fx-rates", json!({"base": "EUR", "quote": "GBP", "rate": "0.8500", "effective_from": "2026-01-01T00:00:00Z"})).await;
    let mut body = conversion("shop", "o-1", "40.00", &[("p1", "email", C)]);
    body["currency"] = json!("EUR");
    let r = s.admin(Method::POST, "/v1/conversions", body).await;
    assert_eq!(r["commissions"][0]["amount"], "10.00");
    assert_eq!(r["commissions"][0]["payout_amount"], "8.50");
    assert_eq!(r["commissions"][0]["payout_currency"], "GBP");
    let list = s.admin_get("/v1/commissions").await;
    assert_eq!(list.body["items"][0]["fx_rate"], "0.8500");
    drop(s);
    db.drop_db().await;
}

/// The README's tour (`examples/tour.sh`) runs as written against a fresh service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_script_runs() {
    let db = accrue::testing::TestDb::sqlite();
    let s = Server::start(&db.url, &[]).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tour.sh");
    let out = tokio::process::Command::new("bash")
        .arg(&script)
        .env("ACCRUE_URL", &s.base)
        .env("KEY", ADMIN_KEY)
        .output()
        .await
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tour failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("\"amount\":\"9.74\""),
        "bob earns 15 % of 64.95: {stdout}"
    );
    drop(s);
    db.drop_db().await;
}

/// SIGTERM stops the service cleanly: it exits with success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully() {
    let db = accrue::testing::TestDb::sqlite();
    let mut s = Server::start(&db.url, &[]).await;
    let status = s.terminate().await;
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    db.drop_db().await;
}

/// The ledger operations over HTTP: a batch with a bad item, commission filters,
/// a retroactive adjustment (dry run, then for real, then again), and disputes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_operations_over_http() {
    let db = postgres().await;
    let s = Server::start(&db.url, &[]).await;
    s.program("p", "USD", "first-touch").await;
    s.partner("a", "p", json!({"tier": "starter"})).await;

    // A batch: each item gets its own result; one bad item does not sink the others.
    let batch = json!({"conversions": [
        conversion("p", "o1", "100.00", &[("a", "email", C)]),
        conversion("p", "o2", "200.00", &[("ghost", "email", C)]),
        conversion("p", "o3", "50.00", &[("a", "email", C)]),
        {"program_id": "p", "id": "o4", "amount": 5, "currency": "USD", "occurred_at": B2},
    ]});
    let r = s
        .admin(Method::POST, "/v1/conversions/batch", batch.clone())
        .await;
    assert_eq!(r["created"], 2, "{r}");
    let statuses: Vec<&str> = r["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|i| i["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["created", "error", "created", "error"]);
    assert_eq!(
        r["results"][1]["error"]["type"],
        "urn:accrue:problem:unknown-partner"
    );
    assert_eq!(
        r["results"][3]["error"]["type"],
        "urn:accrue:problem:invalid-body"
    );
    assert_eq!(r["results"][3]["error"]["field"], "amount");
    let again = s.admin(Method::POST, "/v1/conversions/batch", batch).await;
    assert_eq!(again["replayed"], 2, "{again}");

    // Commission filters: status and time range.
    let pending = s.admin_get("/v1/commissions?status=pending").await;
    assert_eq!(pending.body["items"].as_array().map(Vec::len), Some(2));
    let none = s.admin_get("/v1/commissions?status=approved").await;
    assert_eq!(none.body["items"], json!([]));
    let future = s
        .admin_get("/v1/commissions?from=2100-01-01T00:00:00Z")
        .await;
    assert_eq!(future.body["items"], json!([]));
    s.admin_get("/v1/commissions?status=lost")
        .await
        .assert_problem(422, "invalid-input", "unknown status");

    // A retroactive adjustment: starter was 8 %, not 5 %, in March.
    let adjust = |dry_run: bool| {
        json!({
            "program_id": "p", "from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z",
            "tiers": {"starter": {"base": "0.08", "bonus": "0.02"}}, "reason": "rate fix", "dry_run": dry_run,
        })
    };
    let shadow = s.admin(Method::POST, "/v1/adjustments", adjust(true)).await;
    assert_eq!(
        shadow["changes"].as_array().map(Vec::len),
        Some(2),
        "{shadow}"
    );
    assert_eq!(shadow["totals"]["USD"], "4.50");
    let balance = s.admin_get("/v1/partners/a/balance").await;
    assert_eq!(
        balance.body["balances"][0]["total"], "7.50",
        "a dry run writes nothing"
    );
    let real = s
        .admin(Method::POST, "/v1/adjustments", adjust(false))
        .await;
    assert_eq!(real["totals"]["USD"], "4.50");
    let repeat = s
        .admin(Method::POST, "/v1/adjustments", adjust(false))
        .await;
    assert_eq!(
        repeat["changes"],
        json!([]),
        "running it again changes nothing"
    );
    let balance = s.admin_get("/v1/partners/a/balance").await;
    assert_eq!(balance.body["balances"][0]["total"], "12.00");

    // Disputes: opening freezes, resolving upheld reverses; a closed dispute stays closed.
    let opened = s
        .call(
            Method::POST,
            "/v1/disputes",
            Some(ADMIN_KEY),
            Some(json!({"program_id": "p", "conversion_id": "o1", "reason": "fraud"})),
        )
        .await;
    assert_eq!(opened.status.as_u16(), 201, "{}", opened.body);
    let id = opened.body["id"].as_str().expect("id").to_owned();
    let balance = s.admin_get("/v1/partners/a/balance").await;
    assert_eq!(
        balance.body["balances"][0]["frozen"], "8.00",
        "{}",
        balance.body
    );
    let listed = s.admin_get("/v1/disputes?program_id=p").await;
    assert_eq!(listed.body["items"][0]["status"], "open");
    let resolved = s
        .admin(
            Method::POST,
            &format!("/v1/disputes/{id}/resolve"),
            json!({"outcome": "upheld", "note": "confirmed"}),
        )
        .await;
    assert_eq!(resolved["status"], "upheld");
    s.call(
        Method::POST,
        &format!("/v1/disputes/{id}/resolve"),
        Some(ADMIN_KEY),
        Some(json!({"outcome": "rejected", "note": "again"})),
    )
    .await
    .assert_problem(409, "conflict", "resolving twice");
    let balance = s.admin_get("/v1/partners/a/balance").await;
    assert_eq!(
        balance.body["balances"][0]["total"], "4.00",
        "o1 reversed, o3 stands: {}",
        balance.body
    );
    drop(s);
    db.drop_db().await;
}

/// SIGTERM while a request is being handled: the request still completes, then the
/// service exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests() {
    let db = accrue::testing::TestDb::sqlite();
    let mut s = Server::start(&db.url, &[]).await;
    s.program("p", "USD", "linear").await;
    s.partner("a", "p", json!({})).await;
    let big: Vec<_> = (0..1000)
        .map(|i| conversion("p", &format!("b{i}"), "10.00", &[("a", "email", C)]))
        .collect();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/conversions/batch", s.base);
    let request = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"conversions": big}))
            .send()
            .await
    });
    // Wait until the batch is being handled (in flight beside this scrape), then ask the
    // service to stop.
    let started = std::time::Instant::now();
    loop {
        let metrics = s.call(Method::GET, "/metrics", None, None).await;
        let in_flight = metrics
            .body
            .as_str()
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("accrue_http_requests_in_flight "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if in_flight >= 2 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the batch never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let status = s.terminate().await;
    let response = request
        .await
        .expect("task")
        .expect("the in-flight request is answered");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["created"], 1000);
    assert!(status.success(), "{status:?}");
    db.drop_db().await;
}
