//! First-touch attribution: the earliest eligible touchpoint gets all the credit.
//! Touchpoints at the same instant keep the client's order, so the first sent wins.

use accrue_plugin_sdk::prelude::*;

/// The first-touch model.
pub struct FirstTouch;

impl AttributionRule for FirstTouch {
    fn attribute(
        config: &Config,
        conversion: &Conversion,
        touchpoints: &[Touchpoint],
    ) -> Result<Vec<PartnerWeight>, RuleError> {
        let kept = eligible(config, conversion, touchpoints)?;
        normalize_weights(kept.first().map(|t| (t.partner_id.as_str(), Decimal::ONE)))
    }
}

accrue_plugin_sdk::export_attribution!(FirstTouch);

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::attribution::testing::*;

    #[test]
    fn earliest_eligible_wins() {
        let tps = [
            touch("a", "email", 3),
            touch("b", "social", 40),
            touch("c", "search", 10),
        ];
        let w = FirstTouch::attribute(&Config::default(), &conversion(), &tps).expect("ok");
        assert_eq!(
            w,
            vec![PartnerWeight {
                partner_id: "c".into(),
                weight: Decimal::ONE
            }]
        );
    }

    #[test]
    fn tie_keeps_input_order_and_empty_is_empty() {
        let tps = [touch("x", "email", 2), touch("y", "email", 2)];
        let w = FirstTouch::attribute(&Config::default(), &conversion(), &tps).expect("ok");
        assert_eq!(w[0].partner_id, "x");
        let none = FirstTouch::attribute(&Config::default(), &conversion(), &[]).expect("ok");
        assert!(none.is_empty());
    }
}
