//! The JSON shapes of the API: what requests may hold (checked while they are parsed, with
//! the same rules the API document publishes) and what answers hold. snake_case names;
//! amounts and rates as decimal strings, never JSON numbers; instants as RFC 3339.
//!
//! Request types use the grammar newtypes of [`decimal`], [`text`] and [`time`], so a value
//! that breaks a rule is refused with a 422 naming the field before any engine code runs.
//! Answer types are this module's own (not the engine's), converted from engine results,
//! so the document describes exactly what is serialised.

pub mod analytics;
pub mod conversions;
pub mod decimal;
pub mod events;
pub mod fraud;
pub mod keys;
pub mod ledger;
pub mod number;
pub mod partners;
pub mod payout_profiles;
pub mod payouts;
pub mod plugins;
pub mod programs;
pub mod reports;
pub mod text;
pub mod time;

pub use decimal::{Amount, DecimalAnswer, FxRateText, Rate};
pub use number::{Days, EntryId};
pub use text::{Id, Key, Text};
pub use time::{Instant, format_time, parse_instant};

use std::cell::RefCell;

thread_local! {
    /// The last value a grammar newtype refused, with its problem kind: serde only carries
    /// a message, and the API answers these with their own status and type.
    static REJECTED: RefCell<Option<(&'static str, String)>> = const { RefCell::new(None) };
}

/// A refusal by one of the grammar newtypes, as a serde error (see [`take_rejection`]).
pub(crate) fn reject<E: serde::de::Error>(kind: &'static str, message: String) -> E {
    REJECTED.with(|r| *r.borrow_mut() = Some((kind, message.clone())));
    E::custom(message)
}

/// Forget any earlier refusal (before parsing a request).
pub(crate) fn clear_rejection() {
    REJECTED.with(|r| *r.borrow_mut() = None);
}

/// The kind of the refusal behind a serde error with message `message`, if one of the
/// grammar newtypes made it.
pub(crate) fn take_rejection(message: &str) -> Option<&'static str> {
    REJECTED.with(|r| {
        r.borrow_mut()
            .take()
            .filter(|(_, m)| message.starts_with(m.as_str()))
            .map(|(kind, _)| kind)
    })
}

/// A list of items, the shape of every list answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Items<T> {
    /// The items.
    pub items: Vec<T>,
}

/// A page of a list, with the cursor of the next page (absent on the last).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page. Opaque.
    pub next_cursor: Option<String>,
}
