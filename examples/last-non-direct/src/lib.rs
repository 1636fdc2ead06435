//! "Last non-direct touch": the kind of attribution model a white-label partner writes.
//!
//! The latest eligible touchpoint whose channel is not "direct" (or any channel listed in
//! the config's `ignore_channels`) gets all the credit. If every eligible touchpoint is
//! direct, the latest direct one gets it, so a sale is never left uncredited when someone
//! touched it. See README.md beside this file.

use accrue_plugin_sdk::prelude::*;

/// The model.
pub struct LastNonDirect;

impl AttributionRule for LastNonDirect {
    fn attribute(
        config: &Config,
        conversion: &Conversion,
        touchpoints: &[Touchpoint],
    ) -> Result<Vec<PartnerWeight>, RuleError> {
        let mut ignored = config.strings("ignore_channels")?;
        if ignored.is_empty() {
            ignored.push("direct".into());
        }
        let kept = eligible(config, conversion, touchpoints)?;
        let winner = kept
            .iter()
            .rev()
            .find(|t| !ignored.iter().any(|c| c.eq_ignore_ascii_case(&t.channel)))
            .or(kept.last());
        normalize_weights(winner.map(|t| (t.partner_id.as_str(), Decimal::ONE)))
    }
}

accrue_plugin_sdk::export_attribution!(LastNonDirect);

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::attribution::testing::*;

    fn winner(config: &str, tps: &[Touchpoint]) -> Option<String> {
        let config = Config::parse(config).expect("json");
        LastNonDirect::attribute(&config, &conversion(), tps)
            .expect("ok")
            .first()
            .map(|w| w.partner_id.clone())
    }

    #[test]
    fn skips_direct_touches() {
        let tps = [touch("a", "email", 3), touch("b", "direct", 1)];
        assert_eq!(winner("{}", &tps).as_deref(), Some("a"));
    }

    #[test]
    fn falls_back_to_direct_and_honours_the_filter() {
        assert_eq!(
            winner("{}", &[touch("b", "direct", 1)]).as_deref(),
            Some("b")
        );
        let tps = [touch("a", "email", 3), touch("b", "social", 1)];
        assert_eq!(
            winner(r#"{"ignore_channels": ["social"]}"#, &tps).as_deref(),
            Some("a")
        );
        assert_eq!(winner("{}", &[]), None);
    }
}
