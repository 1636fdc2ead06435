//! Linear attribution: every eligible touchpoint earns an equal share; a partner with
//! several touchpoints earns the sum of theirs.

use accrue_plugin_sdk::prelude::*;

/// The linear model.
pub struct Linear;

impl AttributionRule for Linear {
    fn attribute(
        config: &Config,
        conversion: &Conversion,
        touchpoints: &[Touchpoint],
    ) -> Result<Vec<PartnerWeight>, RuleError> {
        let kept = eligible(config, conversion, touchpoints)?;
        normalize_weights(kept.iter().map(|t| (t.partner_id.as_str(), Decimal::ONE)))
    }
}

accrue_plugin_sdk::export_attribution!(Linear);

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::attribution::testing::*;

    #[test]
    fn equal_shares_that_add_up_per_partner() {
        let tps = [
            touch("a", "email", 3),
            touch("b", "social", 2),
            touch("a", "search", 1),
        ];
        let w = Linear::attribute(&Config::default(), &conversion(), &tps).expect("ok");
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].partner_id, "a");
        assert_eq!(w[0].weight, dec("0.666666666666666667"));
        assert_eq!(w[1].weight, dec("0.333333333333333333"));
        assert_eq!(w.iter().map(|p| p.weight).sum::<Decimal>(), Decimal::ONE);
    }

    #[test]
    fn no_eligible_touchpoint_is_empty() {
        let tps = [touch("a", "email", -2)];
        assert!(
            Linear::attribute(&Config::default(), &conversion(), &tps)
                .expect("ok")
                .is_empty()
        );
    }
}
