//! Why a writer refused its input: each refusal a distinct variant with a stable
//! [`WriteError::kind`] slug, naming the item (by its id) or the field at fault.
//!
//! Writers validate everything before writing a byte, so a refused batch leaves nothing
//! half-written behind.

use crate::accounts::AccountError;

/// Why a payout file could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A file with no item: banks reject them, and it is never what the caller meant.
    #[error("the file has no items")]
    Empty,
    /// A currency code ISO 4217 does not list (or one without minor units, such as XAU).
    #[error("item {item}: unknown currency {currency:?}")]
    UnknownCurrency {
        /// The item's id.
        item: String,
        /// The code given.
        currency: String,
    },
    /// A currency this format cannot carry (a non-USD item in a NACHA file).
    #[error("item {item}: a {format} file cannot carry {currency}")]
    CurrencyNotAllowed {
        /// The item's id.
        item: String,
        /// The code given.
        currency: String,
        /// The file format.
        format: &'static str,
    },
    /// Zero or a negative amount: a payout file only carries credits.
    #[error("item {item}: the amount must be greater than zero, got {amount}")]
    AmountNotPositive {
        /// The item's id.
        item: String,
        /// The amount given.
        amount: String,
    },
    /// More decimals than the currency has (10.001 EUR).
    #[error("item {item}: {amount} has more decimals than {currency} has ({minor_units})")]
    AmountTooPrecise {
        /// The item's id.
        item: String,
        /// The amount given.
        amount: String,
        /// Its currency.
        currency: String,
        /// The currency's minor units.
        minor_units: u32,
    },
    /// An amount (or a total) wider than the format's amount field.
    #[error("{item}: {amount} is more than a {format} file can carry (at most {max})")]
    AmountTooLarge {
        /// The item's id, or which total.
        item: String,
        /// The amount.
        amount: String,
        /// The largest amount the field holds.
        max: String,
        /// The file format.
        format: &'static str,
    },
    /// The item's payout destination failed validation.
    #[error("item {item}: {source}")]
    Account {
        /// The item's id.
        item: String,
        /// What is wrong with the destination.
        #[source]
        source: AccountError,
    },
    /// A destination this format cannot pay (a PayPal item in a NACHA file).
    #[error("item {item}: a {format} file cannot pay to a {method} destination")]
    MethodNotAllowed {
        /// The item's id.
        item: String,
        /// The destination's method.
        method: &'static str,
        /// The file format.
        format: &'static str,
    },
    /// Two items with the same id: the id is what bank feedback is matched on.
    #[error("item id {id:?} appears more than once")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// Anything else wrong with a field, with the field at fault.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault (`message_id`, `items[3].id` …).
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl WriteError {
    /// A stable slug for the failure; for a destination that failed validation, the
    /// [`AccountError::kind`] of that failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "batch-empty",
            Self::UnknownCurrency { .. } => "currency-unknown",
            Self::CurrencyNotAllowed { .. } => "currency-not-allowed",
            Self::AmountNotPositive { .. } => "amount-not-positive",
            Self::AmountTooPrecise { .. } => "amount-too-precise",
            Self::AmountTooLarge { .. } => "amount-too-large",
            Self::Account { source, .. } => source.kind(),
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::DuplicateId { .. } => "duplicate-item-id",
            Self::Invalid { .. } => "invalid-input",
        }
    }

    /// Shorthand for [`WriteError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
