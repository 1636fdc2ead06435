//! The NACHA file read back by an independent parser: the PyPI package `achkit`
//! (0.2.0), which parses a file and reconciles its control records, run through
//! `tests/nacha_check.py` in the Python virtualenv at `$ACCRUE_VENV` (default: the
//! repository's `.venv`, which `tests/run.sh` makes from `tests/requirements.txt`). The test fails, never
//! skips, when the virtualenv or achkit is missing.

use super::fixtures;
use accrue_payfiles::nacha;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn achkit(text: &str) -> serde_json::Value {
    // The repository's own virtualenv unless told otherwise (`tests/run.sh` makes it).
    let venv = std::env::var("ACCRUE_VENV")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv").to_owned());
    let python = PathBuf::from(&venv).join("bin/python");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/nacha_check.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): create the virtualenv with `python3 -m venv {venv} && \
                 {venv}/bin/pip install achkit==0.2.0`, or set ACCRUE_VENV; this test does \
                 not skip without it",
                python.display()
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("writing to nacha_check.py");
    let output = child.wait_with_output().expect("achkit output");
    assert!(
        output.status.success(),
        "tests/nacha_check.py failed (is achkit==0.2.0 installed in {venv}?):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from nacha_check.py")
}

#[test]
fn achkit_reads_back_what_was_written() {
    let file = fixtures::nacha_file();
    let written = nacha::write(&file).unwrap();
    let report = achkit(&written.text);
    assert_eq!(report["achkit_version"], "0.2.0");
    assert_eq!(
        report["ok"], true,
        "achkit found errors: {}",
        report["errors"]
    );
    assert_eq!(report["records"], 20);
    assert_eq!(report["record_lengths"], serde_json::json!([94]));
    assert_eq!(report["batch_count"], 3);
    assert_eq!(
        report["sec_codes"],
        serde_json::json!(["PPD", "CCD", "PPD"])
    );
    assert_eq!(report["entry_count"], 4);
    assert_eq!(
        report["entry_amounts_cents"],
        serde_json::json!([15000, 123456, 250000, 1])
    );
    assert_eq!(
        report["transaction_codes"],
        serde_json::json!([22, 32, 22, 22])
    );
    assert_eq!(
        report["entry_ids"],
        serde_json::json!(["PAY-0001", "PAY-0002", "PAY-0003", "PAY-0004"])
    );
    let traces: Vec<&str> = written
        .trace_numbers
        .iter()
        .map(|t| t.trace_number.as_str())
        .collect();
    assert_eq!(report["trace_numbers"], serde_json::json!(traces));
    // The same totals the unit tests compute by hand.
    assert_eq!(report["file_control"]["total_credit"], 388_457);
    assert_eq!(report["file_control"]["total_debit"], 0);
    assert_eq!(report["file_control"]["entry_hash"], "0036527166");
    assert_eq!(report["file_control"]["block_count"], 2);
    assert_eq!(report["file_control"]["entry_addenda_count"], 4);
}

#[test]
fn achkit_catches_a_tampered_file() {
    // A control: raise the first entry's amount by one cent without touching the
    // control records; achkit must notice, or the test above proves nothing.
    let written = nacha::write(&fixtures::nacha_file()).unwrap();
    let tampered = written
        .text
        .replacen("0000015000PAY-0001", "0000015001PAY-0001", 1);
    assert_ne!(tampered, written.text);
    let report = achkit(&tampered);
    assert_eq!(report["ok"], false);
    let codes: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["code"].as_str())
        .collect();
    assert!(codes.contains(&"BAD_BATCH_CREDIT"), "{codes:?}");
    assert!(codes.contains(&"BAD_FILE_CREDIT"), "{codes:?}");
}
