//! Fixed inputs, one per format, shared by the golden, XSD and parser tests.

use accrue_payfiles::accounts::{AccountType, WiseRecipient};
use accrue_payfiles::{Item, Method, PartyKind, nacha, sepa};
use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("a decimal literal")
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// An item with the fields a test cares about; the rest plain.
pub fn item(id: &str, name: &str, method: Method, amount: &str, currency: &str) -> Item {
    Item {
        id: id.to_owned(),
        name: name.to_owned(),
        kind: PartyKind::Individual,
        method,
        amount: dec(amount),
        currency: currency.to_owned(),
        reference: format!("Commission {id}"),
        execution_date: None,
    }
}

pub fn sepa_method(iban: &str, bic: Option<&str>) -> Method {
    Method::Sepa {
        iban: iban.to_owned(),
        bic: bic.map(str::to_owned),
    }
}

pub fn wire_method(account: &str, bic: &str, country: &str, currency: &str) -> Method {
    Method::Wire {
        iban_or_account: account.to_owned(),
        bic: bic.to_owned(),
        bank_country: country.to_owned(),
        currency: currency.to_owned(),
    }
}

pub fn ach_method(routing: &str, account: &str, account_type: AccountType) -> Method {
    Method::Ach {
        routing: routing.to_owned(),
        account: account.to_owned(),
        account_type,
    }
}

/// A SEPA batch with what transliteration and grouping must handle: accents, `ß`, `&`,
/// a remittance over 140 characters, an item on another execution date, an IBAN typed
/// with spaces and lower case, a BIC and none; and two international wires (USD to an
/// account number, GBP to an IBAN) in the same message.
pub fn sepa_batch() -> sepa::Batch {
    let mut later = item(
        "PAY-2026-11-0003",
        "Zoë Ærenskjöld",
        sepa_method("fr14 2004 1010 0505 0001 3m02 606", None),
        "0.01",
        "EUR",
    );
    later.execution_date = Some(date(2026, 12, 4));
    let mut long_reference = item(
        "PAY-2026-11-0002",
        "Müller & Söhne GmbH",
        sepa_method("DE89370400440532013000", Some("COBADEFFXXX")),
        "1234.5",
        "EUR",
    );
    long_reference.kind = PartyKind::Company;
    long_reference.reference = format!("Provision November 2026 – Straße {}", "x".repeat(150));
    let mut company_wire = item(
        "PAY-2026-11-0005",
        "Acme Widgets, Inc.",
        wire_method("000123456789", "CHASUS33", "US", "USD"),
        "2500",
        "USD",
    );
    company_wire.kind = PartyKind::Company;
    sepa::Batch {
        message_id: "ACCRUE-RUN-2026-11-01".to_owned(),
        created_at: Utc.with_ymd_and_hms(2026, 11, 30, 9, 15, 0).unwrap(),
        execution_date: date(2026, 12, 1),
        debtor: sepa::Party {
            name: "Accrue Demo GmbH".to_owned(),
            iban: "DE02120300000000202051".to_owned(),
            bic: Some("BYLADEM1001".to_owned()),
        },
        items: vec![
            item(
                "PAY-2026-11-0001",
                "José Núñez",
                sepa_method("ES91 2100 0418 4502 0005 1332", None),
                "150.00",
                "EUR",
            ),
            long_reference,
            later,
            item(
                "PAY-2026-11-0004",
                "Ørsted O'Brien",
                wire_method("GB29NWBK60161331926819", "NWBKGB2L", "GB", "GBP"),
                "99.99",
                "GBP",
            ),
            company_wire,
        ],
    }
}

/// A NACHA file: individuals (checking and savings) and a company, on two effective
/// dates, so it has three batches.
pub fn nacha_file() -> nacha::File {
    let mut company = item(
        "PAY-0003",
        "Acme Widgets, Inc.",
        ach_method("322271627", "000111222333", AccountType::Checking),
        "2500.00",
        "USD",
    );
    company.kind = PartyKind::Company;
    let mut later = item(
        "PAY-0004",
        "Ana López",
        ach_method("011000015", "44556677", AccountType::Checking),
        "0.01",
        "USD",
    );
    later.execution_date = Some(date(2026, 12, 4));
    nacha::File {
        immediate_destination: "021000021".to_owned(),
        immediate_destination_name: "JPMorgan Chase".to_owned(),
        immediate_origin: "1123456789".to_owned(),
        immediate_origin_name: "Accrue Demo Inc".to_owned(),
        created_at: date(2026, 11, 30)
            .and_hms_opt(9, 15, 0)
            .expect("created_at"),
        file_id_modifier: 'A',
        reference_code: "RUN1101".to_owned(),
        company_name: "Accrue Demo".to_owned(),
        company_id: "1123456789".to_owned(),
        odfi_routing: "021000021".to_owned(),
        entry_description: "PAYOUT".to_owned(),
        effective_date: date(2026, 12, 1),
        items: vec![
            item(
                "PAY-0001",
                "Jane Q. Public",
                ach_method("021000021", "123456789", AccountType::Checking),
                "150.00",
                "USD",
            ),
            item(
                "PAY-0002",
                "Björn Ångström",
                ach_method("011000015", "9876543210", AccountType::Savings),
                "1234.56",
                "USD",
            ),
            company,
            later,
        ],
    }
}

/// PayPal items in two currencies, one HUF (whole units at PayPal), with notes that
/// need quoting and escaping.
pub fn paypal_items() -> Vec<Item> {
    let paypal = |email: &str| Method::PayPal {
        email: email.to_owned(),
    };
    let mut formula = item("PP-0002", "Eve", paypal("eve@example.org"), "20", "USD");
    formula.reference = "=HYPERLINK(\"http://evil\")".to_owned();
    let mut comma = item("PP-0003", "Ana", paypal("Ana@Example.COM"), "5.5", "EUR");
    comma.reference = "Thanks, Ana".to_owned();
    vec![
        item("PP-0001", "Bob", paypal("bob@example.com"), "100.50", "USD"),
        formula,
        comma,
        item(
            "PP-0004",
            "Ferenc",
            paypal("ferenc@example.hu"),
            "12000",
            "HUF",
        ),
    ]
}

/// Wise items: by e-mail and by saved recipient id, person and company.
pub fn wise_items() -> Vec<Item> {
    let wise = |recipient: WiseRecipient| Method::Wise { recipient };
    let mut company = item(
        "W-0002",
        "Tanaka Shoji K.K.",
        wise(WiseRecipient::Id("40000123".to_owned())),
        "15000",
        "JPY",
    );
    company.kind = PartyKind::Company;
    let mut plus = item(
        "W-0003",
        "+Plus Ltd",
        wise(WiseRecipient::Email("ops@plus.example".to_owned())),
        "80.00",
        "GBP",
    );
    plus.reference = "-5% bonus, Q4".to_owned();
    vec![
        item(
            "W-0001",
            "Priya Sharma",
            wise(WiseRecipient::Email("priya@example.in".to_owned())),
            "4500.75",
            "INR",
        ),
        company,
        plus,
    ]
}
