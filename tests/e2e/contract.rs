//! The API contract, checked from outside: schemathesis (in the virtualenv `tests/run.sh`
//! makes) generates requests from the served OpenAPI document, valid and invalid, and runs
//! every check against a live service on PostgreSQL: no 5xx, every answer matching its
//! documented schema, status and content type, schema-valid requests accepted and
//! schema-violating ones refused. The exceptions (rules the document cannot express) are
//! listed by name in `tests/contract/schemathesis.toml`.

use crate::support::{ADMIN_KEY, Server, conversion, postgres};
use reqwest::Method;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

/// Examples per operation and phase: enough to reach every operation's rules, bounded so
/// the test takes about a minute.
const MAX_EXAMPLES: &str = "20";
/// A fixed seed, so a failure reproduces.
const SEED: &str = "20261129";

fn schemathesis() -> PathBuf {
    let venv = std::env::var("ACCRUE_VENV")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv").to_owned());
    let path = PathBuf::from(venv).join("bin/schemathesis");
    assert!(
        path.exists(),
        "schemathesis is not installed at {}: run `bash tests/run.sh` (it makes the \
         virtualenv from tests/requirements.txt)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_keeps_its_openapi_contract() {
    let tool = schemathesis();
    let db = postgres().await;
    let s = Server::start(
        &db.url,
        &[("ACCRUE_SECRETS_KEY", crate::support::SECRETS_KEY)],
    )
    .await;
    // The data the document's examples name ("shop", "order-1001"), so that generated
    // requests also reach the rules past "not found".
    s.program("shop", "USD", "linear").await;
    s.partner("alice", "shop", json!({})).await;
    s.partner("bob", "shop", json!({"tier": "professional"}))
        .await;
    s.admin(
        Method::POST,
        "/v1/conversions",
        conversion(
            "shop",
            "order-1001",
            "129.90",
            &[("alice", "email", "2026-03-09T12:00:00Z")],
        ),
    )
    .await;
    let contract = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/contract"));
    let work = std::env::temp_dir().join(format!("accrue-contract-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    let output = Command::new(tool)
        .current_dir(&work)
        .env("ACCRUE_CONTRACT_KEY", ADMIN_KEY)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &contract)
        .arg("--config-file")
        .arg(contract.join("schemathesis.toml"))
        .args(["run", &format!("{}/openapi.json", s.base)])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED, "--no-color"])
        .output()
        .expect("run schemathesis");
    let _ = std::fs::remove_dir_all(&work);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found contract failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!report.contains("Failures:"), "{report}");
    // "Operations: N selected / N total": every operation of the document was tested.
    let counts: Vec<&str> = report
        .lines()
        .find(|l| l.contains("selected /"))
        .map(|l| {
            l.split_whitespace()
                .filter(|w| w.parse::<u32>().is_ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        counts.len() == 2 && counts[0] == counts[1],
        "every operation tested: {report}"
    );
    drop(s);
    db.drop_db().await;
}
