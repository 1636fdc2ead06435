//! The commission domain, as pure code: money and currencies, programs and tiers, FX,
//! the commission calculation and the ledger's vocabulary. Nothing here knows of axum,
//! sqlx or wasmtime; the engine feeds it facts and stores what it decides.

pub mod analytics;
pub mod calc;
pub mod conversion;
pub mod error;
pub mod fraud;
pub mod fx;
pub mod ledger;
pub mod money;
pub mod payout;
pub mod program;
pub mod scope;

pub use error::DomainError;
pub use money::{
    Currency, MAX_AMOUNT_MINOR, round_minor, scaled_to, split_largest_remainder, tie_key,
};
