//! Helpers every attribution model shares: which touchpoints are eligible, in what order.

use crate::config::Config;
use crate::time::DAY_MS;
use crate::types::{Conversion, RuleError, Touchpoint};

/// The lookback window when the configuration sets none: 30 days.
pub const DEFAULT_LOOKBACK_DAYS: i64 = 30;

/// The touchpoints a model may credit, oldest first.
///
/// A touchpoint after the conversion, or older than the lookback window (config key
/// `lookback_days`, default [`DEFAULT_LOOKBACK_DAYS`]), is ignored. The sort is stable, so
/// touchpoints at the same instant keep the order the client sent them in.
pub fn eligible<'a>(
    config: &Config,
    conversion: &Conversion,
    touchpoints: &'a [Touchpoint],
) -> Result<Vec<&'a Touchpoint>, RuleError> {
    let lookback_days = config.i64("lookback_days", DEFAULT_LOOKBACK_DAYS)?;
    if lookback_days < 0 {
        return Err(RuleError::InvalidInput(format!(
            "lookback_days must not be negative, got {lookback_days}"
        )));
    }
    let window_ms = lookback_days.saturating_mul(DAY_MS);
    let earliest = conversion.occurred_at_ms.saturating_sub(window_ms);
    let mut kept: Vec<&Touchpoint> = touchpoints
        .iter()
        .filter(|t| t.occurred_at_ms <= conversion.occurred_at_ms && t.occurred_at_ms >= earliest)
        .collect();
    kept.sort_by_key(|t| t.occurred_at_ms);
    Ok(kept)
}

/// Test helpers for attribution models: build conversions and touchpoints tersely.
pub mod testing {
    use crate::decimal::dec;
    use crate::time::DAY_MS;
    use crate::types::{Conversion, Money, Touchpoint};

    /// The conversion time used by [`conversion`]: 2026-01-31T00:00:00Z.
    pub const NOW_MS: i64 = 1_769_817_600_000;

    /// A 100.00 USD conversion at [`NOW_MS`].
    pub fn conversion() -> Conversion {
        Conversion {
            id: "c1".into(),
            amount: Money {
                amount: dec("100.00"),
                currency: "USD".into(),
            },
            occurred_at_ms: NOW_MS,
            customer_id: None,
            country: Some("US".into()),
            region: None,
            new_customer: true,
            attributes: Vec::new(),
        }
    }

    /// A touchpoint of `partner` on `channel`, `days_before` days before [`NOW_MS`].
    pub fn touch(partner: &str, channel: &str, days_before: i64) -> Touchpoint {
        Touchpoint {
            partner_id: partner.into(),
            channel: channel.into(),
            occurred_at_ms: NOW_MS - days_before * DAY_MS,
            campaign: None,
            attributes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn drops_future_and_stale_touchpoints_and_keeps_ties_in_order() {
        let c = conversion();
        let tps = vec![
            touch("late", "email", -1),
            touch("old", "email", 31),
            touch("b", "email", 2),
            touch("a", "email", 5),
            touch("c", "email", 2),
            touch("edge", "email", 30),
        ];
        let kept = eligible(&Config::default(), &c, &tps).expect("ok");
        let ids: Vec<&str> = kept.iter().map(|t| t.partner_id.as_str()).collect();
        assert_eq!(ids, ["edge", "a", "b", "c"]);
        let short = Config::parse(r#"{"lookback_days": 3}"#).expect("ok");
        assert_eq!(eligible(&short, &c, &tps).expect("ok").len(), 2);
        let bad = Config::parse(r#"{"lookback_days": -3}"#).expect("ok");
        assert!(eligible(&bad, &c, &tps).is_err());
    }
}
