//! The glue the export macros expand to. Not a public API: it changes with wit-bindgen.
//!
//! Each world's bindings are generated only when the plug-in enables that world's feature,
//! so a plug-in's component carries exactly one world's type information.

#![allow(missing_docs)]

use crate::config::Config;
use crate::decimal::{from_parts, to_parts};
use crate::types::RuleError;
use rust_decimal::Decimal;

/// The bytes of the `accrue:sdk-wit-version` custom section (must equal `WIT_VERSION`).
pub const WIT_VERSION_BYTES: [u8; 5] = *b"1.0.0";

#[cfg(feature = "attribution")]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod attribution_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "accrue:rules/attribution-rule",
        pub_export_macro: true,
        export_macro_name: "__export_attribution_world",
        default_bindings_module: "::accrue_plugin_sdk::__private::attribution_world",
    });
}

#[cfg(feature = "bonus")]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bonus_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "accrue:rules/bonus-rule",
        pub_export_macro: true,
        export_macro_name: "__export_bonus_world",
        default_bindings_module: "::accrue_plugin_sdk::__private::bonus_world",
    });
}

#[cfg(feature = "geo-rate")]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod geo_rate_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "accrue:rules/geo-rate-rule",
        pub_export_macro: true,
        export_macro_name: "__export_geo_rate_world",
        default_bindings_module: "::accrue_plugin_sdk::__private::geo_rate_world",
    });
}

/// Send one line to the host's `log` import of whichever world this plug-in exports.
#[cfg(target_arch = "wasm32")]
pub fn host_log(level: crate::log::Level, message: &str) {
    use crate::log::Level;
    #[cfg(feature = "attribution")]
    use attribution_world::accrue::rules::{host::log, types::LogLevel};
    #[cfg(all(not(feature = "attribution"), feature = "bonus"))]
    use bonus_world::accrue::rules::{host::log, types::LogLevel};
    #[cfg(all(
        not(feature = "attribution"),
        not(feature = "bonus"),
        feature = "geo-rate"
    ))]
    use geo_rate_world::accrue::rules::{host::log, types::LogLevel};
    let level = match level {
        Level::Trace => LogLevel::Trace,
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    };
    log(level, message);
}

/// Route panics through the host's log before the trap, once per instance.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            crate::log::log(
                crate::log::Level::Error,
                &format!("plug-in panicked: {info}"),
            );
        }));
    });
}

/// WIT decimal parts into a [`Decimal`].
pub fn decimal_in(mantissa: i64, scale: u8) -> Result<Decimal, RuleError> {
    from_parts(mantissa, scale)
}

/// A [`Decimal`] into WIT decimal parts.
pub fn decimal_out(value: Decimal) -> Result<(i64, u8), RuleError> {
    to_parts(value)
}

/// Parse the configuration document.
pub fn config_in(text: &str) -> Result<Config, RuleError> {
    Config::parse(text)
}

/// Generates the conversions between one world's binding types and the SDK's types.
/// Every world has its own copy of the shared `types` interface, hence the macro.
#[allow(unused_macros)]
macro_rules! shared_conversions {
    ($world:ident) => {
        pub mod conv {
            use super::super::$world::accrue::rules::types as wt;
            use crate::types::{KeyValue, RuleError};
            use rust_decimal::Decimal;

            pub fn dec_in(d: wt::Decimal) -> Result<Decimal, RuleError> {
                super::super::decimal_in(d.mantissa, d.scale)
            }
            pub fn dec_out(d: Decimal) -> Result<wt::Decimal, RuleError> {
                let (mantissa, scale) = super::super::decimal_out(d)?;
                Ok(wt::Decimal { mantissa, scale })
            }
            pub fn attrs_in(list: Vec<wt::KeyValue>) -> Vec<KeyValue> {
                list.into_iter()
                    .map(|kv| KeyValue {
                        key: kv.key,
                        value: kv.value,
                    })
                    .collect()
            }
            pub fn err_out(e: RuleError) -> wt::RuleError {
                match e {
                    RuleError::InvalidInput(m) => wt::RuleError::InvalidInput(m),
                    RuleError::Unsupported(m) => wt::RuleError::Unsupported(m),
                    RuleError::Internal(m) => wt::RuleError::Internal(m),
                }
            }
        }
    };
}

#[cfg(feature = "attribution")]
pub mod attribution_glue {
    use super::attribution_world::exports::accrue::rules::attribution as wa;
    use crate::rules::AttributionRule;
    use crate::types::*;
    shared_conversions!(attribution_world);

    /// Run rule `R` on one call's arguments.
    pub fn run<R: AttributionRule>(
        config: String,
        conversion: wa::Conversion,
        touchpoints: Vec<wa::Touchpoint>,
    ) -> Result<Vec<wa::PartnerWeight>, wa::RuleError> {
        super::install_panic_hook();
        inner::<R>(config, conversion, touchpoints).map_err(conv::err_out)
    }

    fn inner<R: AttributionRule>(
        config: String,
        c: wa::Conversion,
        touchpoints: Vec<wa::Touchpoint>,
    ) -> Result<Vec<wa::PartnerWeight>, RuleError> {
        let config = super::config_in(&config)?;
        let conversion = Conversion {
            id: c.id,
            amount: Money {
                amount: conv::dec_in(c.amount.amount)?,
                currency: c.amount.currency,
            },
            occurred_at_ms: c.occurred_at_ms,
            customer_id: c.customer_id,
            country: c.country,
            region: c.region,
            new_customer: c.new_customer,
            attributes: conv::attrs_in(c.attributes),
        };
        let touchpoints: Vec<Touchpoint> = touchpoints
            .into_iter()
            .map(|t| Touchpoint {
                partner_id: t.partner_id,
                channel: t.channel,
                occurred_at_ms: t.occurred_at_ms,
                campaign: t.campaign,
                attributes: conv::attrs_in(t.attributes),
            })
            .collect();
        R::attribute(&config, &conversion, &touchpoints)?
            .into_iter()
            .map(|w| {
                Ok(wa::PartnerWeight {
                    partner_id: w.partner_id,
                    weight: conv::dec_out(w.weight)?,
                })
            })
            .collect()
    }
}

#[cfg(feature = "bonus")]
pub mod bonus_glue {
    use super::bonus_world::exports::accrue::rules::tier_bonus as wb;
    use crate::rules::BonusRule;
    use crate::types::*;
    shared_conversions!(bonus_world);

    /// Run rule `R` on one call's arguments.
    pub fn run<R: BonusRule>(
        config: String,
        stats: wb::PeriodStats,
    ) -> Result<wb::BonusDecision, wb::RuleError> {
        super::install_panic_hook();
        inner::<R>(config, stats).map_err(conv::err_out)
    }

    fn totals_in(t: wb::PeriodTotals) -> Result<PeriodTotals, RuleError> {
        Ok(PeriodTotals {
            conversions: t.conversions,
            revenue: conv::dec_in(t.revenue)?,
            commissions: conv::dec_in(t.commissions)?,
        })
    }

    fn inner<R: BonusRule>(
        config: String,
        s: wb::PeriodStats,
    ) -> Result<wb::BonusDecision, RuleError> {
        let config = super::config_in(&config)?;
        let stats = PeriodStats {
            partner_id: s.partner_id,
            tier: s.tier,
            period_start_ms: s.period_start_ms,
            period_end_ms: s.period_end_ms,
            currency: s.currency,
            current: totals_in(s.current)?,
            previous: s.previous.map(totals_in).transpose()?,
            attributes: conv::attrs_in(s.attributes),
        };
        let decision = R::evaluate(&config, &stats)?;
        let bonus = match decision.bonus {
            Bonus::None => wb::Bonus::None,
            Bonus::Amount(a) => wb::Bonus::Amount(conv::dec_out(a)?),
            Bonus::Rate(r) => wb::Bonus::Rate(conv::dec_out(r)?),
        };
        Ok(wb::BonusDecision {
            bonus,
            reason: decision.reason,
        })
    }
}

#[cfg(feature = "geo-rate")]
pub mod geo_rate_glue {
    use super::geo_rate_world::exports::accrue::rules::geo_rate as wg;
    use crate::rules::GeoRateRule;
    use crate::types::*;
    shared_conversions!(geo_rate_world);

    /// Run rule `R` on one call's arguments.
    pub fn run<R: GeoRateRule>(
        config: String,
        input: wg::RateInput,
    ) -> Result<wg::RateDecision, wg::RuleError> {
        super::install_panic_hook();
        inner::<R>(config, input).map_err(conv::err_out)
    }

    fn inner<R: GeoRateRule>(
        config: String,
        i: wg::RateInput,
    ) -> Result<wg::RateDecision, RuleError> {
        let config = super::config_in(&config)?;
        let input = RateInput {
            conversion_country: i.conversion_country,
            conversion_region: i.conversion_region,
            partner_tier: i.partner_tier,
            partner_country: i.partner_country,
            base_rate: conv::dec_in(i.base_rate)?,
        };
        let decision = R::adjust(&config, &input)?;
        let adjustment = match decision.adjustment {
            RateAdjustment::Unchanged => wg::RateAdjustment::Unchanged,
            RateAdjustment::Multiplier(m) => wg::RateAdjustment::Multiplier(conv::dec_out(m)?),
            RateAdjustment::SetRate(r) => wg::RateAdjustment::SetRate(conv::dec_out(r)?),
        };
        Ok(wg::RateDecision {
            adjustment,
            reason: decision.reason,
        })
    }
}

/// Expands to the custom section that records the SDK's WIT version in the component.
#[macro_export]
#[doc(hidden)]
macro_rules! __sdk_version_section {
    () => {
        #[unsafe(link_section = "accrue:sdk-wit-version")]
        #[used]
        static __ACCRUE_SDK_WIT_VERSION: [u8; 5] = $crate::__private::WIT_VERSION_BYTES;
    };
}

/// Export an [`AttributionRule`](crate::AttributionRule) as this plug-in's component
/// (needs the SDK feature `attribution`). Expands to nothing outside `wasm32`.
#[macro_export]
macro_rules! export_attribution {
    ($rule:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::attribution_world::exports::accrue::rules::attribution as __wa;
            struct __AccrueExport;
            impl __wa::Guest for __AccrueExport {
                fn attribute(
                    config: ::std::string::String,
                    conversion: __wa::Conversion,
                    touchpoints: ::std::vec::Vec<__wa::Touchpoint>,
                ) -> ::std::result::Result<::std::vec::Vec<__wa::PartnerWeight>, __wa::RuleError>
                {
                    $crate::__private::attribution_glue::run::<$rule>(
                        config,
                        conversion,
                        touchpoints,
                    )
                }
            }
            $crate::__private::attribution_world::__export_attribution_world!(__AccrueExport);
            $crate::__sdk_version_section!();
        };
    };
}

/// Export a [`BonusRule`](crate::BonusRule) (needs the SDK feature `bonus`).
#[macro_export]
macro_rules! export_bonus {
    ($rule:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::bonus_world::exports::accrue::rules::tier_bonus as __wb;
            struct __AccrueExport;
            impl __wb::Guest for __AccrueExport {
                fn evaluate(
                    config: ::std::string::String,
                    stats: __wb::PeriodStats,
                ) -> ::std::result::Result<__wb::BonusDecision, __wb::RuleError> {
                    $crate::__private::bonus_glue::run::<$rule>(config, stats)
                }
            }
            $crate::__private::bonus_world::__export_bonus_world!(__AccrueExport);
            $crate::__sdk_version_section!();
        };
    };
}

/// Export a [`GeoRateRule`](crate::GeoRateRule) (needs the SDK feature `geo-rate`).
#[macro_export]
macro_rules! export_geo_rate {
    ($rule:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::geo_rate_world::exports::accrue::rules::geo_rate as __wg;
            struct __AccrueExport;
            impl __wg::Guest for __AccrueExport {
                fn adjust(
                    config: ::std::string::String,
                    input: __wg::RateInput,
                ) -> ::std::result::Result<__wg::RateDecision, __wg::RuleError> {
                    $crate::__private::geo_rate_glue::run::<$rule>(config, input)
                }
            }
            $crate::__private::geo_rate_world::__export_geo_rate_world!(__AccrueExport);
            $crate::__sdk_version_section!();
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_section_matches_the_wit_version() {
        assert_eq!(&super::WIT_VERSION_BYTES, crate::WIT_VERSION.as_bytes());
    }
}
