//! Bank feedback samples read into per-item outcomes.

use accrue_payfiles::feedback::{
    ItemKey, ItemOutcome, Outcome, parse_nacha_returns, parse_pain002,
};
use std::path::PathBuf;

fn sample(name: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/samples")
            .join(name),
    )
    .expect("the sample")
}

fn outcome(id: &str, outcome: Outcome) -> ItemOutcome {
    ItemOutcome {
        key: ItemKey::EndToEndId(id.to_owned()),
        outcome,
    }
}

fn expected_items() -> Vec<ItemOutcome> {
    vec![
        outcome(
            "PAY-2026-11-0001",
            Outcome::Accepted {
                status: "ACSC".into(),
            },
        ),
        outcome(
            "PAY-2026-11-0002",
            Outcome::Rejected {
                reason: Some("AC04".into()),
                detail: Some("Account closed & archived".into()),
            },
        ),
        // No TxSts of its own: its group's ACTC (technically accepted, not yet paid).
        outcome(
            "PAY-2026-11-0004",
            Outcome::Pending {
                status: "ACTC".into(),
            },
        ),
        outcome(
            "PAY-2026-11-0005",
            Outcome::Accepted {
                status: "ACCP".into(),
            },
        ),
        outcome(
            "PAY-2026-11-0003",
            Outcome::Rejected {
                reason: Some("X123".into()),
                detail: None,
            },
        ),
    ]
}

#[test]
fn pain_002_001_10_gives_each_end_to_end_id_its_outcome() {
    let report = parse_pain002(&sample("pain.002.001.10.xml")).unwrap();
    assert_eq!(report.message_id, "STS-20261201-0001");
    assert_eq!(report.original_message_id, "ACCRUE-RUN-2026-11-01");
    assert_eq!(
        report.group,
        Some(Outcome::Pending {
            status: "PART".into()
        })
    );
    let groups: Vec<&str> = report
        .payment_groups
        .iter()
        .map(|g| g.original_payment_information_id.as_str())
        .collect();
    assert_eq!(
        groups,
        ["ACCRUE-RUN-2026-11-01-1", "ACCRUE-RUN-2026-11-01-2"]
    );
    assert_eq!(report.items, expected_items());
}

#[test]
fn versions_03_09_and_12_read_the_same() {
    let sample = sample("pain.002.001.10.xml");
    for version in ["03", "09", "12"] {
        let document = sample.replace("pain.002.001.10", &format!("pain.002.001.{version}"));
        assert_eq!(
            parse_pain002(&document).unwrap().items,
            expected_items(),
            "{version}"
        );
    }
    let unknown = sample.replace("pain.002.001.10", "pain.002.001.99");
    assert_eq!(
        parse_pain002(&unknown).unwrap_err().kind(),
        "message-unsupported"
    );
}

#[test]
fn nacha_returns_name_items_by_trace_or_id() {
    let outcomes = parse_nacha_returns(&sample("nacha-returns.csv")).unwrap();
    // The trace number is the one tests/golden/nacha.traces.csv gave PAY-0002.
    assert_eq!(
        outcomes,
        vec![
            ItemOutcome {
                key: ItemKey::TraceNumber("021000020000002".into()),
                outcome: Outcome::Returned {
                    code: "R03".into(),
                    meaning: "No account, or unable to locate the account",
                },
            },
            ItemOutcome {
                key: ItemKey::IndividualId("PAY-0004".into()),
                outcome: Outcome::Returned {
                    code: "R02".into(),
                    meaning: "Account closed",
                },
            },
        ]
    );
}
