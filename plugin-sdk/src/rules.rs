//! The traits a plug-in implements, one per hook.

use crate::config::Config;
use crate::types::*;

/// An attribution model: splits a conversion's credit among partners.
pub trait AttributionRule {
    /// Return each credited partner once with a weight in 0..=1 of at most 18 decimal
    /// places, the weights summing to 1 within 10^-12 (use
    /// [`crate::weights::normalize_weights`]), or an empty list if nobody is eligible.
    fn attribute(
        config: &Config,
        conversion: &Conversion,
        touchpoints: &[Touchpoint],
    ) -> Result<Vec<PartnerWeight>, RuleError>;
}

/// A tier bonus rule: decides a partner's bonus for a closed period.
pub trait BonusRule {
    /// Decide the bonus.
    fn evaluate(config: &Config, stats: &PeriodStats) -> Result<BonusDecision, RuleError>;
}

/// A geographic rate rule: adjusts a rate for where the sale happened.
pub trait GeoRateRule {
    /// Decide the adjustment.
    fn adjust(config: &Config, input: &RateInput) -> Result<RateDecision, RuleError>;
}
