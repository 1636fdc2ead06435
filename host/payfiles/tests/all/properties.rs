//! Property tests: for random items, the control figures each format writes are the
//! sums and counts of what went in, and transliterated text stays in its character set.

use super::fixtures::{ach_method, date, item, sepa_method};
use accrue_payfiles::accounts::AccountType;
use accrue_payfiles::text;
use accrue_payfiles::{Item, PartyKind, nacha, sepa};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Valid SEPA IBANs to draw from (the check digits must be right, so no random ones).
const IBANS: &[&str] = &[
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
    "ES9121000418450200051332",
    "NL91ABNA0417164300",
    "AT611904300234573201",
];

fn cents_to_decimal(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

/// A valid ABA routing number from 8 digits and the 3-7-1 check digit.
fn routing(first8: u32) -> String {
    let digits: Vec<u32> = format!("{first8:08}")
        .chars()
        .map(|c| c.to_digit(10).expect("a digit"))
        .collect();
    let weighted: u32 = digits
        .iter()
        .zip([3, 7, 1, 3, 7, 1, 3, 7])
        .map(|(d, w)| d * w)
        .sum();
    format!("{first8:08}{}", (10 - weighted % 10) % 10)
}

fn sepa_items(amounts: &[i64], names: &[String], days: &[u32]) -> Vec<Item> {
    amounts
        .iter()
        .enumerate()
        .map(|(n, cents)| {
            let mut it = item(
                &format!("E2E-{n}"),
                &format!("Payee {}", names[n % names.len()]),
                sepa_method(IBANS[n % IBANS.len()], None),
                "1",
                "EUR",
            );
            it.amount = cents_to_decimal(*cents);
            it.execution_date = Some(date(2026, 12, days[n % days.len()]));
            it
        })
        .collect()
}

fn find<'a, 'input>(node: roxmltree::Node<'a, 'input>, name: &str) -> roxmltree::Node<'a, 'input> {
    node.children()
        .find(|n| n.tag_name().name() == name)
        .expect("the element")
}

/// The text of every `<name>` element, in order (the writer's own layout: one element a
/// line).
fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    xml.lines()
        .map(str::trim)
        .filter(|l| l.starts_with(&open))
        .map(|l| {
            &l[l.find('>').expect("an element start") + 1..l.rfind("</").expect("an element end")]
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sepa_control_figures_are_the_sums_and_counts(
        amounts in prop::collection::vec(1_i64..=99_999_999_999, 1..40),
        names in prop::collection::vec("\\PC{1,60}", 1..5),
        days in prop::collection::vec(1_u32..=28, 1..4),
    ) {
        let mut batch = super::fixtures::sepa_batch();
        batch.items = sepa_items(&amounts, &names, &days);
        let xml = String::from_utf8(sepa::write(&batch).unwrap()).unwrap();
        let expected: Decimal = amounts.iter().map(|c| cents_to_decimal(*c)).sum();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = find(doc.root_element(), "CstmrCdtTrfInitn");
        let header = find(root, "GrpHdr");
        prop_assert_eq!(find(header, "NbOfTxs").text().unwrap(), amounts.len().to_string());
        prop_assert_eq!(find(header, "CtrlSum").text().unwrap(), expected.to_string());
        let mut groups = 0;
        for group in root.children().filter(|n| n.tag_name().name() == "PmtInf") {
            groups += 1;
            let amounts: Vec<Decimal> = group
                .descendants()
                .filter(|n| n.tag_name().name() == "InstdAmt")
                .map(|n| n.text().unwrap().parse().unwrap())
                .collect();
            prop_assert_eq!(
                find(group, "NbOfTxs").text().unwrap(),
                amounts.len().to_string()
            );
            prop_assert_eq!(
                find(group, "CtrlSum").text().unwrap(),
                amounts.iter().copied().sum::<Decimal>().to_string()
            );
        }
        let mut distinct_days = days.clone();
        distinct_days.truncate(amounts.len());
        distinct_days.sort_unstable();
        distinct_days.dedup();
        prop_assert_eq!(groups, distinct_days.len());
        for name in elements(&xml, "Nm") {
            prop_assert!(!name.is_empty() && name.chars().count() <= 140);
            prop_assert!(name.chars().all(text::is_epc), "{}", name);
        }
    }

    #[test]
    fn nacha_control_figures_are_the_sums_and_counts(
        entries in prop::collection::vec(
            (1_i64..=9_999_999_999, 0_u32..100_000_000, any::<bool>(), any::<bool>()),
            1..60,
        ),
    ) {
        let mut file = super::fixtures::nacha_file();
        file.items = entries
            .iter()
            .enumerate()
            .map(|(n, (cents, rdfi, savings, company))| {
                let account_type = if *savings { AccountType::Savings } else { AccountType::Checking };
                let mut it = item(&format!("ID-{n}"), "Payee", ach_method(&routing(*rdfi), "12345678", account_type), "1", "USD");
                it.amount = cents_to_decimal(*cents);
                it.kind = if *company { PartyKind::Company } else { PartyKind::Individual };
                it
            })
            .collect();
        let total_cents: i64 = entries.iter().map(|e| e.0).sum();
        let file_total = file.items.iter().map(|i| i.amount).sum::<Decimal>();
        prop_assume!(file_total <= Decimal::new(999_999_999_999, 2));
        let written = nacha::write(&file).unwrap();
        let records: Vec<&str> = written.text.lines().collect();
        prop_assert!(records.iter().all(|r| r.len() == nacha::RECORD_LEN));
        prop_assert_eq!(records.len() % nacha::BLOCKING_FACTOR, 0);
        let control = records.iter().find(|r| r.starts_with('9') && !r.starts_with("99")).unwrap();
        prop_assert_eq!(&control[13..21], format!("{:08}", entries.len()));
        prop_assert_eq!(&control[43..55], format!("{total_cents:012}"));
        let hash: u64 = entries.iter().map(|e| u64::from(e.1)).sum::<u64>() % 10_000_000_000;
        prop_assert_eq!(&control[21..31], format!("{hash:010}"));
        prop_assert_eq!(&control[7..13], format!("{:06}", records.len() / 10));
        let batch_totals: i64 = records
            .iter()
            .filter(|r| r.starts_with('8'))
            .map(|r| r[32..44].parse::<i64>().unwrap())
            .sum();
        prop_assert_eq!(batch_totals, total_cents);
        let entry_total: i64 = records
            .iter()
            .filter(|r| r.starts_with('6'))
            .map(|r| r[29..39].parse::<i64>().unwrap())
            .sum();
        prop_assert_eq!(entry_total, total_cents);
        prop_assert_eq!(written.trace_numbers.len(), entries.len());
    }

    #[test]
    fn transliteration_stays_in_the_epc_set(input in "\\PC*", max in 1_usize..200) {
        let out = text::epc(&input, max);
        prop_assert!(out.chars().all(text::is_epc), "{:?} -> {:?}", input, out);
        prop_assert!(out.chars().count() <= max);
        prop_assert_eq!(out.trim(), out.as_str());
    }

    #[test]
    fn nacha_text_stays_upper_case_ascii(input in "\\PC*", max in 1_usize..30) {
        let out = text::nacha(&input, max);
        prop_assert!(out.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{:?}", out);
        prop_assert!(!out.chars().any(|c| c.is_ascii_lowercase()));
        prop_assert!(out.chars().count() <= max);
    }

    #[test]
    fn masks_show_four_characters_at_most(input in "\\PC{0,40}") {
        let masked = accrue_payfiles::mask(&input);
        prop_assert!(masked.starts_with("••••"));
        prop_assert!(masked.chars().count() <= 8);
    }
}
