//! Host bindings generated from `wit/` for the `host-view` world (every hook at once).
//! The runtime loads only the one export a given component has.

#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "accrue:rules/host-view",
    // `log` may trap: a plug-in that floods the log is stopped there.
    imports: { default: trappable },
});

// `self::`: the crate is also named `accrue`, and rustdoc sees both.
pub use self::accrue::rules::types::{
    Decimal as WitDecimal, KeyValue as WitKeyValue, LogLevel, RuleError as WitRuleError,
};
pub use self::exports::accrue::rules::attribution as wit_attribution;
pub use self::exports::accrue::rules::geo_rate as wit_geo_rate;
pub use self::exports::accrue::rules::tier_bonus as wit_bonus;
