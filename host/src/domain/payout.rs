//! Payouts as pure rules: schedules and their periods, per-currency thresholds and fees,
//! tax situations and effective-dated withholding rates, and the netting of a partner's
//! payable entries into one payment. The engine gathers the facts and stores what these
//! functions decide.

use super::money::Currency;
use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The payout methods a partner can choose (the `payfiles` crate validates their details).
pub const METHODS: [&str; 5] = ["sepa", "ach", "wire", "paypal", "wise"];

/// How often a program pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "frequency", rename_all = "snake_case")]
pub enum Frequency {
    /// Every week on `weekday` (1 = Monday … 7 = Sunday, ISO 8601).
    Weekly {
        /// ISO weekday, 1..=7.
        weekday: u32,
    },
    /// Every month on `day` (1..=28, so that every month has it).
    Monthly {
        /// Day of the month, 1..=28.
        day: u32,
    },
}

impl Frequency {
    /// The stored `(frequency, day)` pair.
    pub fn stored(self) -> (&'static str, i64) {
        match self {
            Self::Weekly { weekday } => ("weekly", i64::from(weekday)),
            Self::Monthly { day } => ("monthly", i64::from(day)),
        }
    }

    /// From the stored pair, if valid.
    pub fn from_stored(frequency: &str, day: i64) -> Option<Self> {
        let day = u32::try_from(day).ok()?;
        let f = match frequency {
            "weekly" => Self::Weekly { weekday: day },
            "monthly" => Self::Monthly { day },
            _ => return None,
        };
        f.is_valid().then_some(f)
    }

    /// Whether the day is in range.
    pub fn is_valid(self) -> bool {
        match self {
            Self::Weekly { weekday } => (1..=7).contains(&weekday),
            Self::Monthly { day } => (1..=28).contains(&day),
        }
    }

    /// The latest pay day (00:00 UTC) at or before `now_ms`, as ms.
    pub fn last_occurrence(self, now_ms: i64) -> Option<i64> {
        let now = DateTime::<Utc>::from_timestamp_millis(now_ms)?.date_naive();
        let date = match self {
            Self::Weekly { weekday } => {
                let today = now.weekday().number_from_monday();
                let back = (today + 7 - weekday) % 7;
                now.checked_sub_days(Days::new(u64::from(back)))?
            }
            Self::Monthly { day } => {
                let this_month = NaiveDate::from_ymd_opt(now.year(), now.month(), day)?;
                if this_month <= now {
                    this_month
                } else {
                    let (y, m) = if now.month() == 1 {
                        (now.year() - 1, 12)
                    } else {
                        (now.year(), now.month() - 1)
                    };
                    NaiveDate::from_ymd_opt(y, m, day)?
                }
            }
        };
        Some(
            Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?)
                .timestamp_millis(),
        )
    }
}

/// What a program applies to payments in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyRule {
    /// Below this net balance nothing is paid: it carries over to the next run.
    #[serde(with = "rust_decimal::serde::str")]
    pub minimum: Decimal,
    /// A payment whose gross is below this pays `fee` (none when zero).
    #[serde(with = "rust_decimal::serde::str", default)]
    pub fee_below: Decimal,
    /// The fee charged below `fee_below`.
    #[serde(with = "rust_decimal::serde::str", default)]
    pub fee: Decimal,
}

/// A program's payout settings besides the calendar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Per currency; a currency not listed uses `default_minimum`, no fee.
    #[serde(default)]
    pub currencies: BTreeMap<String, CurrencyRule>,
    /// The minimum for currencies not listed.
    #[serde(with = "rust_decimal::serde::str", default)]
    pub default_minimum: Decimal,
    /// Methods this program pays with; empty = all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// A run whose total in a currency is above this amount (in that currency) needs a
    /// second admin's approval; a currency not listed needs one.
    #[serde(default)]
    pub second_approval_above: BTreeMap<String, String>,
    /// Who pays: the accounts the payment files debit. Needed to export a run.
    #[serde(default)]
    pub payer: Option<Payer>,
    /// The 1099-NEC reporting threshold in USD, if the program sets its own (default:
    /// [`nec_threshold`] of the year).
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub nec_threshold: Option<Decimal>,
}

/// The paying side of the payment files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// The company's name as its bank knows it.
    pub name: String,
    /// The account SEPA transfers and wires are debited from (an IBAN).
    #[serde(default)]
    pub iban: Option<String>,
    /// That bank's BIC.
    #[serde(default)]
    pub bic: Option<String>,
    /// NACHA origination details, for ACH files.
    #[serde(default)]
    pub ach: Option<AchOrigin>,
    /// The currency a Wise batch is funded in (default: each file's currency).
    #[serde(default)]
    pub wise_source_currency: Option<String>,
}

/// What a NACHA file header and batch headers need from the originator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AchOrigin {
    /// Routing number of the bank the file goes to.
    pub immediate_destination: String,
    /// That bank's name.
    pub immediate_destination_name: String,
    /// The sender as the bank assigned it (routing number or 10 characters).
    pub immediate_origin: String,
    /// The sender's name.
    pub immediate_origin_name: String,
    /// Company name shown to payees.
    pub company_name: String,
    /// Company identification (often `1` and the EIN).
    pub company_id: String,
    /// The originating bank's routing number.
    pub odfi_routing: String,
    /// Entry description shown to payees (`PAYOUT`).
    pub entry_description: String,
}

impl Settings {
    /// The rule for `currency`.
    pub fn rule(&self, currency: &str) -> CurrencyRule {
        self.currencies
            .get(currency)
            .cloned()
            .unwrap_or_else(|| CurrencyRule {
                minimum: self.default_minimum,
                ..CurrencyRule::default()
            })
    }

    /// Whether `method` may be used.
    pub fn allows(&self, method: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m == method)
    }

    /// Problems with these settings, or none.
    pub fn check(&self) -> Result<(), String> {
        for m in &self.methods {
            if !METHODS.contains(&m.as_str()) {
                return Err(format!("unknown payout method {m:?}: one of {METHODS:?}"));
            }
        }
        for (code, r) in &self.currencies {
            let c = Currency::parse_current(code).map_err(|e| e.to_string())?;
            for (name, v) in [
                ("minimum", r.minimum),
                ("fee_below", r.fee_below),
                ("fee", r.fee),
            ] {
                if v.is_sign_negative() || v.scale() > c.minor_units() || v > c.max_amount() {
                    return Err(format!(
                        "currencies.{code}.{name}: {v} is not an amount of {code} (at least zero, at most {} decimals)",
                        c.minor_units()
                    ));
                }
            }
            if r.fee > Decimal::ZERO && r.fee >= r.minimum {
                return Err(format!(
                    "currencies.{code}.fee: a fee ({}) must be below the minimum payout ({}), or a payment could be eaten by it",
                    r.fee, r.minimum
                ));
            }
        }
        if let Some(p) = &self.payer {
            if p.name.trim().is_empty() {
                return Err("payer.name is required".into());
            }
            if let Some(iban) = &p.iban {
                accrue_payfiles::accounts::validate_iban(iban)
                    .map_err(|e| format!("payer.iban: {e}"))?;
            }
            if let Some(bic) = &p.bic {
                accrue_payfiles::accounts::validate_bic(bic)
                    .map_err(|e| format!("payer.bic: {e}"))?;
            }
            if let Some(a) = &p.ach {
                for (name, routing) in [
                    ("immediate_destination", &a.immediate_destination),
                    ("odfi_routing", &a.odfi_routing),
                ] {
                    accrue_payfiles::accounts::validate_aba_routing(routing)
                        .map_err(|e| format!("payer.ach.{name}: {e}"))?;
                }
                if a.company_id.is_empty() || a.company_id.len() > 10 {
                    return Err("payer.ach.company_id: 1 to 10 characters".into());
                }
                if a.immediate_origin.is_empty() || a.immediate_origin.len() > 10 {
                    return Err("payer.ach.immediate_origin: 1 to 10 characters".into());
                }
            }
            if let Some(c) = &p.wise_source_currency {
                Currency::parse_current(c)
                    .map_err(|e| format!("payer.wise_source_currency: {e}"))?;
            }
        }
        if self.default_minimum.is_sign_negative() {
            return Err("default_minimum must be at least zero".into());
        }
        for (code, v) in &self.second_approval_above {
            Currency::parse_current(code).map_err(|e| e.to_string())?;
            let ok = v.parse::<Decimal>().is_ok_and(|d| !d.is_sign_negative());
            if !ok {
                return Err(format!(
                    "second_approval_above.{code}: {v:?} is not an amount"
                ));
            }
        }
        Ok(())
    }

    /// How many admins must approve a run with these totals per currency.
    pub fn approvals_required(&self, totals: &BTreeMap<String, Decimal>) -> i64 {
        let above = totals.iter().any(|(code, total)| {
            self.second_approval_above
                .get(code)
                .and_then(|v| v.parse::<Decimal>().ok())
                .is_some_and(|limit| *total > limit)
        });
        if above { 2 } else { 1 }
    }
}

/// A partner's tax form on file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxForm {
    /// W-9: a US person.
    W9,
    /// W-8BEN: a foreign individual.
    W8ben,
    /// W-8BEN-E: a foreign entity.
    #[serde(rename = "w8ben_e")]
    W8benE,
}

impl TaxForm {
    /// Stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::W9 => "w9",
            Self::W8ben => "w8ben",
            Self::W8benE => "w8ben_e",
        }
    }

    /// Parse a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::W9, Self::W8ben, Self::W8benE]
            .into_iter()
            .find(|f| f.as_str() == text)
    }
}

/// What withholding needs to know of a partner's tax profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxFacts {
    /// The form.
    pub form: TaxForm,
    /// Whether a TIN is on file (W-9).
    pub tin_on_file: bool,
    /// The payee's country (ISO 3166 alpha-2).
    pub country: String,
    /// The treaty rate claimed on a W-8, if any.
    pub treaty_rate: Option<Decimal>,
}

/// Which rule applies to a payee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Situation {
    /// W-9 with a TIN.
    W9Tin,
    /// W-9 without a TIN: backup withholding.
    W9NoTin,
    /// W-8BEN or W-8BEN-E.
    W8,
}

impl Situation {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::W9Tin => "w9_tin",
            Self::W9NoTin => "w9_no_tin",
            Self::W8 => "w8",
        }
    }

    /// Parse a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::W9Tin, Self::W9NoTin, Self::W8]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// The rate when a program has no rule: 0 % with a TIN, 24 % backup withholding
    /// without one (IRC 3406), 0 % for a foreign payee (services performed abroad are not
    /// US-source income).
    pub fn default_rate(self) -> Decimal {
        match self {
            Self::W9NoTin => Decimal::new(24, 2),
            Self::W9Tin | Self::W8 => Decimal::ZERO,
        }
    }
}

/// One withholding rate, effective from an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithholdingRule {
    /// Which payees.
    pub situation: Situation,
    /// For W-8 payees, the country it applies to; empty = every country.
    pub country: String,
    /// In force from (ms).
    pub effective_from_ms: i64,
    /// The rate, 0..=1.
    #[serde(with = "rust_decimal::serde::str")]
    pub rate: Decimal,
}

/// The rate chosen for a payee and where it came from: recorded on the withholding entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRule {
    /// The payee's situation.
    pub situation: Situation,
    /// The payee's country.
    pub country: String,
    /// The rate applied.
    #[serde(with = "rust_decimal::serde::str")]
    pub rate: Decimal,
    /// `rule` (a program rule, with its effective date), `default` or `treaty`.
    pub source: String,
    /// The program rule's effective-from (ms), when `source` is `rule`.
    pub effective_from_ms: Option<i64>,
}

/// The withholding rate for `facts` at `at_ms` under `rules`: the newest rule in force for
/// the situation (for W-8, the payee's country before any-country), else the default; a
/// treaty rate claimed on a W-8 lowers it, never raises it.
pub fn withholding_rate(rules: &[WithholdingRule], facts: &TaxFacts, at_ms: i64) -> AppliedRule {
    let situation = match (facts.form, facts.tin_on_file) {
        (TaxForm::W9, true) => Situation::W9Tin,
        (TaxForm::W9, false) => Situation::W9NoTin,
        (TaxForm::W8ben | TaxForm::W8benE, _) => Situation::W8,
    };
    let in_force = |country: &str| {
        rules
            .iter()
            .filter(|r| {
                r.situation == situation && r.country == country && r.effective_from_ms <= at_ms
            })
            .max_by_key(|r| r.effective_from_ms)
    };
    let found = if situation == Situation::W8 {
        in_force(&facts.country).or_else(|| in_force(""))
    } else {
        in_force("")
    };
    let mut applied = match found {
        Some(r) => AppliedRule {
            situation,
            country: facts.country.clone(),
            rate: r.rate,
            source: "rule".into(),
            effective_from_ms: Some(r.effective_from_ms),
        },
        None => AppliedRule {
            situation,
            country: facts.country.clone(),
            rate: situation.default_rate(),
            source: "default".into(),
            effective_from_ms: None,
        },
    };
    if situation == Situation::W8
        && let Some(treaty) = facts.treaty_rate
        && treaty < applied.rate
    {
        applied.rate = treaty;
        applied.source = "treaty".into();
        applied.effective_from_ms = None;
    }
    applied
}

/// What a run does with one partner's balance in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Pay: the amounts of the item.
    Pay(Amounts),
    /// Nothing to pay: the balance carries over (zero or negative, or below the minimum).
    Carry {
        /// Why.
        reason: String,
    },
}

/// One payment's figures; `net = gross - withholding - fee`, each in the currency's minor
/// units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    /// The netted balance paid.
    pub gross: Decimal,
    /// Tax withheld.
    pub withholding: Decimal,
    /// The fee kept.
    pub fee: Decimal,
    /// What the partner receives.
    pub net: Decimal,
}

/// Decides one partner's payment in `currency` from the sum of its payable entries
/// (`balance`, negative entries netted in), the currency's rule and the withholding rate.
///
/// Never pays more than the balance: withholding is the rate times the gross rounded down
/// to the minor unit (the payee is never over-withheld by rounding), the fee is the rule's
/// fee below its threshold and at most what withholding leaves, and the net is what
/// remains; a net of zero carries over rather than sending an empty payment.
pub fn decide(
    balance: Decimal,
    currency: Currency,
    rule: &CurrencyRule,
    rate: Decimal,
) -> Decision {
    let gross = currency.scaled(balance);
    if gross <= Decimal::ZERO {
        return Decision::Carry {
            reason: format!("the balance is {gross} {}", currency.code()),
        };
    }
    if gross < rule.minimum {
        return Decision::Carry {
            reason: format!(
                "the balance of {gross} {c} is below the minimum payout of {} {c}",
                rule.minimum,
                c = currency.code()
            ),
        };
    }
    let rate = rate.clamp(Decimal::ZERO, Decimal::ONE);
    let withholding = currency.scaled((gross * rate).round_dp_with_strategy(
        currency.minor_units(),
        rust_decimal::RoundingStrategy::ToZero,
    ));
    let fee = if rule.fee > Decimal::ZERO && gross < rule.fee_below {
        currency.scaled(rule.fee.min(gross - withholding))
    } else {
        currency.scaled(Decimal::ZERO)
    };
    let net = currency.scaled(gross - withholding - fee);
    if net <= Decimal::ZERO {
        return Decision::Carry {
            reason: "withholding and the fee leave nothing to pay".into(),
        };
    }
    Decision::Pay(Amounts {
        gross,
        withholding,
        fee,
        net,
    })
}

/// The calendar year (UTC) of an instant, for year-end tax data.
pub fn year_bounds_ms(year: i32) -> Option<(i64, i64)> {
    let start = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single()?;
    let end = Utc.with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0).single()?;
    Some((start.timestamp_millis(), end.timestamp_millis()))
}

/// The 1099-NEC reporting threshold for payments made in `year`: $600 before 2026,
/// $2,000 from 2026 (One Big Beautiful Bill Act, section 70433).
pub fn nec_threshold(year: i32) -> Decimal {
    if year >= 2026 {
        Decimal::new(2000, 0)
    } else {
        Decimal::new(600, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("USD")
    }

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn weekly_and_monthly_pay_days() {
        // 2026-11-29 is a Sunday.
        let now = Utc
            .with_ymd_and_hms(2026, 11, 29, 15, 0, 0)
            .unwrap()
            .timestamp_millis();
        let monday = Frequency::Weekly { weekday: 1 }
            .last_occurrence(now)
            .unwrap();
        assert_eq!(
            DateTime::<Utc>::from_timestamp_millis(monday)
                .unwrap()
                .to_rfc3339(),
            "2026-11-23T00:00:00+00:00"
        );
        let sunday = Frequency::Weekly { weekday: 7 }
            .last_occurrence(now)
            .unwrap();
        assert_eq!(
            DateTime::<Utc>::from_timestamp_millis(sunday)
                .unwrap()
                .to_rfc3339(),
            "2026-11-29T00:00:00+00:00"
        );
        let m = Frequency::Monthly { day: 28 }.last_occurrence(now).unwrap();
        assert_eq!(
            DateTime::<Utc>::from_timestamp_millis(m)
                .unwrap()
                .to_rfc3339(),
            "2026-11-28T00:00:00+00:00"
        );
        let jan = Utc
            .with_ymd_and_hms(2027, 1, 3, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        let m = Frequency::Monthly { day: 15 }.last_occurrence(jan).unwrap();
        assert_eq!(
            DateTime::<Utc>::from_timestamp_millis(m)
                .unwrap()
                .to_rfc3339(),
            "2026-12-15T00:00:00+00:00"
        );
        assert!(Frequency::from_stored("monthly", 31).is_none());
        assert!(Frequency::from_stored("weekly", 0).is_none());
    }

    #[test]
    fn default_rates_rules_and_treaties() {
        let w9 = |tin| TaxFacts {
            form: TaxForm::W9,
            tin_on_file: tin,
            country: "US".into(),
            treaty_rate: None,
        };
        assert_eq!(withholding_rate(&[], &w9(true), 0).rate, Decimal::ZERO);
        let backup = withholding_rate(&[], &w9(false), 0);
        assert_eq!(
            (backup.rate, backup.source.as_str()),
            (d("0.24"), "default")
        );
        let rules = vec![
            WithholdingRule {
                situation: Situation::W8,
                country: "IN".into(),
                effective_from_ms: 100,
                rate: d("0.15"),
            },
            WithholdingRule {
                situation: Situation::W8,
                country: "IN".into(),
                effective_from_ms: 200,
                rate: d("0.10"),
            },
            WithholdingRule {
                situation: Situation::W8,
                country: String::new(),
                effective_from_ms: 0,
                rate: d("0.30"),
            },
        ];
        let india = TaxFacts {
            form: TaxForm::W8ben,
            tin_on_file: false,
            country: "IN".into(),
            treaty_rate: None,
        };
        assert_eq!(withholding_rate(&rules, &india, 150).rate, d("0.15"));
        let later = withholding_rate(&rules, &india, 250);
        assert_eq!(
            (later.rate, later.effective_from_ms),
            (d("0.10"), Some(200))
        );
        let fr = TaxFacts {
            country: "FR".into(),
            treaty_rate: Some(d("0.05")),
            ..india.clone()
        };
        let t = withholding_rate(&rules, &fr, 250);
        assert_eq!((t.rate, t.source.as_str()), (d("0.05"), "treaty"));
        let no_treaty = TaxFacts {
            treaty_rate: None,
            ..fr
        };
        assert_eq!(withholding_rate(&rules, &no_treaty, 250).rate, d("0.30"));
    }

    #[test]
    fn decisions_carry_small_and_negative_balances() {
        let rule = CurrencyRule {
            minimum: d("50"),
            fee_below: d("100"),
            fee: d("2.50"),
        };
        assert!(matches!(
            decide(d("-5"), usd(), &rule, Decimal::ZERO),
            Decision::Carry { .. }
        ));
        assert!(matches!(
            decide(d("49.99"), usd(), &rule, Decimal::ZERO),
            Decision::Carry { .. }
        ));
        assert_eq!(
            decide(d("60"), usd(), &rule, d("0.24")),
            Decision::Pay(Amounts {
                gross: d("60.00"),
                withholding: d("14.40"),
                fee: d("2.50"),
                net: d("43.10"),
            })
        );
        let Decision::Pay(a) = decide(d("100"), usd(), &rule, d("0.24")) else {
            panic!("pays")
        };
        assert_eq!((a.fee, a.net), (d("0.00"), d("76.00")));
    }

    proptest! {
        #[test]
        fn amounts_add_up_and_never_exceed_the_balance(
            cents in -1_000_000i64..100_000_000,
            minimum_cents in 0i64..100_000,
            fee_cents in 0i64..5_000,
            rate_bp in 0u32..=10_000,
        ) {
            let balance = Decimal::new(cents, 2);
            let rule = CurrencyRule {
                minimum: Decimal::new(minimum_cents.max(fee_cents + 1), 2),
                fee_below: Decimal::new(minimum_cents * 3, 2),
                fee: Decimal::new(fee_cents, 2),
            };
            let rate = Decimal::new(i64::from(rate_bp), 4);
            match decide(balance, usd(), &rule, rate) {
                Decision::Pay(a) => {
                    prop_assert!(a.gross <= balance);
                    prop_assert!(a.gross >= rule.minimum);
                    prop_assert_eq!(a.gross - a.withholding - a.fee, a.net);
                    prop_assert!(a.withholding >= Decimal::ZERO && a.fee >= Decimal::ZERO);
                    prop_assert!(a.net > Decimal::ZERO);
                    prop_assert!(a.withholding <= a.gross * rate);
                    prop_assert!(a.gross * rate - a.withholding < Decimal::new(1, 2));
                    for v in [a.gross, a.withholding, a.fee, a.net] {
                        prop_assert_eq!(v.scale(), 2);
                    }
                }
                Decision::Carry { .. } => {
                    prop_assert!(balance < rule.minimum || balance <= Decimal::ZERO
                        || balance * (Decimal::ONE - rate) < Decimal::new(2, 2) + rule.fee);
                }
            }
        }
    }
}
