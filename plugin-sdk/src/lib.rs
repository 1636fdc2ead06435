//! The Accrue plug-in SDK.
//!
//! A plug-in is a crate of type `cdylib` that depends on this SDK with exactly one of the
//! features `attribution`, `bonus` or `geo-rate`, implements the matching trait
//! ([`AttributionRule`], [`BonusRule`], [`GeoRateRule`]) on a unit struct, and names it in
//! one export macro line:
//!
//! ```ignore
//! use accrue_plugin_sdk::prelude::*;
//!
//! struct FirstTouch;
//! impl AttributionRule for FirstTouch {
//!     fn attribute(config: &Config, conversion: &Conversion, touchpoints: &[Touchpoint])
//!         -> Result<Vec<PartnerWeight>, RuleError> { /* ... */ }
//! }
//! accrue_plugin_sdk::export_attribution!(FirstTouch);
//! ```
//!
//! The SDK hides wit-bindgen: rules see plain Rust types with [`Decimal`] for every amount,
//! rate and weight, so they can be unit-tested natively with `cargo test`. The export macro
//! expands only on `wasm32`, records the SDK's WIT version in the `accrue:sdk-wit-version`
//! custom section (the host checks it before instantiating), and installs a panic hook that
//! sends the panic message through the host's `log` so authors see why a call trapped.

pub mod alloc;
pub mod attribution;
pub mod config;
pub mod decimal;
pub mod log;
pub mod rules;
pub mod time;
pub mod types;
pub mod weights;

#[doc(hidden)]
pub mod __private;

pub use config::Config;
pub use rules::{AttributionRule, BonusRule, GeoRateRule};
pub use rust_decimal::{self, Decimal};
pub use types::*;

/// Every plug-in built on the SDK allocates with [`alloc::Bump`] (see its module for why).
#[cfg(all(target_arch = "wasm32", feature = "bump-alloc"))]
#[global_allocator]
static ALLOCATOR: alloc::Bump = alloc::Bump::new();

/// The version of the `accrue:rules` WIT package this SDK implements.
pub const WIT_VERSION: &str = "1.0.0";

/// Everything a rule author usually needs, in one `use`.
pub mod prelude {
    pub use crate::attribution::eligible;
    pub use crate::config::Config;
    pub use crate::decimal::{dec, parse_decimal};
    pub use crate::rules::{AttributionRule, BonusRule, GeoRateRule};
    pub use crate::time::{DAY_MS, HOUR_MS};
    pub use crate::types::*;
    pub use crate::weights::normalize_weights;
    pub use rust_decimal::Decimal;
}
