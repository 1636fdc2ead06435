//! Payout methods, tax profiles and withholding rules (issue 11): each bad one refused with
//! its own kind, secrets sealed at rest and shown masked, partners confined to their own.

use super::{Fixture, T0};
use crate::domain::payout::{Situation, TaxForm, WithholdingRule, withholding_rate};
use crate::engine::{
    EngineError, NewPayoutMethod, NewTaxProfile, NewWithholdingRule, Scope, Sealer,
};
use accrue_payfiles::Method;
use accrue_payfiles::accounts::{AccountType, WiseRecipient};
use accrue_plugin_sdk::decimal::dec;
use sqlx::Row;

const KEY: [u8; 32] = [42; 32];

fn sepa(partner: &str, iban: &str) -> NewPayoutMethod {
    NewPayoutMethod {
        partner_id: partner.into(),
        method: Method::Sepa {
            iban: iban.into(),
            bic: None,
        },
        holder_name: "Ana Lopez".into(),
        party_kind: "individual".into(),
    }
}

fn with(method: Method, partner: &str) -> NewPayoutMethod {
    NewPayoutMethod {
        method,
        ..sepa(partner, "")
    }
}

fn ach(routing: &str, account: &str) -> Method {
    Method::Ach {
        routing: routing.into(),
        account: account.into(),
        account_type: AccountType::Checking,
    }
}

fn w9(partner: &str, tin: Option<&str>) -> NewTaxProfile {
    NewTaxProfile {
        partner_id: partner.into(),
        form: "w9".into(),
        legal_name: "Bo Smith".into(),
        tin: tin.map(Into::into),
        country: "US".into(),
        treaty_rate: None,
    }
}

/// A program with partners `eu` (EUR) and `us` (USD), and an engine holding the key.
async fn setup(f: &mut Fixture) {
    f.program("p", "linear", serde_json::json!({})).await;
    f.partner("eu", "p", "starter", "EUR").await;
    f.partner("us", "p", "starter", "USD").await;
    f.engine = f.engine.clone().with_secrets(Sealer::new(&KEY));
}

fn kind(r: Result<impl std::fmt::Debug, EngineError>) -> &'static str {
    r.expect_err("refused").kind()
}

pub(super) async fn payout_methods_are_checked_sealed_and_masked(mut f: Fixture) {
    setup(&mut f).await;
    let e = f.engine.clone();
    let admin = Scope::Admin;
    // Each bad destination with its own kind.
    let cases: Vec<(NewPayoutMethod, &str)> = vec![
        (sepa("eu", "DE89370400440532013001"), "iban-checksum"),
        (sepa("eu", "DE5137040044053201300"), "iban-country-length"),
        (
            sepa("eu", "TR330006100519786457841326"),
            "iban-country-not-sepa",
        ),
        (sepa("eu", "not an iban"), "iban-invalid"),
        (
            sepa("us", "DE89370400440532013000"),
            "currency-not-supported-by-method",
        ),
        (
            with(ach("021000022", "123456789"), "us"),
            "aba-routing-checksum",
        ),
        (
            with(ach("02100002", "123456789"), "us"),
            "aba-routing-invalid",
        ),
        (with(ach("021000021", "12"), "us"), "account-number-invalid"),
        (
            with(ach("021000021", "123456789"), "eu"),
            "currency-not-supported-by-method",
        ),
        (
            with(
                Method::PayPal {
                    email: "ana@example".into(),
                },
                "us",
            ),
            "email-invalid",
        ),
        (
            with(
                Method::Wise {
                    recipient: WiseRecipient::Id("abc".into()),
                },
                "us",
            ),
            "wise-recipient-invalid",
        ),
        (
            with(
                Method::Wire {
                    iban_or_account: "12345678".into(),
                    bic: "CHASUS33".into(),
                    bank_country: "CA".into(),
                    currency: "USD".into(),
                },
                "us",
            ),
            "bic-country-mismatch",
        ),
        (
            NewPayoutMethod {
                holder_name: " ".into(),
                ..sepa("eu", "DE89370400440532013000")
            },
            "holder-name-invalid",
        ),
        (
            NewPayoutMethod {
                holder_name: "Ana\u{7}".into(),
                ..sepa("eu", "DE89370400440532013000")
            },
            "holder-name-invalid",
        ),
        (
            NewPayoutMethod {
                party_kind: "robot".into(),
                ..sepa("eu", "DE89370400440532013000")
            },
            "party-kind-invalid",
        ),
    ];
    for (input, expected) in cases {
        let r = e.set_payout_method(&admin, &input).await;
        assert_eq!(kind(r), expected, "{input:?}");
    }
    assert!(
        e.store().payout_method("eu").await.expect("read").is_none(),
        "nothing stored by refusals"
    );

    // A good one: normalised, stored sealed, answered masked.
    let view = e
        .set_payout_method(&admin, &sepa("eu", "de89 3704 0044 0532 0130 00"))
        .await
        .expect("sepa");
    assert_eq!(
        view.masked,
        Method::Sepa {
            iban: "••••3000".into(),
            bic: None
        }
    );
    let read = e.payout_method(&admin, "eu").await.expect("read");
    assert_eq!(read.masked, view.masked);
    assert_eq!(read.holder_name, "Ana Lopez");
    let raw =
        sqlx::query("SELECT sealed, masked, key_id FROM payout_methods WHERE partner_id = 'eu'")
            .fetch_one(e.store().pool())
            .await
            .expect("raw row");
    let sealed: String = raw.get("sealed");
    let masked: String = raw.get("masked");
    for text in [&sealed, &masked] {
        assert!(
            !text.contains("DE89") && !text.contains("370400440532"),
            "{text}"
        );
    }
    assert_eq!(raw.get::<String, _>("key_id"), Sealer::new(&KEY).key_id());
    // The lead's payout runs read the rows and open them.
    let rows = e.store().payout_method_rows("p").await.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        e.open_destination("eu", &rows[0].sealed)
            .await
            .expect("open"),
        Method::Sepa {
            iban: "DE89370400440532013000".into(),
            bic: None
        }
    );
    // Sealed for `eu`: it does not open as another partner's, nor under another key.
    assert_eq!(
        kind(e.open_destination("us", &rows[0].sealed).await),
        "internal"
    );
    let other_key = e.clone().with_secrets(Sealer::new(&[1; 32]));
    assert_eq!(
        kind(other_key.open_destination("eu", &rows[0].sealed).await),
        "internal"
    );
    // ACH, PayPal and Wise masks.
    let ach = e
        .set_payout_method(&admin, &with(ach("021000021", "123456789"), "us"))
        .await
        .expect("ach");
    assert_eq!(
        ach.masked,
        Method::Ach {
            routing: "021000021".into(),
            account: "••••6789".into(),
            account_type: AccountType::Checking
        }
    );
    let paypal = e
        .set_payout_method(
            &admin,
            &with(
                Method::PayPal {
                    email: "bo.smith@Example.com".into(),
                },
                "us",
            ),
        )
        .await
        .expect("paypal");
    assert_eq!(
        paypal.masked,
        Method::PayPal {
            email: "••••@example.com".into()
        }
    );
    assert_eq!(e.store().count_payout_methods().await.expect("count"), 2);
    // Without a key nothing can be sealed, and the answer says so; reading the mask works.
    let keyless = crate::engine::Engine::new(e.store().clone(), super::runtime());
    assert_eq!(
        kind(
            keyless
                .set_payout_method(&admin, &sepa("eu", "DE89370400440532013000"))
                .await
        ),
        "secrets-key-missing"
    );
    assert!(keyless.payout_method(&admin, "eu").await.is_ok());
    // Delete, then it is gone.
    e.delete_payout_method(&admin, "us").await.expect("delete");
    assert_eq!(kind(e.payout_method(&admin, "us").await), "not-found");
    assert_eq!(
        kind(e.delete_payout_method(&admin, "us").await),
        "not-found"
    );
    f.finish().await;
}

pub(super) async fn partners_reach_only_their_own_profiles(mut f: Fixture) {
    setup(&mut f).await;
    let e = f.engine.clone();
    let eu = Scope::Partner("eu".into());
    e.set_payout_method(&eu, &sepa("eu", "DE89370400440532013000"))
        .await
        .expect("own method");
    e.set_payout_method(&Scope::Admin, &with(ach("021000021", "123456789"), "us"))
        .await
        .expect("us method");
    assert!(e.payout_method(&eu, "eu").await.is_ok());
    // Another partner's: worded exactly like a partner that does not exist.
    let other = e.payout_method(&eu, "us").await.expect_err("other");
    let missing = e
        .payout_method(&Scope::Admin, "nobody")
        .await
        .expect_err("missing");
    assert_eq!((other.kind(), missing.kind()), ("not-found", "not-found"));
    assert_eq!(
        other.to_string().replace("\"us\"", "\"nobody\""),
        missing.to_string()
    );
    assert_eq!(
        kind(
            e.set_payout_method(&eu, &with(ach("021000021", "123456789"), "us"))
                .await
        ),
        "not-found"
    );
    assert_eq!(kind(e.delete_payout_method(&eu, "us").await), "not-found");
    assert_eq!(kind(e.tax_profile(&eu, "us").await), "not-found");
    assert_eq!(
        kind(e.set_tax_profile(&eu, &w9("us", None)).await),
        "not-found"
    );
    let author = Scope::PluginAuthor("p".into());
    assert_eq!(kind(e.payout_method(&author, "eu").await), "forbidden");
    // Untouched by the attempts.
    let us = e.payout_method(&Scope::Admin, "us").await.expect("us");
    assert_eq!(us.masked.name(), "ach");
    // Withholding rules: admins add; a partner reads its own program's only.
    let rule = NewWithholdingRule {
        program_id: "p".into(),
        situation: "w8".into(),
        country: "IN".into(),
        effective_from_ms: T0,
        rate: dec("0.15"),
    };
    assert_eq!(kind(e.add_withholding_rule(&eu, &rule).await), "forbidden");
    e.add_withholding_rule(&Scope::Admin, &rule)
        .await
        .expect("rule");
    assert_eq!(e.withholding_rules(&eu, "p").await.expect("own").len(), 1);
    f.program("q", "linear", serde_json::json!({})).await;
    assert_eq!(kind(e.withholding_rules(&eu, "q").await), "not-found");
    assert_eq!(kind(e.withholding_rules(&author, "p").await), "forbidden");
    f.finish().await;
}

pub(super) async fn tax_profiles_and_withholding_rules_are_checked(mut f: Fixture) {
    setup(&mut f).await;
    let e = f.engine.clone();
    let admin = Scope::Admin;
    let w8 = |country: &str, treaty: Option<&str>| NewTaxProfile {
        partner_id: "eu".into(),
        form: "w8ben".into(),
        legal_name: "Ana Lopez".into(),
        tin: Some("DE 123/456".into()),
        country: country.into(),
        treaty_rate: treaty.map(dec),
    };
    let cases: Vec<(NewTaxProfile, &str)> = vec![
        (
            NewTaxProfile {
                form: "w7".into(),
                ..w9("us", None)
            },
            "tax-form-invalid",
        ),
        (
            NewTaxProfile {
                legal_name: "".into(),
                ..w9("us", None)
            },
            "legal-name-invalid",
        ),
        (w9("us", Some("12345678")), "tin-invalid"),
        (w9("us", Some("12-34-56-789x")), "tin-invalid"),
        (
            NewTaxProfile {
                country: "DE".into(),
                ..w9("us", None)
            },
            "tax-country-invalid",
        ),
        (w8("US", None), "tax-country-invalid"),
        (w8("ZZ", None), "tax-country-invalid"),
        (w8("DE", Some("1.5")), "treaty-rate-invalid"),
        (
            NewTaxProfile {
                treaty_rate: Some(dec("0.1")),
                ..w9("us", None)
            },
            "treaty-rate-invalid",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            kind(e.set_tax_profile(&admin, &input).await),
            expected,
            "{input:?}"
        );
    }
    // A W-9 with a TIN: sealed, masked, facts for withholding.
    let view = e
        .set_tax_profile(&admin, &w9("us", Some("123-45-6789")))
        .await
        .expect("w9");
    assert!(view.tin_on_file);
    assert_eq!(view.tin_masked.as_deref(), Some("••••6789"));
    let raw: Option<String> =
        sqlx::query("SELECT tin_sealed FROM tax_profiles WHERE partner_id = 'us'")
            .fetch_one(e.store().pool())
            .await
            .expect("raw")
            .get("tin_sealed");
    let raw = raw.expect("sealed TIN");
    assert!(!raw.contains("123456789") && !raw.contains("6789"), "{raw}");
    let w8_view = e
        .set_tax_profile(&admin, &w8("de", Some("0.05")))
        .await
        .expect("w8");
    assert_eq!(
        (w8_view.country.as_str(), w8_view.form),
        ("DE", TaxForm::W8ben)
    );
    assert_eq!(
        e.tax_profile(&admin, "eu").await.expect("read").treaty_rate,
        Some(dec("0.05"))
    );
    let facts = e.store().tax_facts("p").await.expect("facts");
    assert_eq!(facts.len(), 2);
    assert!(facts["us"].tin_on_file && facts["us"].form == TaxForm::W9);
    assert_eq!(facts["eu"].treaty_rate, Some(dec("0.05")));
    // Withholding rules: each bad one its own kind; the same key twice is a conflict.
    let rule = |situation: &str, country: &str, rate: &str| NewWithholdingRule {
        program_id: "p".into(),
        situation: situation.into(),
        country: country.into(),
        effective_from_ms: T0,
        rate: dec(rate),
    };
    for (input, expected) in [
        (rule("w10", "", "0.1"), "withholding-situation-invalid"),
        (rule("w9_tin", "DE", "0.1"), "withholding-country-invalid"),
        (rule("w8", "ZZ", "0.1"), "withholding-country-invalid"),
        (rule("w8", "DE", "1.01"), "withholding-rate-invalid"),
    ] {
        assert_eq!(
            kind(e.add_withholding_rule(&admin, &input).await),
            expected,
            "{input:?}"
        );
    }
    let missing = NewWithholdingRule {
        program_id: "nope".into(),
        ..rule("w8", "", "0.3")
    };
    assert_eq!(
        kind(e.add_withholding_rule(&admin, &missing).await),
        "not-found"
    );
    e.add_withholding_rule(&admin, &rule("w8", "", "0.30"))
        .await
        .expect("any country");
    e.add_withholding_rule(&admin, &rule("w8", "de", "0.10"))
        .await
        .expect("Germany");
    e.add_withholding_rule(&admin, &rule("w9_no_tin", "", "0.24"))
        .await
        .expect("backup");
    assert_eq!(
        kind(
            e.add_withholding_rule(&admin, &rule("w8", "DE", "0.12"))
                .await
        ),
        "conflict"
    );
    // The same rule again is a retry, answered as the first time.
    e.add_withholding_rule(&admin, &rule("w8", "DE", "0.10"))
        .await
        .expect("the same rule again");
    let rules = e.store().withholding_rules("p").await.expect("rules");
    assert_eq!(
        rules,
        vec![
            WithholdingRule {
                situation: Situation::W8,
                country: String::new(),
                effective_from_ms: T0,
                rate: dec("0.3"),
            },
            WithholdingRule {
                situation: Situation::W8,
                country: "DE".into(),
                effective_from_ms: T0,
                rate: dec("0.1"),
            },
            WithholdingRule {
                situation: Situation::W9NoTin,
                country: String::new(),
                effective_from_ms: T0,
                rate: dec("0.24"),
            },
        ]
    );
    // What a payout run will compute from them: Germany's rule, lowered by the treaty.
    let applied = withholding_rate(&rules, &facts["eu"], T0 + 1);
    assert_eq!(
        (applied.rate, applied.source.as_str()),
        (dec("0.05"), "treaty")
    );
    e.delete_tax_profile(&admin, "eu").await.expect("delete");
    assert_eq!(kind(e.tax_profile(&admin, "eu").await), "not-found");
    f.finish().await;
}
