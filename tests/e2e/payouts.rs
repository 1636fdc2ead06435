//! Payouts over HTTP, on PostgreSQL: partners' methods and tax forms, a schedule, a dry
//! run, a run approved and exported, its files checked by independent tools (the SEPA
//! file against the ISO 20022 schema with `xmllint`, the NACHA file by `achkit`), bank
//! feedback (a `pain.002` and a NACHA return list), balances and partner isolation.

use crate::support::{ADMIN_KEY, SECRETS_KEY, Server, conversion, postgres};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `xmllint --schema` of the official pain.001.001.09 schema over `xml`.
fn xmllint_pain001(xml: &[u8]) -> (bool, String) {
    let xsd = root().join("host/payfiles/tests/xsd/pain.001.001.09.xsd");
    let mut child = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run xmllint ({e}): tests/run.sh installs libxml2-utils; this test does not skip")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(xml)
        .expect("xmllint stdin");
    let out = child.wait_with_output().expect("xmllint");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// achkit's reading of a NACHA file (`host/payfiles/tests/nacha_check.py`).
fn achkit(text: &str) -> Value {
    let venv = std::env::var("ACCRUE_VENV")
        .unwrap_or_else(|_| root().join(".venv").to_string_lossy().into_owned());
    let python = PathBuf::from(&venv).join("bin/python");
    let mut child = Command::new(&python)
        .arg(root().join("host/payfiles/tests/nacha_check.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {} ({e}): tests/run.sh makes the virtualenv with achkit; this test does not skip", python.display())
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("achkit stdin");
    let out = child.wait_with_output().expect("achkit");
    assert!(
        out.status.success(),
        "nacha_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("achkit JSON")
}

/// A program `p` (USD, no hold) whose entries are approved within a second, with a
/// schedule, four partners and their payout details:
/// - `eu` (EUR, SEPA, W-8BEN from Germany): paid in full;
/// - `us` (USD, ACH, W-9 without TIN): 24 % backup withholding;
/// - `pp` (USD, PayPal, W-9 with TIN): no withholding, a fee below 50 USD;
/// - `nf` (USD, ACH, no tax form): held, with a `tax_form.required` notice.
pub async fn payout_world(server: &Server) {
    server
        .admin(
            Method::POST,
            "/v1/programs",
            json!({"id": "p", "name": "p", "currency": "USD", "hold_days": 0,
                   "attribution": {"plugin": "linear"}}),
        )
        .await;
    server
        .admin(
            Method::PUT,
            "/v1/fx-rates",
            json!({"base": "USD", "quote": "EUR", "rate": "0.9", "effective_from": "2026-01-01T00:00:00Z"}),
        )
        .await;
    for (id, currency) in [("eu", "EUR"), ("us", "USD"), ("pp", "USD"), ("nf", "USD")] {
        server
            .partner(
                id,
                "p",
                json!({"tier": "professional", "payout_currency": currency}),
            )
            .await;
    }
    let method = |body: Value| body;
    for (id, body) in [
        (
            "eu",
            method(
                json!({"type": "sepa", "holder_name": "Jürgen Müller", "party_kind": "individual",
                          "iban": "DE89 3704 0044 0532 0130 00"}),
            ),
        ),
        (
            "us",
            method(
                json!({"type": "ach", "holder_name": "Ada Lovelace", "party_kind": "individual",
                          "routing_number": "021000021", "account_number": "123456789",
                          "account_type": "checking"}),
            ),
        ),
        (
            "pp",
            method(
                json!({"type": "paypal", "holder_name": "Acme LLC", "party_kind": "company",
                          "email": "payouts@acme.example"}),
            ),
        ),
        (
            "nf",
            method(
                json!({"type": "ach", "holder_name": "No Form", "party_kind": "individual",
                          "routing_number": "011000015", "account_number": "99887766",
                          "account_type": "savings"}),
            ),
        ),
    ] {
        server
            .admin(
                Method::PUT,
                &format!("/v1/partners/{id}/payout-method"),
                body,
            )
            .await;
    }
    for (id, body) in [
        (
            "eu",
            json!({"form": "w8ben", "legal_name": "Jürgen Müller", "country": "DE"}),
        ),
        (
            "us",
            json!({"form": "w9", "legal_name": "Ada Lovelace", "country": "US"}),
        ),
        (
            "pp",
            json!({"form": "w9", "legal_name": "Acme LLC", "country": "US", "tin": "12-3456789"}),
        ),
    ] {
        server
            .admin(Method::PUT, &format!("/v1/partners/{id}/tax-profile"), body)
            .await;
    }
    server
        .admin(
            Method::PUT,
            "/v1/programs/p/payout-schedule",
            schedule(1, "1000000.00"),
        )
        .await;
}

/// Program `p`'s schedule: weekly on ISO `weekday`, a second admin above `second_above`
/// USD, minimum 10 USD with a 1 USD fee below 50, and the payer's accounts.
pub fn schedule(weekday: u32, second_above: &str) -> Value {
    json!({
        "frequency": "weekly", "day": weekday,
        "default_minimum": "1.00",
        "currencies": {"USD": {"minimum": "10.00", "fee_below": "50.00", "fee": "1.00"}},
        "second_approval_above": {"USD": second_above},
        "payer": {
            "name": "Accrue Demo GmbH", "iban": "DE75512108001245126199",
            "bic": "SOGEDEFFXXX",
            "ach": {"immediate_destination": "021000021", "immediate_destination_name": "JPMORGAN CHASE",
                    "immediate_origin": "1234567890", "immediate_origin_name": "ACCRUE DEMO",
                    "company_name": "ACCRUE DEMO", "company_id": "1234567890",
                    "odfi_routing": "021000021", "entry_description": "PAYOUT"}
        }
    })
}

/// Post one conversion crediting each of `partners` once, `amount` USD each.
pub async fn credit(server: &Server, id: &str, amount: &str, partners: &[&str]) {
    for p in partners {
        let body = conversion(
            "p",
            &format!("{id}-{p}"),
            amount,
            &[(p, "email", "2026-03-09T00:00:00Z")],
        );
        let r = server
            .call(Method::POST, "/v1/conversions", Some(ADMIN_KEY), Some(body))
            .await;
        assert!(r.status.is_success(), "conversion: {} {}", r.status, r.body);
    }
}

/// Wait until `partner`'s payable balance is `want` (the approval loop runs each second).
pub async fn wait_payable(server: &Server, partner: &str, want: &str) {
    for _ in 0..100 {
        let b = server
            .admin_get(&format!("/v1/partners/{partner}/balance"))
            .await;
        if b.body["balances"][0]["payable"] == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{partner} never had {want} payable");
}

fn item<'a>(items: &'a [Value], partner: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["partner_id"] == partner)
        .unwrap_or_else(|| panic!("no item for {partner}: {items:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_pays_partners_through_real_files_and_bank_feedback() {
    let db = postgres().await;
    let server = Server::start(
        &db.url,
        &[
            ("ACCRUE_SECRETS_KEY", SECRETS_KEY),
            ("ACCRUE_APPROVE_EVERY_S", "1"),
        ],
    )
    .await;
    payout_world(&server).await;
    // linear, professional tier: 15 % of the sale. eu's 100 USD → 15 USD → 13.50 EUR.
    credit(&server, "o1", "100.00", &["eu", "us", "pp", "nf"]).await;
    credit(&server, "o2", "200.00", &["us"]).await;
    wait_payable(&server, "eu", "13.50").await;
    wait_payable(&server, "us", "45.00").await;
    wait_payable(&server, "nf", "15.00").await;

    // A dry run shows the figures and writes nothing.
    let dry = server
        .admin(
            Method::POST,
            "/v1/payout-runs",
            json!({"program_id": "p", "dry_run": true}),
        )
        .await;
    assert_eq!(dry["dry_run"], true);
    let preview = dry["items"].as_array().expect("preview items").clone();
    assert_eq!(preview.len(), 4, "{dry}");
    let listed = server.admin_get("/v1/payout-runs?program_id=p").await;
    assert_eq!(listed.body["items"], json!([]), "a dry run writes nothing");

    let r = server
        .call_with(
            Method::POST,
            "/v1/payout-runs",
            Some(ADMIN_KEY),
            Some(json!({"program_id": "p"})),
            &[("Idempotency-Key", "run-1")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let run_id = r.body["id"].as_str().expect("run id").to_owned();
    assert_eq!(r.body["status"], "draft");
    let again = server
        .call_with(
            Method::POST,
            "/v1/payout-runs",
            Some(ADMIN_KEY),
            Some(json!({"program_id": "p"})),
            &[("Idempotency-Key", "run-1")],
        )
        .await;
    assert_eq!(again.status, 200, "the same key finds the same run");
    assert_eq!(again.body["id"], run_id.as_str());

    let items = server
        .admin_get(&format!("/v1/payout-runs/{run_id}/items"))
        .await;
    let items = items.body["items"].as_array().expect("items").clone();
    let eu = item(&items, "eu");
    assert_eq!(
        (
            eu["currency"].as_str(),
            eu["gross"].as_str(),
            eu["net"].as_str()
        ),
        (Some("EUR"), Some("13.50"), Some("13.50"))
    );
    assert_eq!(eu["method"], "sepa");
    assert_eq!(
        eu["destination"]["iban"]
            .as_str()
            .map(|s| s.ends_with("3000")),
        Some(true)
    );
    assert!(
        !eu.to_string().contains("DE89370400440532013000"),
        "no full IBAN in an answer: {eu}"
    );
    let us = item(&items, "us");
    assert_eq!(
        (
            us["gross"].as_str(),
            us["withholding"].as_str(),
            us["fee"].as_str(),
            us["net"].as_str()
        ),
        (Some("45.00"), Some("10.80"), Some("1.00"), Some("33.20")),
        "24 % backup withholding, and the fee below 50 USD"
    );
    assert_eq!(us["withholding_rule"]["situation"], "w9_no_tin");
    let pp = item(&items, "pp");
    assert_eq!(
        (
            pp["withholding"].as_str(),
            pp["fee"].as_str(),
            pp["net"].as_str()
        ),
        (Some("0.00"), Some("1.00"), Some("14.00"))
    );
    let nf = item(&items, "nf");
    assert_eq!(nf["status"], "held");
    assert_eq!(nf["hold_reason"], "no tax form on file");
    let notices = server
        .admin_get("/v1/programs/p/notices?partner_id=nf")
        .await;
    assert_eq!(
        notices.body["items"][0]["kind"], "tax_form.required",
        "{}",
        notices.body
    );
    // The dry run showed what the run wrote.
    for p in ["eu", "us", "pp", "nf"] {
        for field in ["gross", "withholding", "fee", "net", "status"] {
            assert_eq!(
                item(&preview, p)[field],
                item(&items, p)[field],
                "{p} {field}"
            );
        }
    }

    // Export needs approval first.
    let early = server
        .call(
            Method::POST,
            &format!("/v1/payout-runs/{run_id}/export"),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    early.assert_problem(409, "conflict", "export of a draft");
    server
        .admin(
            Method::POST,
            &format!("/v1/payout-runs/{run_id}/approve"),
            json!(null),
        )
        .await;
    let export_path = format!("/v1/payout-runs/{run_id}/export");
    let export = || {
        server.call_with(
            Method::POST,
            &export_path,
            Some(ADMIN_KEY),
            None,
            &[("Idempotency-Key", "export-1")],
        )
    };
    let first = export().await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    // A retry under the same key answers the first answer, not "exported already".
    let retried = export().await;
    assert_eq!(
        (retried.status, &retried.body),
        (StatusCode::OK, &first.body),
        "retried export"
    );
    let files = first.body["items"].as_array().expect("files").clone();
    let names: Vec<&str> = files.iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(names.len(), 3, "SEPA, NACHA, PayPal: {names:?}");

    let sepa = files.iter().find(|f| f["format"] == "sepa").expect("sepa");
    let download = server
        .admin_get(&format!(
            "/v1/payout-runs/{run_id}/files/{}",
            sepa["name"].as_str().unwrap_or_default()
        ))
        .await;
    assert!(download.content_type.starts_with("application/xml"));
    let xml = download.body.as_str().expect("xml text").to_owned();
    let (valid, said) = xmllint_pain001(xml.as_bytes());
    assert!(valid, "xmllint: {said}\n{xml}");
    assert!(
        xml.contains("<Nm>Jurgen Muller</Nm>"),
        "transliterated to the EPC set: {xml}"
    );
    assert!(
        xml.contains("<InstdAmt Ccy=\"EUR\">13.50</InstdAmt>"),
        "{xml}"
    );

    let ach = files
        .iter()
        .find(|f| f["format"] == "nacha")
        .expect("nacha");
    let download = server
        .admin_get(&format!(
            "/v1/payout-runs/{run_id}/files/{}",
            ach["name"].as_str().unwrap_or_default()
        ))
        .await;
    let text = download.body.as_str().expect("nacha text").to_owned();
    let read = achkit(&text);
    assert_eq!(read["ok"], true, "achkit: {read}");
    assert_eq!(read["entry_amounts_cents"], json!([3320]), "{read}");
    assert_eq!(read["sec_codes"], json!(["PPD"]));
    // Hand-computed controls: the one entry's routing number's first 8 digits is the
    // entry hash; the credit total is the net in cents.
    assert_eq!(read["batch_entry_hashes"], json!(["0002100002"]), "{read}");
    assert_eq!(read["batch_credit_totals"], json!([3320]));
    assert!(text.lines().all(|l| l.len() == 94));
    assert_eq!(text.lines().count() % 10, 0, "blocked to 10");

    let paypal = files
        .iter()
        .find(|f| f["format"] == "paypal")
        .expect("paypal");
    let download = server
        .admin_get(&format!(
            "/v1/payout-runs/{run_id}/files/{}",
            paypal["name"].as_str().unwrap_or_default()
        ))
        .await;
    let csv = download.body.as_str().expect("csv").to_owned();
    assert!(csv.starts_with("payouts@acme.example,14.00,USD,"), "{csv}");

    // The bank accepts the SEPA payment (pain.002), the ACH one is confirmed by hand and
    // then returned (R03), PayPal's fails.
    let pain002 = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
 <CstmrPmtStsRpt>
  <GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2026-11-30T10:00:00</CreDtTm></GrpHdr>
  <OrgnlGrpInfAndSts><OrgnlMsgId>{run_id}-S</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>
  <OrgnlPmtInfAndSts><OrgnlPmtInfId>X</OrgnlPmtInfId>
   <TxInfAndSts><OrgnlEndToEndId>{}</OrgnlEndToEndId><TxSts>ACSC</TxSts></TxInfAndSts>
  </OrgnlPmtInfAndSts>
 </CstmrPmtStsRpt>
</Document>"#,
        eu["id"].as_str().unwrap_or_default()
    );
    let fb = server
        .admin(
            Method::POST,
            &format!("/v1/payout-runs/{run_id}/feedback"),
            json!({"format": "pain.002", "content": pain002}),
        )
        .await;
    assert_eq!(fb["applied"], json!([eu["id"]]), "{fb}");
    let us_id = us["id"].as_str().unwrap_or_default();
    server
        .admin(
            Method::POST,
            &format!("/v1/payout-runs/{run_id}/items/{us_id}/outcome"),
            json!({"outcome": "paid", "reason": "bank statement"}),
        )
        .await;
    let returns = format!("return_code,individual_id\nR03,{us_id}\n");
    let fb = server
        .admin(
            Method::POST,
            &format!("/v1/payout-runs/{run_id}/feedback"),
            json!({"format": "nacha-returns", "content": returns}),
        )
        .await;
    assert_eq!(fb["applied"], json!([us_id]), "{fb}");
    let pp_id = pp["id"].as_str().unwrap_or_default();
    server
        .admin(
            Method::POST,
            &format!("/v1/payout-runs/{run_id}/items/{pp_id}/outcome"),
            json!({"outcome": "failed", "reason": "PayPal: receiver unregistered"}),
        )
        .await;
    let run = server.admin_get(&format!("/v1/payout-runs/{run_id}")).await;
    assert_eq!(run.body["status"], "completed", "{}", run.body);

    // Balances: eu paid; us returned (payable again, nothing withheld); pp failed.
    let eu_b = server.admin_get("/v1/partners/eu/balance").await.body;
    assert_eq!(
        (
            eu_b["balances"][0]["paid"].as_str(),
            eu_b["balances"][0]["payable"].as_str()
        ),
        (Some("13.50"), Some("0.00"))
    );
    let us_b = server.admin_get("/v1/partners/us/balance").await.body;
    assert_eq!(
        (
            us_b["balances"][0]["payable"].as_str(),
            us_b["balances"][0]["paid"].as_str(),
            us_b["balances"][0]["withheld"].as_str()
        ),
        (Some("45.00"), Some("0.00"), Some("0.00")),
        "{us_b}"
    );
    let pp_b = server.admin_get("/v1/partners/pp/balance").await.body;
    assert_eq!(pp_b["balances"][0]["payable"], "15.00", "{pp_b}");

    // A remittance statement lists the entries an item pays.
    let statement = server
        .admin_get(&format!(
            "/v1/payout-items/{}/remittance",
            eu["id"].as_str().unwrap_or_default()
        ))
        .await;
    let statement = statement.body.as_str().expect("csv").to_owned();
    assert!(statement.contains("o1-eu"), "{statement}");

    // A partner sees its own payouts only, and never another's bank details.
    let key = server
        .admin(
            Method::POST,
            "/v1/api-keys",
            json!({"scope": "partner", "partner_id": "pp", "label": "pp"}),
        )
        .await;
    let pp_key = key["key"].as_str().expect("secret").to_owned();
    let own = server
        .call(Method::GET, "/v1/partners/pp/payouts", Some(&pp_key), None)
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["items"][0]["partner_id"], "pp");
    for path in [
        "/v1/partners/eu/payouts",
        "/v1/partners/eu/payout-method",
        "/v1/partners/eu/tax-profile",
    ] {
        let other = server.call(Method::GET, path, Some(&pp_key), None).await;
        other.assert_problem(404, "not-found", path);
    }
    let other = server
        .call(
            Method::GET,
            &format!(
                "/v1/payout-items/{}/remittance",
                eu["id"].as_str().unwrap_or_default()
            ),
            Some(&pp_key),
            None,
        )
        .await;
    other.assert_problem(404, "not-found", "another partner's statement");
    let runs = server
        .call(Method::GET, "/v1/payout-runs", Some(&pp_key), None)
        .await;
    runs.assert_problem(403, "forbidden", "runs are for admins");

    // Bad schedules are refused with their problem type.
    let bad = server
        .call(
            Method::PUT,
            "/v1/programs/p/payout-schedule",
            Some(ADMIN_KEY),
            Some(json!({"frequency": "monthly", "day": 3,
                        "currencies": {"USD": {"minimum": "5.00", "fee_below": "50.00", "fee": "6.00"}}})),
        )
        .await;
    bad.assert_problem(422, "payout-schedule-invalid", "a fee above the minimum");
    let bad = server
        .call(
            Method::PUT,
            "/v1/programs/p/payout-schedule",
            Some(ADMIN_KEY),
            Some(json!({"frequency": "monthly", "day": 31})),
        )
        .await;
    bad.assert_problem(422, "payout-schedule-invalid", "day 31");

    // Year-end data: a 1042-S line only where tax was withheld (none stands: the return
    // undid it), and no 1099-NEC line below the $2,000 threshold.
    let nec = server
        .admin_get("/v1/programs/p/tax-reports/2026?form=1099-nec")
        .await;
    assert_eq!(
        nec.body.as_str().map(|s| s.lines().count()),
        Some(1),
        "{}",
        nec.body
    );
    let invariants = accrue::store::Store::connect(&db.url, 2)
        .await
        .expect("store");
    assert_eq!(
        invariants.check_payout_invariants().await.expect("check"),
        Vec::<String>::new()
    );
    assert_eq!(
        invariants.check_invariants().await.expect("check"),
        Vec::<String>::new()
    );
}
