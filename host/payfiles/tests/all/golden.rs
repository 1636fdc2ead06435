//! Golden files: each format written from a fixed input and compared byte for byte with
//! `tests/golden/`. After a deliberate change of output, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test -p accrue-payfiles --test all golden` and review the diff.

use super::fixtures;
use accrue_payfiles::{csv, nacha, sepa};
use std::path::PathBuf;

pub fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with the golden file `name`, or rewrites it under `UPDATE_GOLDEN=1`.
pub fn check(name: &str, actual: &[u8]) {
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("writing the golden file");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let (expected, actual) = (
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(actual),
        );
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .map_or(expected.lines().count().min(actual.lines().count()), |l| l);
        panic!(
            "{name} differs from the golden file at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             (UPDATE_GOLDEN=1 rewrites the golden files after a deliberate change)",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}

#[test]
fn sepa_pain001() {
    let xml = sepa::write(&fixtures::sepa_batch()).unwrap();
    check("sepa.pain.001.001.09.xml", &xml);
    // Same input, same bytes.
    assert_eq!(xml, sepa::write(&fixtures::sepa_batch()).unwrap());
}

#[test]
fn nacha_file() {
    let written = nacha::write(&fixtures::nacha_file()).unwrap();
    check("nacha.ach", written.text.as_bytes());
    let traces: String = written
        .trace_numbers
        .iter()
        .map(|t| format!("{},{}\n", t.item_id, t.trace_number))
        .collect();
    check("nacha.traces.csv", traces.as_bytes());
    assert_eq!(written, nacha::write(&fixtures::nacha_file()).unwrap());
}

#[test]
fn paypal_csv() {
    let files = csv::paypal(&fixtures::paypal_items()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| format!("{}-{}-{}.csv", f.template, f.currency, f.part))
        .collect();
    assert_eq!(
        names,
        ["paypal-EUR-1.csv", "paypal-HUF-1.csv", "paypal-USD-1.csv"]
    );
    for (file, name) in files.iter().zip(&names) {
        check(name, &file.content);
    }
}

#[test]
fn wise_csv() {
    let files = csv::wise(&fixtures::wise_items(), "USD").unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| format!("{}-{}-{}.csv", f.template, f.currency, f.part))
        .collect();
    assert_eq!(
        names,
        ["wise-email-USD-1.csv", "wise-recipient-id-USD-1.csv"]
    );
    for (file, name) in files.iter().zip(&names) {
        check(name, &file.content);
    }
}
