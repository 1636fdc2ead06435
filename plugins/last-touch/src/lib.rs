//! Last-touch attribution: the latest eligible touchpoint gets all the credit.
//! Touchpoints at the same instant keep the client's order, so the last sent wins.

use accrue_plugin_sdk::prelude::*;

/// The last-touch model.
pub struct LastTouch;

impl AttributionRule for LastTouch {
    fn attribute(
        config: &Config,
        conversion: &Conversion,
        touchpoints: &[Touchpoint],
    ) -> Result<Vec<PartnerWeight>, RuleError> {
        let kept = eligible(config, conversion, touchpoints)?;
        normalize_weights(kept.last().map(|t| (t.partner_id.as_str(), Decimal::ONE)))
    }
}

accrue_plugin_sdk::export_attribution!(LastTouch);

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::attribution::testing::*;

    #[test]
    fn latest_eligible_wins() {
        let tps = [
            touch("a", "email", 3),
            touch("late", "social", -1),
            touch("c", "search", 10),
        ];
        let w = LastTouch::attribute(&Config::default(), &conversion(), &tps).expect("ok");
        assert_eq!(
            w,
            vec![PartnerWeight {
                partner_id: "a".into(),
                weight: Decimal::ONE
            }]
        );
    }

    #[test]
    fn tie_keeps_input_order_and_stale_only_is_empty() {
        let tps = [touch("x", "email", 2), touch("y", "email", 2)];
        let w = LastTouch::attribute(&Config::default(), &conversion(), &tps).expect("ok");
        assert_eq!(w[0].partner_id, "y");
        let stale = [touch("x", "email", 31)];
        assert!(
            LastTouch::attribute(&Config::default(), &conversion(), &stale)
                .expect("ok")
                .is_empty()
        );
    }
}
