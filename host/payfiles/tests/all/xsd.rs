//! The SEPA XML against the official ISO 20022 schema, with `xmllint` (Debian package
//! `libxml2-utils`). These tests fail, never skip, when `xmllint` is missing: a schema
//! check that silently does not run is worse than none.

use super::fixtures::{self, dec, item, sepa_method, wire_method};
use accrue_payfiles::{PartyKind, sepa};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn crate_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs `xmllint --noout --schema <xsd> -` on `document`; returns whether it validated
/// and what xmllint said.
pub fn xmllint(xsd: &str, document: &[u8]) -> (bool, String) {
    let mut child = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(crate_path(xsd))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run xmllint ({e}): install it (Debian/Ubuntu: apt-get install -y \
                 libxml2-utils); this test does not skip without it"
            )
        });
    child
        .stdin
        .take()
        .expect("xmllint stdin")
        .write_all(document)
        .expect("xmllint stdin");
    let output = child.wait_with_output().expect("xmllint output");
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), said)
}

fn assert_valid(xsd: &str, document: &[u8]) {
    let (valid, said) = xmllint(xsd, document);
    assert!(
        valid,
        "xmllint rejected the document:\n{said}\n{}",
        String::from_utf8_lossy(document)
    );
}

#[test]
fn the_fixed_batch_is_valid_pain_001_001_09() {
    let xml = sepa::write(&fixtures::sepa_batch()).unwrap();
    assert_valid("tests/xsd/pain.001.001.09.xsd", &xml);
}

#[test]
fn the_schema_check_bites() {
    // A control: the same document with a payment method the schema does not allow.
    let xml = String::from_utf8(sepa::write(&fixtures::sepa_batch()).unwrap()).unwrap();
    let broken = xml.replacen("<PmtMtd>TRF</PmtMtd>", "<PmtMtd>XXX</PmtMtd>", 1);
    let (valid, said) = xmllint("tests/xsd/pain.001.001.09.xsd", broken.as_bytes());
    assert!(!valid, "xmllint accepted an invalid PmtMtd");
    assert!(said.contains("PmtMtd"), "{said}");
}

#[test]
fn limits_and_hostile_text_stay_valid() {
    // Names and remittance lines from every script, 35-character ids, the largest SEPA
    // amount, a JPY wire without decimals, a BIC-less debtor.
    let hostile = "Ωμέγα <&> \"quoted\" 'single' Łukasz 東京 Ñandú ß € 🎉 \u{0}\u{7}\t\n";
    let mut items = Vec::new();
    for (n, text) in [hostile, "/slash/", "", "   "].iter().enumerate() {
        let mut sepa = item(
            &format!("{:0>35}", n),
            &format!("{text} name"),
            sepa_method("DE89370400440532013000", None),
            "999999999.99",
            "EUR",
        );
        sepa.reference = text.repeat(20);
        items.push(sepa);
    }
    let mut yen = item(
        "JPY-1",
        hostile,
        wire_method("1234567", "MHCBJPJT", "JP", "JPY"),
        "123456789",
        "JPY",
    );
    yen.kind = PartyKind::Company;
    yen.amount = dec("123456789");
    items.push(yen);
    let batch = sepa::Batch {
        message_id: "M".repeat(35),
        debtor: sepa::Party {
            bic: None,
            ..fixtures::sepa_batch().debtor
        },
        items,
        ..fixtures::sepa_batch()
    };
    let xml = sepa::write(&batch).unwrap();
    assert_valid("tests/xsd/pain.001.001.09.xsd", &xml);
    let text = String::from_utf8(xml).unwrap();
    assert!(text.contains("<Id>NOTPROVIDED</Id>"), "{text}");
}

#[test]
fn the_pain_002_sample_is_valid_in_versions_03_and_12() {
    // No PyPI package ships pain.002.001.10.xsd; the sample's elements are named the
    // same in .03 and .12, so it is checked against both (tests/xsd/README.md).
    let sample = std::fs::read_to_string(crate_path("tests/samples/pain.002.001.10.xml")).unwrap();
    for version in ["03", "12"] {
        let document = sample.replace("pain.002.001.10", &format!("pain.002.001.{version}"));
        assert_valid(
            &format!("tests/xsd/pain.002.001.{version}.xsd"),
            document.as_bytes(),
        );
    }
}
