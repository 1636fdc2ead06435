//! Geographic rates: per-country (or per-region) multipliers or overriding rates.
//!
//! Config:
//! - `overrides`: code → rate that replaces the base rate (e.g. `{"BR": "0.08"}`);
//! - `multipliers`: code → factor on the base rate (e.g. `{"IN": "0.5", "US-CA": "1.2"}`);
//! - `default_multiplier`: for unlisted or unknown countries (default 1: unchanged).
//!
//! A code is an ISO 3166-2 region ("US-CA") or an ISO 3166-1 country ("US"). The most
//! specific match wins: region override, region multiplier, country override, country
//! multiplier, then the default.

use accrue_plugin_sdk::prelude::*;

/// The geographic rate rule.
pub struct GeoRates;

impl GeoRateRule for GeoRates {
    fn adjust(config: &Config, input: &RateInput) -> Result<RateDecision, RuleError> {
        let overrides = config.decimal_map("overrides")?;
        let multipliers = config.decimal_map("multipliers")?;
        let default = config.decimal("default_multiplier", Decimal::ONE)?;
        if let Some((code, bad)) = overrides
            .iter()
            .find(|(_, r)| *r < Decimal::ZERO || *r > Decimal::ONE)
        {
            return Err(RuleError::InvalidInput(format!(
                "override for {code} must be in 0..=1, got {bad}"
            )));
        }
        if let Some((code, bad)) = multipliers.iter().find(|(_, m)| *m < Decimal::ZERO) {
            return Err(RuleError::InvalidInput(format!(
                "multiplier for {code} is negative: {bad}"
            )));
        }
        if default < Decimal::ZERO {
            return Err(RuleError::InvalidInput(format!(
                "default_multiplier is negative: {default}"
            )));
        }
        let find = |table: &[(String, Decimal)], code: &Option<String>| {
            code.as_deref().and_then(|c| {
                table
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(c))
                    .map(|(k, v)| (k.clone(), *v))
            })
        };
        let region = &input.conversion_region;
        let country = &input.conversion_country;
        if let Some((code, rate)) = find(&overrides, region) {
            return Ok(set(rate, &code));
        }
        if let Some((code, m)) = find(&multipliers, region) {
            return Ok(multiply(m, &code));
        }
        if let Some((code, rate)) = find(&overrides, country) {
            return Ok(set(rate, &code));
        }
        if let Some((code, m)) = find(&multipliers, country) {
            return Ok(multiply(m, &code));
        }
        if default == Decimal::ONE {
            return Ok(RateDecision {
                adjustment: RateAdjustment::Unchanged,
                reason: "no geographic rule".into(),
            });
        }
        Ok(RateDecision {
            adjustment: RateAdjustment::Multiplier(default),
            reason: format!("default multiplier {default}"),
        })
    }
}

fn set(rate: Decimal, code: &str) -> RateDecision {
    RateDecision {
        adjustment: RateAdjustment::SetRate(rate),
        reason: format!("rate for {code} is {rate}"),
    }
}

fn multiply(m: Decimal, code: &str) -> RateDecision {
    RateDecision {
        adjustment: RateAdjustment::Multiplier(m),
        reason: format!("multiplier for {code} is {m}"),
    }
}

accrue_plugin_sdk::export_geo_rate!(GeoRates);

#[cfg(test)]
mod tests {
    use super::*;

    fn input(country: Option<&str>, region: Option<&str>) -> RateInput {
        RateInput {
            conversion_country: country.map(Into::into),
            conversion_region: region.map(Into::into),
            partner_tier: "starter".into(),
            partner_country: None,
            base_rate: dec("0.05"),
        }
    }

    const TABLE: &str = r#"{"overrides": {"BR": "0.08"}, "multipliers": {"IN": "0.5", "US-CA": "1.2", "US": 1}, "default_multiplier": "0.9"}"#;

    #[test]
    fn most_specific_match_wins() {
        let c = Config::parse(TABLE).expect("json");
        let adj = |country, region| {
            GeoRates::adjust(&c, &input(country, region))
                .expect("ok")
                .adjustment
        };
        assert_eq!(
            adj(Some("US"), Some("US-CA")),
            RateAdjustment::Multiplier(dec("1.2"))
        );
        assert_eq!(
            adj(Some("US"), Some("US-NY")),
            RateAdjustment::Multiplier(dec("1"))
        );
        assert_eq!(adj(Some("BR"), None), RateAdjustment::SetRate(dec("0.08")));
        assert_eq!(
            adj(Some("in"), None),
            RateAdjustment::Multiplier(dec("0.5"))
        );
        assert_eq!(
            adj(Some("FR"), None),
            RateAdjustment::Multiplier(dec("0.9"))
        );
        assert_eq!(adj(None, None), RateAdjustment::Multiplier(dec("0.9")));
    }

    #[test]
    fn empty_config_is_unchanged_and_bad_tables_are_rejected() {
        let d = GeoRates::adjust(&Config::default(), &input(Some("US"), None)).expect("ok");
        assert_eq!(d.adjustment, RateAdjustment::Unchanged);
        let bad = Config::parse(r#"{"overrides": {"BR": "1.5"}}"#).expect("json");
        assert!(GeoRates::adjust(&bad, &input(Some("BR"), None)).is_err());
        let neg = Config::parse(r#"{"multipliers": {"BR": "-1"}}"#).expect("json");
        assert!(GeoRates::adjust(&neg, &input(Some("BR"), None)).is_err());
    }
}
