//! Every writer's refusals, each with its kind; and the providers' row limits, which
//! split a batch into several files.

use super::fixtures::{self, ach_method, dec, item, sepa_method, wire_method};
use accrue_payfiles::accounts::{AccountType, WiseRecipient};
use accrue_payfiles::{Item, Method, WriteError, csv, nacha, sepa};

fn sepa_kind(edit: impl FnOnce(&mut sepa::Batch)) -> &'static str {
    let mut batch = fixtures::sepa_batch();
    edit(&mut batch);
    sepa::write(&batch).expect_err("a refusal").kind()
}

fn nacha_kind(edit: impl FnOnce(&mut nacha::File)) -> &'static str {
    let mut file = fixtures::nacha_file();
    edit(&mut file);
    nacha::write(&file).expect_err("a refusal").kind()
}

fn paypal_method() -> Method {
    Method::PayPal {
        email: "ana@example.com".to_owned(),
    }
}

#[test]
fn sepa_refusals() {
    assert_eq!(sepa_kind(|b| b.items.clear()), "batch-empty");
    assert_eq!(
        sepa_kind(|b| b.message_id = "run 1".into()),
        "invalid-input"
    );
    assert_eq!(
        sepa_kind(|b| b.message_id = "M".repeat(36)),
        "invalid-input"
    );
    assert_eq!(sepa_kind(|b| b.debtor.name = "  ".into()), "invalid-input");
    // A non-EUR item by SEPA.
    assert_eq!(
        sepa_kind(|b| b.items[0].currency = "USD".into()),
        "currency-not-supported-by-method"
    );
    assert_eq!(
        sepa_kind(|b| b.items[0].method = paypal_method()),
        "method-not-allowed"
    );
    assert_eq!(
        sepa_kind(|b| b.items[1].id = b.items[0].id.clone()),
        "duplicate-item-id"
    );
    assert_eq!(
        sepa_kind(|b| b.items[0].id = "X".repeat(36)),
        "invalid-input"
    );
    assert_eq!(
        sepa_kind(|b| b.items[0].id = "a//b".into()),
        "invalid-input"
    );
    assert_eq!(
        sepa_kind(|b| b.items[0].name = "&&&".into()),
        "invalid-input"
    );
    // Over the SEPA rulebook's 999,999,999.99.
    assert_eq!(
        sepa_kind(|b| b.items[0].amount = dec("1000000000.00")),
        "amount-too-large"
    );
    // A wire may carry more, up to the schema's 18 digits.
    assert_eq!(
        sepa_kind(|b| b.items[4].amount = dec("10000000000000000.00")),
        "amount-too-large"
    );
    assert_eq!(
        sepa_kind(|b| b.items[0].amount = dec("1.001")),
        "amount-too-precise"
    );
    assert_eq!(
        sepa_kind(|b| b.items[0].amount = dec("0")),
        "amount-not-positive"
    );
    assert_eq!(
        sepa_kind(|b| b.items[0].amount = dec("-5")),
        "amount-not-positive"
    );
    assert_eq!(
        sepa_kind(|b| {
            b.items[4].currency = "XYZ".into();
            b.items[4].method = wire_method("000123456789", "CHASUS33", "US", "XYZ");
        }),
        "currency-invalid"
    );
    assert_eq!(
        sepa_kind(|b| b.items[0].method = sepa_method("ES9121000418450200051333", None)),
        "iban-checksum"
    );
    assert_eq!(
        sepa_kind(|b| b.items[4].method = wire_method("000123456789", "CHAS", "US", "USD")),
        "bic-invalid"
    );
    assert_eq!(
        sepa_kind(|b| b.debtor.iban = "DE89370400440532013001".into()),
        "iban-checksum"
    );
    assert_eq!(
        sepa_kind(|b| b.debtor.bic = Some("BYLA".into())),
        "bic-invalid"
    );
    // A Turkish debtor account cannot send SEPA payments.
    assert_eq!(
        sepa_kind(|b| b.debtor.iban = "TR330006100519786457841326".into()),
        "iban-country-not-sepa"
    );
}

#[test]
fn nacha_refusals() {
    assert_eq!(nacha_kind(|f| f.items.clear()), "batch-empty");
    // A non-USD item.
    assert_eq!(
        nacha_kind(|f| f.items[0].currency = "EUR".into()),
        "currency-not-allowed"
    );
    assert_eq!(
        nacha_kind(|f| f.items[0].method = sepa_method("DE89370400440532013000", None)),
        "method-not-allowed"
    );
    // Over the entry's 10-digit amount field.
    assert_eq!(
        nacha_kind(|f| f.items[0].amount = dec("100000000.00")),
        "amount-too-large"
    );
    // 101 entries at the entry maximum overflow a batch's 12-digit total.
    assert_eq!(
        nacha_kind(|f| {
            let template = f.items[0].clone();
            f.items = (0..101)
                .map(|n| Item {
                    id: format!("MAX-{n}"),
                    amount: dec("99999999.99"),
                    ..template.clone()
                })
                .collect();
        }),
        "amount-too-large"
    );
    assert_eq!(
        nacha_kind(|f| f.items[0].amount = dec("0.001")),
        "amount-too-precise"
    );
    assert_eq!(
        nacha_kind(|f| f.items[0].id = "pay-1".into()),
        "invalid-input"
    );
    assert_eq!(
        nacha_kind(|f| f.items[0].id = "P".repeat(16)),
        "invalid-input"
    );
    assert_eq!(
        nacha_kind(|f| f.items[1].id = f.items[0].id.clone()),
        "duplicate-item-id"
    );
    assert_eq!(
        nacha_kind(
            |f| f.items[0].method = ach_method("021000022", "123456789", AccountType::Checking)
        ),
        "aba-routing-checksum"
    );
    assert_eq!(
        nacha_kind(|f| f.items[0].method = ach_method("021000021", "12", AccountType::Checking)),
        "account-number-invalid"
    );
    assert_eq!(
        nacha_kind(|f| f.immediate_destination = "02100002".into()),
        "aba-routing-invalid"
    );
    assert_eq!(
        nacha_kind(|f| f.immediate_origin = "12345".into()),
        "invalid-input"
    );
    assert_eq!(nacha_kind(|f| f.file_id_modifier = '*'), "invalid-input");
    assert_eq!(nacha_kind(|f| f.company_name = "".into()), "invalid-input");
    assert_eq!(
        nacha_kind(|f| f.company_id = "12345678901".into()),
        "invalid-input"
    );
    assert_eq!(
        nacha_kind(|f| f.entry_description = "   ".into()),
        "invalid-input"
    );
    assert_eq!(
        nacha_kind(|f| f.odfi_routing = "021000022".into()),
        "aba-routing-checksum"
    );
}

#[test]
fn paypal_refusals() {
    let kind = |edit: fn(&mut Item)| {
        let mut items = fixtures::paypal_items();
        edit(&mut items[0]);
        csv::paypal(&items).unwrap_err().kind()
    };
    assert_eq!(csv::paypal(&[]).unwrap_err().kind(), "batch-empty");
    assert_eq!(
        kind(|i| i.method = Method::Wise {
            recipient: WiseRecipient::Id("1".into())
        }),
        "method-not-allowed"
    );
    assert_eq!(
        kind(|i| i.currency = "INR".into()),
        "currency-not-supported-by-method"
    );
    assert_eq!(
        kind(|i| {
            i.currency = "HUF".into();
            i.amount = dec("10.50");
        }),
        "amount-too-precise"
    );
    assert_eq!(
        kind(|i| i.method = Method::PayPal {
            email: "-x@example.com".into()
        }),
        "invalid-input"
    );
    assert_eq!(
        kind(|i| i.method = Method::PayPal {
            email: "nope".into()
        }),
        "email-invalid"
    );
    assert_eq!(kind(|i| i.id = "=1+1".into()), "invalid-input");
    assert_eq!(kind(|i| i.id = "+PP".into()), "invalid-input");
    assert_eq!(kind(|i| i.id = "PP-0002".into()), "duplicate-item-id");
}

#[test]
fn wise_refusals() {
    let kind = |edit: fn(&mut Item)| {
        let mut items = fixtures::wise_items();
        edit(&mut items[0]);
        csv::wise(&items, "USD").unwrap_err().kind()
    };
    assert_eq!(
        csv::wise(&fixtures::wise_items(), "DOLLARS")
            .unwrap_err()
            .kind(),
        "invalid-input"
    );
    assert_eq!(csv::wise(&[], "USD").unwrap_err().kind(), "batch-empty");
    assert_eq!(
        kind(|i| i.method = Method::Wise {
            recipient: WiseRecipient::Id("abc".into())
        }),
        "wise-recipient-invalid"
    );
    assert_eq!(kind(|i| i.method = paypal_method()), "method-not-allowed");
    assert_eq!(kind(|i| i.name = " ".into()), "invalid-input");
    assert_eq!(kind(|i| i.id = "W-0002".into()), "duplicate-item-id");
    assert_eq!(kind(|i| i.amount = dec("1.001")), "amount-too-precise");
}

#[test]
fn errors_name_the_item_and_mask_accounts() {
    let mut batch = fixtures::sepa_batch();
    batch.items[0].method = sepa_method("ES9121000418450200051333", None);
    let err = sepa::write(&batch).unwrap_err();
    assert!(matches!(err, WriteError::Account { .. }));
    let message = err.to_string();
    assert!(message.contains("PAY-2026-11-0001"), "{message}");
    assert!(message.contains("••••1333"), "{message}");
    assert!(!message.contains("2100 0418"), "{message}");
}

#[test]
fn paypal_splits_at_5000_rows_per_currency() {
    let items: Vec<Item> = (0..5001)
        .map(|n| item(&format!("P{n}"), "A", paypal_method(), "1", "USD"))
        .collect();
    let files = csv::paypal(&items).unwrap();
    let shape: Vec<(usize, usize)> = files.iter().map(|f| (f.part, f.item_ids.len())).collect();
    assert_eq!(shape, [(1, csv::PAYPAL_ROWS_MAX), (2, 1)]);
    let lines = |f: &csv::CsvFile| {
        f.content
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    };
    assert_eq!(lines(&files[0]), 5000);
    assert_eq!(files[1].item_ids, ["P5000"]);
}

#[test]
fn wise_splits_at_1000_rows() {
    let wise = Method::Wise {
        recipient: WiseRecipient::Email("a@example.com".into()),
    };
    let items: Vec<Item> = (0..2001)
        .map(|n| item(&format!("W{n}"), "A", wise.clone(), "1", "EUR"))
        .collect();
    let files = csv::wise(&items, "EUR").unwrap();
    let shape: Vec<(usize, usize)> = files.iter().map(|f| (f.part, f.item_ids.len())).collect();
    assert_eq!(shape, [(1, 1000), (2, 1000), (3, 1)]);
    // Every part carries the header.
    for file in &files {
        assert!(file.content.starts_with(b"name,recipientEmail,"));
    }
}
