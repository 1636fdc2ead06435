//! The money path over HTTP: the bonus cap as a program setting, the largest amount,
//! current and withdrawn currencies, and amounts answered with their currency's decimals.

use crate::support::{ADMIN_KEY, Server, conversion, postgres};
use reqwest::Method;
use serde_json::json;

const T: &str = "2026-03-09T12:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_rules_over_http() {
    let db = postgres().await;
    let s = Server::start(&db.url, &[]).await;

    // The bonus cap: set on create and patch as a decimal string, shown in the answer.
    let created = s
        .admin(
            Method::POST,
            "/v1/programs",
            json!({"id": "p", "name": "p", "currency": "USD", "attribution": {"plugin": "linear"},
                   "max_bonus_share": "0.5"}),
        )
        .await;
    assert_eq!(created["max_bonus_share"], "0.5");
    let patched = s
        .admin(
            Method::PATCH,
            "/v1/programs/p",
            json!({"max_bonus_share": "0.25"}),
        )
        .await;
    assert_eq!(patched["max_bonus_share"], "0.25");
    let default = s.program("q", "USD", "linear").await;
    assert_eq!(default["max_bonus_share"], "1");
    let r = s
        .call(
            Method::PATCH,
            "/v1/programs/p",
            Some(ADMIN_KEY),
            Some(json!({"max_bonus_share": "1.5"})),
        )
        .await;
    r.assert_problem(422, "bad-rate", "a cap above 100 %");
    assert_eq!(r.body["field"], "max_bonus_share");
    assert_eq!(
        s.admin_get("/v1/programs/p").await.body["max_bonus_share"],
        "0.25",
        "a refused patch changes nothing"
    );

    // The largest amount, split three ways into equal parts; anything larger is refused
    // as a validation error, before any plug-in runs.
    for p in ["a", "b", "c"] {
        s.partner(p, "p", json!({})).await;
    }
    let three = [("a", "email", T), ("b", "email", T), ("c", "email", T)];
    let big = s
        .admin(
            Method::POST,
            "/v1/conversions",
            conversion("p", "big", "999999999999.99", &three),
        )
        .await;
    for c in big["commissions"].as_array().expect("lines") {
        assert_eq!(c["attributed_amount"], "333333333333.33", "{c}");
    }
    for amount in ["10000000000000.00", "12345678901234567890.00"] {
        for path in ["/v1/conversions", "/v1/quotes"] {
            let r = s
                .call(
                    Method::POST,
                    path,
                    Some(ADMIN_KEY),
                    Some(conversion("p", "huge", amount, &three)),
                )
                .await;
            r.assert_problem(422, "amount-too-large", amount);
            assert_eq!(r.body["field"], "amount");
        }
    }

    // Currencies the old table lacked work end to end; withdrawn ones are refused.
    for code in ["QAR", "KZT"] {
        let partner = format!("p-{code}");
        s.partner(&partner, "p", json!({"payout_currency": code}))
            .await;
        let mut body = conversion(
            "p",
            &format!("c-{code}"),
            "100.00",
            &[(&partner, "email", T)],
        );
        body["currency"] = json!(code);
        let r = s.admin(Method::POST, "/v1/conversions", body).await;
        assert_eq!(r["commissions"][0]["payout_currency"], code);
    }
    let mut bgn = conversion("p", "c-bgn", "100.00", &[("a", "email", T)]);
    bgn["currency"] = json!("BGN");
    let r = s
        .call(Method::POST, "/v1/conversions", Some(ADMIN_KEY), Some(bgn))
        .await;
    r.assert_problem(422, "withdrawn-currency", "a BGN conversion");
    assert_eq!(r.body["field"], "currency");
    let r = s
        .call(
            Method::POST,
            "/v1/partners",
            Some(ADMIN_KEY),
            Some(json!({"id": "bg", "program_id": "p", "payout_currency": "BGN"})),
        )
        .await;
    r.assert_problem(422, "withdrawn-currency", "a BGN payout currency");
    assert_eq!(r.body["field"], "payout_currency");
    let r = s
        .call(
            Method::POST,
            "/v1/programs",
            Some(ADMIN_KEY),
            Some(json!({"id": "bgn", "name": "bgn", "currency": "BGN", "attribution": {"plugin": "linear"}})),
        )
        .await;
    r.assert_problem(422, "withdrawn-currency", "a BGN program");

    // Zero amounts keep their decimals through the PostgreSQL ingest and every read.
    s.admin(
        Method::POST,
        "/v1/conversions",
        conversion("p", "zero", "0.00", &[("a", "email", T)]),
    )
    .await;
    let entries = s
        .admin_get("/v1/commissions?program_id=p&conversion_id=zero")
        .await
        .body;
    let item = &entries["items"][0];
    assert_eq!(
        (item["amount"].as_str(), item["payout_amount"].as_str()),
        (Some("0.00"), Some("0.00"))
    );
    let balance = s.admin_get("/v1/partners/a/balance").await.body;
    assert_eq!(balance["balances"][0]["approved"], "0.00", "{balance}");
}
