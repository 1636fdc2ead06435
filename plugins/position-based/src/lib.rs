//! Position-based (U-shaped) attribution: the first and last eligible touchpoints earn
//! `first` and `last` (0.4 each by default), the touchpoints between share the rest
//! equally. One touchpoint earns everything; two split 50/50.

use accrue_plugin_sdk::prelude::*;

/// The position-based model.
pub struct PositionBased;

impl AttributionRule for PositionBased {
    fn attribute(
        config: &Config,
        conversion: &Conversion,
        touchpoints: &[Touchpoint],
    ) -> Result<Vec<PartnerWeight>, RuleError> {
        let first = config.decimal("first", dec("0.4"))?;
        let last = config.decimal("last", dec("0.4"))?;
        if first < Decimal::ZERO || last < Decimal::ZERO || first + last > Decimal::ONE {
            return Err(RuleError::InvalidInput(format!(
                "first ({first}) and last ({last}) must be ≥ 0 and add up to at most 1"
            )));
        }
        let kept = eligible(config, conversion, touchpoints)?;
        let n = kept.len();
        let scores: Vec<(&str, Decimal)> = match n {
            0 => Vec::new(),
            1 | 2 => kept
                .iter()
                .map(|t| (t.partner_id.as_str(), Decimal::ONE))
                .collect(),
            _ => {
                let middle = (Decimal::ONE - first - last) / Decimal::from(n - 2);
                kept.iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let w = if i == 0 {
                            first
                        } else if i == n - 1 {
                            last
                        } else {
                            middle
                        };
                        (t.partner_id.as_str(), w)
                    })
                    .collect()
            }
        };
        normalize_weights(scores)
    }
}

accrue_plugin_sdk::export_attribution!(PositionBased);

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::attribution::testing::*;

    fn weights(config: &str, tps: &[Touchpoint]) -> Vec<(String, Decimal)> {
        let config = Config::parse(config).expect("config");
        PositionBased::attribute(&config, &conversion(), tps)
            .expect("ok")
            .into_iter()
            .map(|w| (w.partner_id, w.weight))
            .collect()
    }

    #[test]
    fn forty_twenty_forty() {
        let tps = [
            touch("a", "email", 5),
            touch("b", "social", 4),
            touch("c", "x", 3),
            touch("d", "x", 1),
        ];
        let w = weights("{}", &tps);
        assert_eq!(w[0], ("a".into(), dec("0.4")));
        assert_eq!(w[1], ("b".into(), dec("0.1")));
        assert_eq!(w[2], ("c".into(), dec("0.1")));
        assert_eq!(w[3], ("d".into(), dec("0.4")));
    }

    #[test]
    fn one_gets_all_two_split_evenly() {
        assert_eq!(
            weights("{}", &[touch("a", "e", 1)]),
            vec![("a".into(), Decimal::ONE)]
        );
        let two = weights("{}", &[touch("a", "e", 2), touch("b", "e", 1)]);
        assert_eq!(two[0].1, dec("0.5"));
        assert_eq!(two[1].1, dec("0.5"));
    }

    #[test]
    fn configurable_and_validated() {
        let tps = [touch("a", "e", 3), touch("b", "e", 2), touch("c", "e", 1)];
        let w = weights(r#"{"first": "0.3", "last": 0.5}"#, &tps);
        assert_eq!(w[0].1, dec("0.3"));
        assert_eq!(w[1].1, dec("0.2"));
        assert_eq!(w[2].1, dec("0.5"));
        let bad = Config::parse(r#"{"first": "0.7", "last": "0.7"}"#).expect("json");
        assert!(PositionBased::attribute(&bad, &conversion(), &tps).is_err());
    }

    #[test]
    fn same_partner_at_both_ends_adds_up() {
        let tps = [touch("a", "e", 3), touch("b", "e", 2), touch("a", "e", 1)];
        let w = weights("{}", &tps);
        assert_eq!(w, vec![("a".into(), dec("0.8")), ("b".into(), dec("0.2"))]);
    }
}
