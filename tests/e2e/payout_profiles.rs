//! Payout methods over HTTP (issue 11): stored sealed, answered masked, confined to their
//! partner, each bad destination refused with its own problem type; and the service will
//! not start without the key the stored methods were sealed with.

use crate::support::{ADMIN_KEY, SECRETS_KEY, Server, binary, postgres};
use reqwest::Method;
use serde_json::json;
use std::process::{Command, Stdio};

/// Start the service on `db_url` with `key` (or none) and expect it to refuse: its exit
/// status and what it said.
fn refused_start(db_url: &str, key: Option<&str>) -> (std::process::ExitStatus, String) {
    let mut cmd = Command::new(binary());
    cmd.arg("serve")
        .env("DATABASE_URL", db_url)
        .env("ACCRUE_LISTEN", "127.0.0.1:0")
        .env("ACCRUE_ADMIN_KEY", ADMIN_KEY)
        .env("ACCRUE_LOG", "warn")
        .env_remove("ACCRUE_SECRETS_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(key) = key {
        cmd.env("ACCRUE_SECRETS_KEY", key);
    }
    let out = cmd.output().expect("run accrue serve");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payout_methods_are_sealed_masked_and_private() {
    let db = postgres().await;
    let mut s = Server::start(&db.url, &[("ACCRUE_SECRETS_KEY", SECRETS_KEY)]).await;
    s.program("p", "EUR", "linear").await;
    s.partner("alice", "p", json!({"payout_currency": "EUR"}))
        .await;
    s.partner("bob", "p", json!({"payout_currency": "USD"}))
        .await;
    let server = &s;
    let key = |partner: &'static str| async move {
        server
            .admin(
                Method::POST,
                "/v1/api-keys",
                json!({"scope": "partner", "partner_id": partner}),
            )
            .await["key"]
            .as_str()
            .expect("secret")
            .to_owned()
    };
    let alice = key("alice").await;
    let bob = key("bob").await;
    let path = "/v1/partners/alice/payout-method";

    // A partner sets its own SEPA method; the answer shows the IBAN masked only.
    let put = s
        .call(
            Method::PUT,
            path,
            Some(&alice),
            Some(json!({
                "type": "sepa", "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX",
                "holder_name": "Alice Martin", "party_kind": "individual"
            })),
        )
        .await;
    assert_eq!(put.status.as_u16(), 200, "{}", put.body);
    assert_eq!(put.body["iban"], "••••3000");
    assert_eq!(put.body["bic"], "COBADEFFXXX");
    assert_eq!(put.body["type"], "sepa");
    let shown = s.admin_get(path).await;
    assert_eq!(shown.status.as_u16(), 200);
    assert_eq!(shown.body["iban"], "••••3000");
    assert_eq!(shown.body["holder_name"], "Alice Martin");
    for body in [&put.body, &shown.body] {
        let text = body.to_string();
        assert!(!text.contains("DE89") && !text.contains("0532"), "{text}");
    }

    // Another partner's key: 404, worded like a partner that does not exist.
    let other = s.call(Method::GET, path, Some(&bob), None).await;
    other.assert_problem(404, "not-found", "another partner's method");
    assert_eq!(other.body["detail"], "partner \"alice\" not found");
    s.call(
        Method::PUT,
        path,
        Some(&bob),
        Some(json!({"type": "paypal", "email": "bob@example.com",
                    "holder_name": "Bob", "party_kind": "individual"})),
    )
    .await
    .assert_problem(404, "not-found", "writing another partner's method");
    s.call(Method::DELETE, path, Some(&bob), None)
        .await
        .assert_problem(404, "not-found", "deleting another partner's method");

    // Bad destinations, each its own problem type, naming the field.
    let bad_iban = s
        .call(
            Method::PUT,
            path,
            Some(ADMIN_KEY),
            Some(json!({"type": "sepa", "iban": "DE89370400440532013001",
                        "holder_name": "Alice Martin", "party_kind": "individual"})),
        )
        .await;
    bad_iban.assert_problem(422, "iban-checksum", "IBAN check digits");
    assert_eq!(bad_iban.body["field"], "iban");
    assert!(!bad_iban.body.to_string().contains("0532013001"));
    let bad_aba = s
        .call(
            Method::PUT,
            "/v1/partners/bob/payout-method",
            Some(&bob),
            Some(json!({"type": "ach", "routing_number": "021000022",
                        "account_number": "123456789", "account_type": "checking",
                        "holder_name": "Bob Stone", "party_kind": "company"})),
        )
        .await;
    bad_aba.assert_problem(422, "aba-routing-checksum", "ABA check digit");
    assert_eq!(bad_aba.body["field"], "routing_number");
    // The method still in place is the first one.
    assert_eq!(s.admin_get(path).await.body["iban"], "••••3000");

    // A tax profile: the TIN answered masked; each bad field its own type.
    let tax = s
        .call(
            Method::PUT,
            "/v1/partners/bob/tax-profile",
            Some(&bob),
            Some(
                json!({"form": "w9", "legal_name": "Bob Stone", "tin": "12-3456789",
                        "country": "US"}),
            ),
        )
        .await;
    assert_eq!(tax.status.as_u16(), 200, "{}", tax.body);
    assert_eq!(
        (tax.body["tin"].as_str(), tax.body["tin_on_file"].as_bool()),
        (Some("••••6789"), Some(true))
    );
    assert!(!tax.body.to_string().contains("3456789"), "{}", tax.body);
    for (body, kind) in [
        (
            json!({"form": "w9", "legal_name": "Bob", "tin": "12345", "country": "US"}),
            "tin-invalid",
        ),
        (
            json!({"form": "w8ben", "legal_name": "Bob", "country": "US"}),
            "tax-country-invalid",
        ),
        (
            json!({"form": "w8ben", "legal_name": "Bob", "country": "FR", "treaty_rate": "1.5"}),
            "treaty-rate-invalid",
        ),
        (
            json!({"form": "1099", "legal_name": "Bob", "country": "US"}),
            "tax-form-invalid",
        ),
    ] {
        s.call(
            Method::PUT,
            "/v1/partners/bob/tax-profile",
            Some(ADMIN_KEY),
            Some(body),
        )
        .await
        .assert_problem(422, kind, kind);
    }
    // Withholding rules: admins add, the program's partners read.
    let rule = json!({"situation": "w8", "country": "IN", "effective_from": "2026-01-01T00:00:00Z", "rate": "0.15"});
    let added = s
        .call(
            Method::POST,
            "/v1/programs/p/withholding-rules",
            Some(ADMIN_KEY),
            Some(rule.clone()),
        )
        .await;
    assert_eq!(added.status.as_u16(), 201, "{}", added.body);
    // The same rule again (a retry) answers the first answer; another rate for the same
    // situation, country and instant is a conflict: rules are history.
    let again = s
        .call(
            Method::POST,
            "/v1/programs/p/withholding-rules",
            Some(ADMIN_KEY),
            Some(rule),
        )
        .await;
    assert_eq!(
        (again.status.as_u16(), &again.body),
        (201, &added.body),
        "the same rule again"
    );
    s.call(
        Method::POST,
        "/v1/programs/p/withholding-rules",
        Some(ADMIN_KEY),
        Some(json!({"situation": "w8", "country": "IN", "effective_from": "2026-01-01T00:00:00Z", "rate": "0.20"})),
    )
    .await
    .assert_problem(409, "conflict", "another rate for the same instant");
    let listed = s
        .call(
            Method::GET,
            "/v1/programs/p/withholding-rules",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(listed.body["items"][0]["rate"], "0.15", "{}", listed.body);

    // Stopped, the service will not start again without the key the methods need, nor
    // with another key; it names the variable and never prints a key.
    assert!(s.terminate().await.success());
    let (status, said) = refused_start(&db.url, None);
    assert!(!status.success(), "started without a key: {said}");
    assert!(
        said.contains(
            "1 payout methods are stored sealed; set ACCRUE_SECRETS_KEY to the key they were sealed with"
        ),
        "{said}"
    );
    let other_key = "11".repeat(32);
    let (status, said) = refused_start(&db.url, Some(&other_key));
    assert!(!status.success(), "started with another key: {said}");
    assert!(said.contains("ACCRUE_SECRETS_KEY"), "{said}");
    assert!(
        !said.contains(&other_key) && !said.contains(SECRETS_KEY),
        "{said}"
    );
    let (status, said) = refused_start(&db.url, Some("not-a-key"));
    assert!(!status.success(), "started with an invalid key: {said}");
    assert!(said.contains("ACCRUE_SECRETS_KEY is not a key"), "{said}");
    assert!(!said.contains("not-a-key"), "{said}");
    drop(s);
    db.drop_db().await;
}
